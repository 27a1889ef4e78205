"""`python manage.py import_orders FILE [--dry-run]` — historical orders, bulk-written.

Columns: external_id,store,phone,guide,paid_at,amount,kind,refund_of,payment_method.

Every row goes through `customers.services.parse_order_in`, the rules of `POST /orders/`, and
the same idempotency: a row whose (store, external_id) is already recorded with the same content
is "unchanged", with another content it is an error. A new phone registers the fan at the row's
store. Rows are validated in Python and written in chunks of 5,000 (sales, then the refunds that
point at them) with COPY on PostgreSQL and `bulk_create` elsewhere, not one INSERT per row, so a
million orders take minutes. A chunk that meets a concurrent writer (IntegrityError) is redone
row by row through `record_order`.
"""

from __future__ import annotations

import csv
import io
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.csv_import import (
    NOT_UTF8,
    CsvFileError,
    ImportReport,
    Outcome,
    cannot_read,
    column_message,
    column_positions,
    empty_file,
    line_message,
    unknown_store,
)
from customers.models import Customer, Order, Staff, Store
from customers.services import OrderConflict, OrderIn, parse_order_in, record_order

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
COPY_ORDERS = (
    "COPY customers_order (created_at, updated_at, store_id, customer_id, guide_id, external_id, kind,"
    " refund_of_id, amount, paid_at, payment_method, channel) FROM STDIN WITH (FORMAT csv)"
)
_FIELD_TO_COLUMN = {"customer.phone": "phone", "customer": "phone", "customer.name": "phone"}


def row_message(exc: ValidationError) -> str:
    """`amount: The amount cannot be negative.` — column names, never the raw values."""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    return "; ".join(
        column_message(_FIELD_TO_COLUMN.get(key, key), " ".join(messages))
        for key, messages in exc.message_dict.items()
    )


def store_message(code: str) -> str:
    """`store: unknown store "S999"`, or `store: required` when the row has none."""
    return column_message("store", unknown_store(code) if code else _("required"))


