"""Reading an import file: the upload streamed to disk, then CSV or XLSX rows.

The upload (multipart/form-data, field `file`) goes straight to a file on disk as it arrives,
within a size limit; nothing holds the whole file in memory. XLSX workbooks (first sheet) are
converted to a CSV file once, so that counting and processing read one format.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from evaluation.exceptions import InvalidFields, UnsupportedUpload, UploadTooLarge

REQUIRED_COLUMNS = (
    "number",
    "level",
    "occupation_code",
    "occupation_name",
    "holder_id_number",
    "holder_name",
    "issued_on",
    "employer_uscc",
    "mode",
    "town",
    "body_code",
)
OPTIONAL_COLUMNS = ("occupation_edition",)
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls


@dataclass(frozen=True)
class Upload:
    """An uploaded file on disk."""

    path: Path
    size: int
    sha256: str
    file_format: str


class _FilePart:
    """Multipart callbacks writing the `file` part to an open file, within a size limit."""

    def __init__(self, out: BinaryIO, max_bytes: int) -> None:
        self.out = out
        self.max_bytes = max_bytes
        self.size = 0
        self.digest = hashlib.sha256()
        self.header_name = b""
        self.header_value = b""
        self.disposition = b""
        self.in_file = False
        self.found = False

    def on_part_begin(self) -> None:
        self.disposition = b""
        self.in_file = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.in_file = options.get(b"name") == b"file" and not self.found
        if self.in_file:
            self.found = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.in_file:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise UploadTooLarge(f"The file exceeds {self.max_bytes} bytes")
        self.digest.update(chunk)
        self.out.write(chunk)

    def on_part_end(self) -> None:
        self.in_file = False


async def receive_upload(
    *, content_type: str, stream: AsyncIterator[bytes], directory: Path, max_bytes: int
) -> Upload:
    """Stream the `file` part of a multipart upload to a new file in `directory`."""
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UnsupportedUpload("Send multipart/form-data with the file in the field `file`")
    path = directory / f"upload-{uuid.uuid4().hex}"
    try:
        with path.open("wb") as out:
            part = _FilePart(out, max_bytes)
            parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": part.on_part_begin,
                    "on_header_field": part.on_header_field,
                    "on_header_value": part.on_header_value,
                    "on_header_end": part.on_header_end,
                    "on_headers_finished": part.on_headers_finished,
                    "on_part_data": part.on_part_data,
                    "on_part_end": part.on_part_end,
                },
            )
            async for chunk in stream:
                parser.write(chunk)
            parser.finalize()
        if not part.found or part.size == 0:
            raise InvalidFields(
                [{"field": "file", "reason": "missing", "message": "Upload a non-empty `file`"}]
            )
        return Upload(
            path=path, size=part.size, sha256=part.digest.hexdigest(), file_format=sniff(path)
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def sniff(path: Path) -> str:
    """`xlsx` (a zip) or `csv` (UTF-8 text); anything else is refused."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    if head.startswith(OLE_MAGIC) or b"\x00" in head:
        raise UnsupportedUpload("Legacy .xls and other binary files are not accepted")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 4096th byte is fine; anything earlier is not UTF-8.
        if exc.start < len(head) - 4:
            raise UnsupportedUpload("A CSV file must be UTF-8") from exc
    return "csv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_to_csv(path: Path) -> Path:
    """Write the first sheet of a workbook as a UTF-8 CSV file beside it; returns its path."""
    target = path.with_suffix(".csv")
    with path.open("rb") as handle:
        workbook = _open_workbook(handle)
        try:
            sheet = workbook.worksheets[0]
            with target.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                for row in sheet.iter_rows(values_only=True):
                    writer.writerow([_cell(v) for v in row])
        finally:
            workbook.close()
    return target


def _open_workbook(handle: BinaryIO) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # not a readable workbook (a zip of something else, or corrupt)
        raise UnsupportedUpload("The file is not a readable XLSX workbook") from exc


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.reader(handle), [])
    return [h.strip().lower() for h in first]


def check_header(columns: list[str]) -> None:
    """422 when a required column is missing or a column is unknown or repeated."""
    problems = [
        {"field": name, "reason": "missing_column", "message": "A required column is missing"}
        for name in REQUIRED_COLUMNS
        if name not in columns
    ]
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    problems += [
        {"field": name[:64] or "(empty)", "reason": "unknown_column", "message": "Unknown column"}
        for name in columns
        if name not in known
    ]
    problems += [
        {"field": name, "reason": "repeated_column", "message": "The column appears twice"}
        for name in sorted({c for c in columns if columns.count(c) > 1})
    ]
    if problems:
        raise InvalidFields(problems)


def header_of(upload: Upload) -> list[str]:
    """The header row of an upload (the first sheet's first row for XLSX)."""
    if upload.file_format == "csv":
        try:
            return _header(upload.path)
        except UnicodeDecodeError as exc:
            raise UnsupportedUpload("A CSV file must be UTF-8") from exc
    with upload.path.open("rb") as handle:
        workbook = _open_workbook(handle)
        try:
            sheet = workbook.worksheets[0]
            first = next(sheet.iter_rows(max_row=1, values_only=True), ())
            return [_cell(v).strip().lower() for v in first]
        finally:
            workbook.close()


