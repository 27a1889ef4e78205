"""`python manage.py import_orders FILE [--dry-run]` — historical orders, bulk-written.

Columns: external_id,store,phone,guide,paid_at,amount,kind,refund_of,payment_method.

Each row is mapped to the order schema's input (`customers.schemas.order_row_input`) and checked
by `OrderSchema`, the rules of `POST /orders/`; the valid rows of a chunk of 5,000 go to
`customers.services.record_orders`, the write of every other door (COPY on PostgreSQL): the same
idempotency (a row already recorded with the same content is "unchanged", with another content an
error), the same guide check, registration of new phones and refund cap. Errors are reported by
line, with the file's column names.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from customers.csv_import import (
    CsvFileError,
    CsvRow,
    ImportReport,
    Outcome,
    line_message,
    row_error_message,
    stream_csv,
)
from customers.models import Order
from customers.schemas import ORDER_ROW_COLUMNS, OrderSchema, order_row_input, validate_input
from customers.services import SYSTEM, conflict_message, record_orders

COLUMNS = (
    "external_id",
    "store",
    "phone",
    "guide",
    "paid_at",
    "amount",
    "kind",
    "refund_of",
    "payment_method",
)
CHUNK = 5000
ANALYZE_EVERY_CHUNKS = 20  # 100,000 rows


class OrderImporter:
    """Checks rows with the order schema and records them chunk by chunk; keeps a report."""

    def __init__(self, *, dry_run: bool, now=None) -> None:
        self.report = ImportReport(dry_run=dry_run)
        self.schema = OrderSchema(context={"now": now or timezone.now()})
        self.new_fans = 0
        self.chunks = 0

    def refresh_statistics(self) -> None:
        """Keep PostgreSQL's planner statistics current while the table grows by millions of rows:
        without them it scans a whole store's orders for each chunk's replay check."""
        if connection.vendor == "postgresql" and self.chunks % ANALYZE_EVERY_CHUNKS == 0:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE customers_order, customers_customer")

    def run_chunk(self, rows: list[CsvRow | tuple[int, str]]) -> None:
        self.refresh_statistics()
        self.chunks += 1
        lines, orders = [], []
        for row in rows:
            if not isinstance(row, CsvRow):  # (line, why it cannot be read)
                self.report.errors.append(row)
                continue
            line = row.line
            try:
                orders.append(validate_input(self.schema, order_row_input(row.values)))
            except ValidationError as exc:
                self.report.errors.append((line, row_error_message(exc, ORDER_ROW_COLUMNS)))
                continue
            lines.append(line)
        results = record_orders(orders=orders, actor=SYSTEM, channel=Order.Channel.IMPORT)
        for line, result in zip(lines, results, strict=True):
            if result.error is not None:
                self.report.errors.append((line, row_error_message(result.error)))
            elif result.conflict is not None:
                conflict = ValidationError({"external_id": [conflict_message()]})
                self.report.errors.append((line, row_error_message(conflict)))
            else:
                self.report.counts[Outcome.CREATED if result.created else Outcome.UNCHANGED] += 1
                self.new_fans += result.registered


class Command(BaseCommand):
    help = "Import historical orders from a UTF-8 CSV: " + ",".join(COLUMNS)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="UTF-8 CSV file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        show = not options["no_progress"] and options["verbosity"] > 0
        importer = OrderImporter(dry_run=dry_run)
        try:
            rows = stream_csv(options["file"], columns=COLUMNS)
            # A dry run is one transaction rolled back at the end; a real run commits chunk by chunk.
            with transaction.atomic() if dry_run else nullcontext():
                progress = tqdm(unit=" rows", disable=not show, file=sys.stderr, mininterval=1)
                chunk: list = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) >= CHUNK:
                        importer.run_chunk(chunk)
                        progress.update(len(chunk))
                        chunk = []
                if chunk:
                    importer.run_chunk(chunk)
                    progress.update(len(chunk))
                progress.close()
                if dry_run:
                    transaction.set_rollback(True)
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        report = importer.report
        for line, message in sorted(report.errors):
            self.stderr.write(line_message(line, message))
        self.stdout.write(
            _("%(summary)s (%(count)s new fans)")
            % {"summary": report.summary(), "count": importer.new_fans}
        )
        if report.errors:
            raise CommandError(report.failure())