def iter_csv(path: str, columns: tuple[str, ...]):
    """Stream (line, values | error message) from a UTF-8 CSV with a header (as csv_import reads)."""
    try:
        handle = open(path, encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise empty_file() from None
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        positions = column_positions(header, columns)
        width = len(header)
        line = reader.line_num
        for fields in reader:
            start, line = line + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if any("\udc80" <= ch <= "\udcff" for f in fields for ch in f):
                yield start, str(NOT_UTF8)
                continue
            if len(fields) < width:
                fields = fields + [""] * (width - len(fields))
            yield start, {c: fields[i].strip() for c, i in positions.items()}


def already_recorded() -> str:
    return column_message("external_id", _("already recorded at this store with other content"))


@dataclass
class _Pending:
    line: int
    order_in: OrderIn
    store_id: int
    guide_id: int | None


class OrderImporter:
    """Validates rows and writes them in chunks; keeps a report like the other import commands."""

    def __init__(self, *, dry_run: bool, now=None) -> None:
        self.report = ImportReport(dry_run=dry_run)
        self.now = now or timezone.now()
        self.stores = {s.code: s for s in Store.objects.filter(is_active=True)}
        self.stores_by_id = {s.pk: s for s in self.stores.values()}
        self.guides = {
            w: (pk, store_id)
            for w, pk, store_id in Staff.objects.filter(is_active=True).values_list(
                "work_number", "pk", "store_id"
            )
        }
        self.customer_ids: dict[str, int] = {}
        self.new_customer_ids: list[int] = []
        # (store_id, external_id) of sales written by this run → (id, customer_id, amount, refunded)
        self.sales: dict[tuple[int, str], list] = {}
        self.seen: dict[tuple[int, str], OrderIn] = {}
        self.chunks = 0

    def error(self, line: int, message: str) -> None:
        self.report.errors.append((line, message))

    # -- one chunk --------------------------------------------------------------------------------

    def refresh_statistics(self) -> None:
        """Keep PostgreSQL's planner statistics current while the table grows by millions of rows:
        without them it scans a whole store's orders for each chunk's replay check."""
        if connection.vendor == "postgresql" and self.chunks % ANALYZE_EVERY_CHUNKS == 0:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE customers_order, customers_customer")

    def run_chunk(self, rows: list[tuple[int, Any]]) -> None:
        self.refresh_statistics()
        self.chunks += 1
        pending: list[_Pending] = []
        for line, values in rows:
            if isinstance(values, str):
                self.error(line, values)
                continue
            item = self.validate(line, values)
            if item is not None:
                pending.append(item)
        if not pending:
            return
        pending = self.drop_replays(pending)
        try:
            with transaction.atomic():
                self.write(pending)
        except IntegrityError:  # a concurrent writer took an external id: redo the chunk row by row
            for item in pending:
                self.write_one(item)

    def validate(self, line: int, values: dict[str, str]) -> _Pending | None:
        raw = {
            "external_id": values["external_id"] or None,
            "store": values["store"],
            "customer": {"phone": values["phone"]},
            "guide": values["guide"],
            "paid_at": values["paid_at"],
            "amount": values["amount"],
            "kind": values["kind"],
            "refund_of": values["refund_of"],
            "payment_method": values["payment_method"],
        }
        try:
            order_in = parse_order_in(raw, now=self.now)
        except ValidationError as exc:
            self.error(line, row_message(exc))
            return None
        store = self.stores.get(order_in.store_code)
        if store is None:
            self.error(line, store_message(order_in.store_code))
            return None
        guide_id = None
        if order_in.guide:
            guide = self.guides.get(order_in.guide)
            if guide is None or guide[1] != store.pk:
                message = _('no active guide "%(guide)s" at %(store)s') % {
                    "guide": order_in.guide,
                    "store": store.code,
                }
                self.error(line, column_message("guide", message))
                return None
            guide_id = guide[0]
        return _Pending(line, order_in, store.pk, guide_id)

    def drop_replays(self, pending: list[_Pending]) -> list[_Pending]:
        """Rows already recorded (same content: unchanged; other content: error) or repeated in the file."""
        keys = {(p.store_id, p.order_in.external_id) for p in pending}
        by_store: dict[int, list[str]] = {}
        for store_id, external_id in keys:
            by_store.setdefault(store_id, []).append(external_id)
        existing: dict[tuple[int, str], Order] = {}
        for store_id, external_ids in by_store.items():
            for order in (
                Order.objects.filter(store_id=store_id, external_id__in=external_ids)
                .select_related("customer", "guide", "refund_of")
                .prefetch_related("items")
            ):
                existing[(store_id, order.external_id)] = order
        fresh = []
        for item in pending:
            key = (item.store_id, item.order_in.external_id)
            if key in existing:
                if item.order_in.matches(existing[key]):
                    self.report.counts[Outcome.UNCHANGED] += 1
                else:
                    self.error(item.line, already_recorded())
            elif key in self.seen:
                if self.seen[key] == item.order_in:
                    self.report.counts[Outcome.UNCHANGED] += 1
                else:
                    message = _("repeated in this file with other content")
                    self.error(item.line, column_message("external_id", message))
            else:
                self.seen[key] = item.order_in
                fresh.append(item)
        return fresh

    def customers_for(self, pending: list[_Pending]) -> None:
        """Known fans by phone (one query per chunk); new phones registered at the row's store."""
        phones = {p.order_in.phone for p in pending} - set(self.customer_ids)
        if not phones:
            return
        self.customer_ids.update(
            Customer.objects.filter(phone__in=phones).values_list("phone", "pk")
        )
        new: dict[str, Customer] = {}
        for item in pending:
            phone = item.order_in.phone
            if phone not in self.customer_ids and phone not in new:
                new[phone] = Customer(
                    store_id=item.store_id,
                    phone=phone,
                    name=item.order_in.name,
                    guide_id=item.guide_id,
                )
        if new:
            from customers.models import CustomerLabels

            created = Customer.objects.bulk_create(new.values())
            CustomerLabels.objects.bulk_create(CustomerLabels(customer_id=c.pk) for c in created)
            for customer in created:
                self.customer_ids[customer.phone] = customer.pk
                self.new_customer_ids.append(customer.pk)

    def load_sales(self, pending: list[_Pending]) -> None:
        """Sales that this chunk's refunds point at and that earlier runs wrote, with their refunds."""
        wanted = {
            (p.store_id, p.order_in.refund_of) for p in pending if p.order_in.refund_of
        } - set(self.sales)
        for store_id, external_id in wanted:
            sale = (
                Order.objects.filter(
                    store_id=store_id, external_id=external_id, kind=Order.Kind.SALE
                )
                .annotate(refunded=Sum("refunds__amount"))
                .values("pk", "customer_id", "amount", "refunded")
                .first()
            )
            if sale is not None:
                self.sales[(store_id, external_id)] = [
                    sale["pk"], sale["customer_id"], sale["amount"], sale["refunded"] or Decimal(0)
                ]  # fmt: skip

    def build(self, item: _Pending, refund_of_id: int | None = None) -> Order:
        o = item.order_in
        return Order(
            store_id=item.store_id, customer_id=self.customer_ids[o.phone], guide_id=item.guide_id,
            external_id=o.external_id, kind=o.kind, refund_of_id=refund_of_id, amount=o.amount,
            paid_at=o.paid_at, payment_method=o.payment_method, channel=Order.Channel.IMPORT,
        )  # fmt: skip

    def insert(self, orders: list[Order]) -> list[Order]:
        """PostgreSQL: COPY (no ids come back; refunds look their sales up). Else bulk_create."""
        if connection.vendor != "postgresql":
            return Order.objects.bulk_create(orders)
        now = timezone.now().isoformat()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for o in orders:
            writer.writerow([
                now, now, o.store_id, o.customer_id, o.guide_id or "", o.external_id, o.kind,
                o.refund_of_id or "", o.amount, o.paid_at.isoformat(), o.payment_method, o.channel,
            ])  # fmt: skip
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(COPY_ORDERS, buffer)
        return orders

    def write(self, pending: list[_Pending]) -> None:
        self.customers_for(pending)
        sales = [p for p in pending if p.order_in.kind == Order.Kind.SALE]
        created = self.insert([self.build(p) for p in sales])
        if connection.vendor != "postgresql":
            for item, order in zip(sales, created, strict=True):
                self.sales[(item.store_id, item.order_in.external_id)] = [
                    order.pk, order.customer_id, order.amount, Decimal(0)
                ]  # fmt: skip
        self.report.counts[Outcome.CREATED] += len(created)
        refunds = [p for p in pending if p.order_in.kind == Order.Kind.REFUND]
        self.load_sales(refunds)
        rows = []
        for item in refunds:
            refund_of_id = None
            if item.order_in.refund_of:
                sale = self.sales.get((item.store_id, item.order_in.refund_of))
                customer_id = self.customer_ids[item.order_in.phone]
                if sale is None or sale[1] != customer_id:
                    message = _("no sale with this external id for this fan at this store")
                    self.error(item.line, column_message("refund_of", message))
                    continue
                if sale[3] + item.order_in.amount > sale[2]:
                    message = _("refunds cannot exceed the sale (%(left)s left)") % {
                        "left": sale[2] - sale[3]
                    }
                    self.error(item.line, column_message("amount", message))
                    continue
                sale[3] += item.order_in.amount
                refund_of_id = sale[0]
            rows.append(self.build(item, refund_of_id))
        self.insert(rows)
        self.report.counts[Outcome.CREATED] += len(rows)

    def write_one(self, item: _Pending) -> None:
        try:
            _order, created = record_order(
                store=self.stores_by_id[item.store_id],
                order_in=item.order_in,
                channel=Order.Channel.IMPORT,
            )
        except OrderConflict:
            self.error(item.line, already_recorded())
        except ValidationError as exc:
            self.error(item.line, row_message(exc))
        else:
            self.report.counts[Outcome.CREATED if created else Outcome.UNCHANGED] += 1


class Command(BaseCommand):
    help = "Import historical orders from a UTF-8 CSV: " + ",".join(COLUMNS)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="UTF-8 CSV file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        from tqdm import tqdm

        dry_run = options["dry_run"]
        show = not options["no_progress"] and options["verbosity"] > 0
        importer = OrderImporter(dry_run=dry_run)
        try:
            rows = iter_csv(options["file"], COLUMNS)
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
                if importer.new_customer_ids and not dry_run:
                    from customers.facts import refresh_fact_labels

                    refresh_fact_labels(customer_ids=importer.new_customer_ids)
                if dry_run:
                    transaction.set_rollback(True)
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        report = importer.report
        for line, message in sorted(report.errors):
            self.stderr.write(line_message(line, message))
        self.stdout.write(
            _("%(summary)s (%(count)s new fans)")
            % {"summary": report.summary(), "count": len(importer.new_customer_ids)}
        )
        if report.errors:
            raise CommandError(report.failure())