Row = tuple[int, dict[str, Any]]


def count_rows(path: Path) -> int:
    """Data rows of a CSV file (blank lines not counted); UnicodeDecodeError if not UTF-8.

    It runs before any row is imported (a file over the row limit is refused whole), so it is on
    every import's critical path. A file without quotes or lone carriage returns has one row per
    line, and its lines are counted over bytes in blocks (the benchmark's 112,700 rows: 175 ms
    instead of 400 ms with the csv module, measured); otherwise a quoted cell may hold a line
    break, and the csv module counts.
    """
    with path.open("rb") as handle:
        counted = _count_lines(handle)
    if counted is not None:
        return counted
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        return sum(1 for row in reader if not _blank(row))


# What `_blank` strips from a line of cells: the separator and whitespace (str.isspace), as bytes
# of one byte and as UTF-8 sequences. A line is blank when nothing else is left.
_BLANK_BYTES = b" \t,\r\x0b\x0c\x1c\x1d\x1e\x1f"


def _by_lead_byte(characters: str) -> dict[bytes, list[bytes]]:
    grouped: dict[bytes, list[bytes]] = {}
    for character in characters:
        encoded = character.encode()
        grouped.setdefault(encoded[:1], []).append(encoded)
    return grouped


# By lead byte, so that a file without the lead byte (most files) is not searched for the rest.
_BLANK_SEQUENCES = _by_lead_byte(
    "\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
)
_BLOCK_BYTES = 4 * 1024 * 1024


def _count_lines(handle: BinaryIO) -> int | None:
    """Non-blank lines after the first, or None when the file has quotes or lone CRs.

    Works on whole lines in blocks of bytes: the blank characters are deleted (one C-level
    pass) and the lines left empty counted.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = blank = 0
    first_blank: bool | None = None
    rest = b""
    while True:
        block = handle.read(_BLOCK_BYTES)
        end = block.rfind(b"\n") + 1 if block else len(rest)
        if block and not end:
            rest += block
            continue
        whole, rest = rest + block[:end], block[end:]
        if not block and whole and not whole.endswith(b"\n"):
            whole += b"\n"  # the last line has no line break
        decoder.decode(whole, final=not block)
        if b'"' in whole or whole.count(b"\r") != whole.count(b"\r\n"):
            return None
        parts = _without_blanks(whole).split(b"\n")  # ends with b"" after the last line break
        if first_blank is None and len(parts) > 1:
            first_blank = parts[0] == b""
        lines += len(parts) - 1
        blank += parts.count(b"") - 1
        if not block:
            break
    return lines - blank - (0 if first_blank in (None, True) else 1)


def _without_blanks(data: bytes) -> bytes:
    data = data.translate(None, _BLANK_BYTES)
    for lead, sequences in _BLANK_SEQUENCES.items():
        if lead in data:
            for sequence in sequences:
                data = data.replace(sequence, b"")
    return data


class ChunkReader:
    """A file's chunks of `size` data rows, read by index in increasing order (blank rows are
    skipped and not counted): chunk k holds data rows k × size … (k + 1) × size − 1, as (row
    number as a spreadsheet shows it: the header is row 1, values for the schema). The rows of
    chunks passed over are only counted, not turned into values."""

    def __init__(self, path: Path, *, size: int) -> None:
        self.size = size
        self._handle = path.open(encoding="utf-8-sig", newline="")
        self._rows = enumerate(csv.reader(self._handle), start=1)
        header = next(self._rows, None)
        self._columns = [h.strip().lower() for h in header[1]] if header else []
        self._next = 0  # the index of the chunk the file is positioned at

    def take(self, index: int) -> list[Row]:
        """Chunk `index` (empty past the end of the file); `index` must not be below the last
        one taken."""
        if index < self._next:
            raise ValueError(f"chunk {index} was passed already")
        passing = (index - self._next) * self.size  # the rows of the chunks in between
        if passing:
            for _, row in self._rows:
                if not _blank(row):
                    passing -= 1
                    if not passing:
                        break
        chunk: list[Row] = []
        for number, row in self._rows:
            if _blank(row):
                continue
            chunk.append((number, _values(self._columns, row)))
            if len(chunk) == self.size:
                break
        self._next = index + 1
        return chunk

    def close(self) -> None:
        """Close the file."""
        self._handle.close()


def _blank(row: list[str]) -> bool:
    """True for a row with no cells or only blank ones (one C-level join, not a loop per cell:
    every worker reads past every row of the file)."""
    return not "".join(row).strip()


def _values(columns: list[str], row: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=False):
        text = cell.strip()
        if text or name in REQUIRED_COLUMNS:
            values[name] = text
    if not values.get("employer_uscc"):
        values["employer_uscc"] = None
    return values


def remove(*paths: Path) -> None:
    """Delete files, ignoring those already gone."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
