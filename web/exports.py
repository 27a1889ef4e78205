"""The contact list as CSV (UTF-8 with BOM, so Excel opens Chinese names) and XLSX (openpyxl)."""

from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from campaigns.selectors import CONTACT_LIST_COLUMNS


def contact_list_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CONTACT_LIST_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def contact_list_xlsx(rows: list[dict], *, title: str = "contacts") -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31] or "contacts")
    sheet.append(CONTACT_LIST_COLUMNS)
    for row in rows:
        sheet.append([row[column] for column in CONTACT_LIST_COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
