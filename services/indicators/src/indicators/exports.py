"""CSV and XLSX exports of the indicators, with Chinese headers, safe against formula injection.

A spreadsheet treats a cell that starts with `=`, `+`, `-` or `@` (and, in some programs, a tab or
carriage return) as a formula. Every *text* cell that starts with one of them gets a leading
apostrophe; numbers stay numbers (so -5 is written as the number -5, never as text). The XLSX
writer is also told never to turn strings into formulas or links. CSV is UTF-8 with a byte-order
mark so that Excel reads the Chinese headers correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

import xlsxwriter

from indicators.schemas import IndicatorValue

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
INDICATOR_HEADERS = ["指标代码", "中文名称", "单位", "数值", "目标", "进度%", "是否达标"]
Cell = str | int | float | None


def safe_text(value: str) -> str:
    """Neutralise a text cell that a spreadsheet would read as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def safe(value: Cell) -> Cell:
    """A cell ready to write: text neutralised, numbers and blanks unchanged."""
    return safe_text(value) if isinstance(value, str) else value


def on_track_zh(value: bool | None) -> str:
    """是 / 否 / 无目标."""
    return "无目标" if value is None else ("是" if value else "否")


@dataclass(frozen=True)
class ExportTable:
    """Everything an export contains."""

    year: int
    as_of: date
    policy_version: str
    lag_events: int
    district: list[IndicatorValue]
    towns: list[tuple[str, str, list[IndicatorValue]]]  # (name_zh, code, values)
    domains: list[tuple[str, str]]  # (code, name_zh)


def indicator_rows(table: ExportTable) -> list[list[Cell]]:
    """One row per indicator: code, 中文名称, 单位, 数值, 目标, 进度%, 是否达标."""
    return [
        [
            v.code,
            v.name_zh,
            v.unit_zh or v.unit,
            v.value,
            v.target,
            v.progress_percent,
            on_track_zh(v.on_track),
        ]
        for v in table.district
    ]


def town_rows(table: ExportTable) -> tuple[list[str], list[list[Cell]]]:
    """Town by town: one row per town, one column per indicator."""
    headers = ["镇街代码", "镇街名称"] + [
        f"{v.name_zh}（{v.unit_zh or v.unit}）" for v in table.district
    ]
    rows: list[list[Cell]] = [
        [code, name, *[v.value for v in values]] for name, code, values in table.towns
    ]
    return headers, rows


def domain_rows(table: ExportTable) -> tuple[list[str], list[list[Cell]]]:
    """Training domains: person-times and talents cultivated with their quotas."""
    by_code = {v.code: v for v in table.district}
    headers = ["领域代码", "培训领域", "培训人次", "培训人次目标", "培育技能人才", "培育目标"]
    rows: list[list[Cell]] = []
    for code, name in table.domains:
        times = by_code.get(f"training_person_times.{code}")
        talents = by_code.get(f"talents_cultivated.{code}")
        rows.append(
            [
                code,
                name,
                times.value if times else None,
                times.target if times else None,
                talents.value if talents else None,
                talents.target if talents else None,
            ]
        )
    return headers, rows


def _title(table: ExportTable) -> list[str]:
    return [
        f"定海区技能型社会试点指标（{table.year}年，截至{table.as_of.isoformat()}）",
        f"政策版本 {table.policy_version}；未处理事件 {table.lag_events}",
    ]


def to_csv(table: ExportTable) -> bytes:
    """Three sections (指标, 镇街分解, 培训领域) separated by blank lines; UTF-8 with BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def write(rows: Sequence[Sequence[Cell]]) -> None:
        for row in rows:
            writer.writerow(["" if c is None else safe(c) for c in row])

    write([[line] for line in _title(table)])
    write([[], ["【指标】"], INDICATOR_HEADERS, *indicator_rows(table)])
    headers, rows = town_rows(table)
    write([[], ["【镇街分解】"], headers, *rows])
    headers, rows = domain_rows(table)
    write([[], ["【培训领域】"], headers, *rows])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(table: ExportTable) -> bytes:
    """A workbook with the sheets 指标, 镇街分解 and 培训领域."""
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})

    def sheet(name: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
        worksheet = workbook.add_worksheet(name)
        for column, line in enumerate(_title(table)):
            worksheet.write_string(column, 0, safe_text(line))
        top = 3
        for column, header in enumerate(headers):
            worksheet.write_string(top, column, safe_text(header), bold)
        for offset, row in enumerate(rows, start=1):
            for column, cell in enumerate(row):
                if cell is None:
                    worksheet.write_blank(top + offset, column, None)
                elif isinstance(cell, str):
                    worksheet.write_string(top + offset, column, safe_text(cell))
                else:
                    worksheet.write_number(top + offset, column, cell)
        worksheet.set_column(0, 0, 28)
        worksheet.set_column(1, 1, 30)
        worksheet.set_column(2, len(headers), 14)
        worksheet.freeze_panes(top + 1, 2)

    sheet("指标", INDICATOR_HEADERS, indicator_rows(table))
    sheet("镇街分解", *town_rows(table))
    sheet("培训领域", *domain_rows(table))
    workbook.close()
    return buffer.getvalue()


def disposition(table: ExportTable, extension: str) -> dict[str, str]:
    """Content-Disposition with an ASCII name and the Chinese one (RFC 6266)."""
    ascii_name = f"indicators-{table.year}-{table.as_of.isoformat()}.{extension}"
    chinese = quote(f"定海区技能型社会指标-{table.year}-{table.as_of.isoformat()}.{extension}")
    return {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{chinese}"
    }
