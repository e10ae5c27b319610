"""Exports of the reward ledger for officials: CSV (UTF-8 with BOM) and XLSX, Chinese headers.

Every text cell that a spreadsheet could take for a formula (starting with = + - @, a tab or a
carriage return) is prefixed with an apostrophe, and XLSX text cells are written as strings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from common.schemas import yuan

HEADERS = (
    "企业统一社会信用代码",
    "年度",
    "证书编号",
    "持证人",
    "奖励金额（元）",
    "状态",
    "发放日期",
    "撤销日期",
    "撤销原因",
    "政策版本",
)
STATUS_ZH = {"granted": "已发放", "reversed": "已撤销"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Neutralise spreadsheet formula injection."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def ledger_rows(ledgers: Iterable[tuple[Any, Sequence[Any]]]) -> Iterator[list[Any]]:
    """One row per entry: text values, the amount as a Decimal of yuan, the year as an int."""
    for total, entries in ledgers:
        for entry in entries:
            yield [
                total.enterprise_uscc,
                total.year,
                entry.certificate_number,
                entry.holder_name_masked,
                Decimal(yuan(entry.amount_fen)),
                STATUS_ZH.get(entry.status, entry.status),
                entry.granted_on.isoformat(),
                entry.reversed_on.isoformat() if entry.reversed_on else "",
                entry.reversal_reason or "",
                entry.policy_version,
            ]


def to_csv(rows: Iterable[list[Any]]) -> bytes:
    """CSV with a BOM (so that spreadsheet programs read UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(
            [
                safe_text(v) if isinstance(v, str) else f"{v:.2f}" if isinstance(v, Decimal) else v
                for v in row
            ]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(rows: Iterable[list[Any]]) -> bytes:
    """An XLSX workbook; text cells are typed as strings (never formulas)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("奖励台账")

    def cell(value: Any) -> WriteOnlyCell:
        if isinstance(value, str):
            text = WriteOnlyCell(sheet, value=safe_text(value))
            text.data_type = "s"
            return text
        number = WriteOnlyCell(sheet, value=value)
        if isinstance(value, Decimal):
            number.number_format = "0.00"
        return number

    sheet.append([cell(h) for h in HEADERS])
    for row in rows:
        sheet.append([cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
