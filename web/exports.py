"""Spreadsheet exports: the HQ fan list and the campaign contact lists, as CSV and XLSX.

Every export goes through `csv_lines` / `write_xlsx`, which make each cell inert: a fan named
`=HYPERLINK(…)`, `+cmd`, `-2+3` or `@SUM(1)` (or starting with a tab or a carriage return) must
not become a formula when the file is opened in Excel, WPS or LibreOffice. In CSV such a cell gets
a leading `'` (the spreadsheet convention for "text"); in XLSX every text cell is written as a
string, never as a formula. CSV is UTF-8 with a BOM, so Excel opens Chinese names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from campaigns.selectors import CONTACT_LIST_COLUMNS

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def inert(value: object) -> str:
    """The text of a CSV cell, with a leading `'` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV as lines (BOM first), for streaming; every cell through `inert`."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow([inert(value) for value in row])


def _xlsx_cell(sheet, value: object):
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl makes "=…" a formula; a text cell is never evaluated
    return cell


def write_xlsx(
    handle: IO[bytes], header: list[str], rows: Iterable[Iterable[object]], *, title: str
) -> None:
    """One sheet (write-only mode: memory stays flat), every text cell a string."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "sheet")
    sheet.append(header)
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(handle)


def _contact_rows(rows: list[dict]) -> Iterator[list[object]]:
    return ([row[column] for column in CONTACT_LIST_COLUMNS] for row in rows)


def contact_list_csv(rows: list[dict]) -> bytes:
    return "".join(csv_lines(CONTACT_LIST_COLUMNS, _contact_rows(rows))).encode("utf-8")


def contact_list_xlsx(rows: list[dict], *, title: str = "contacts") -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, CONTACT_LIST_COLUMNS, _contact_rows(rows), title=title or "contacts")
    return buffer.getvalue()
