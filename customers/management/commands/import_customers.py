"""`python manage.py import_customers FILE [--dry-run]` — fans (members), bulk-written.

Columns: phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,birthday_day,
birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,is_opinion_leader
(all but phone and store may be empty; gender f/m, dates YYYY-MM-DD, booleans 1/0).

Each row is mapped to the fan schema's input (`customers.schemas.fan_row_input`) and checked by
`FanImportSchema`, the rules of the API; the file's new phones then go to
`customers.services.register_customers` and its known ones to `update_customers`, the writes of
every other door (set-based: the guide check, referrers — who may come later in the file —, fact
labels, and an opinion leader's golden apple at once). A row is the fan's whole record: a phone
already registered is updated when the row differs and left alone when it does not, so rerunning
a file changes nothing.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _
from tqdm import tqdm

from customers.csv_import import (
    CsvFileError,
    CsvRow,
    ImportReport,
    Outcome,
    column_message,
    line_message,
    row_error_message,
    stream_csv,
)
from customers.models import Customer
from customers.schemas import FAN_ROW_COLUMNS, FanImportSchema, FanIn, fan_row_input, validate_input
from customers.services import SYSTEM, FanResult, register_customers, update_customers

COLUMNS = (
    "phone", "name", "gender", "store", "guide", "birthday_calendar", "birthday_year", "birthday_month",
    "birthday_day", "birthday_is_leap_month", "city", "latitude", "longitude", "referrer_phone",
    "member_since", "is_opinion_leader",
)  # fmt: skip
BATCH = 2000


class Command(BaseCommand):
    help = "Import or update fans from a UTF-8 CSV: " + ",".join(COLUMNS)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="UTF-8 CSV file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        self.report = ImportReport(dry_run=options["dry_run"])
        show = not options["no_progress"] and options["verbosity"] > 0
        schema = FanImportSchema()
        wanted: dict[str, tuple[int, FanIn]] = {}  # phone -> (line, fan)
        try:
            for row in tqdm(
                stream_csv(options["file"], columns=COLUMNS),
                unit=" rows",
                disable=not show,
                file=sys.stderr,
                mininterval=1,
            ):
                if not isinstance(row, CsvRow):  # (line, why it cannot be read)
                    self.report.errors.append(row)
                    continue
                try:
                    fan = validate_input(schema, fan_row_input(row.values))
                except ValidationError as exc:
                    self.report.errors.append((row.line, row_error_message(exc, FAN_ROW_COLUMNS)))
                    continue
                self.keep(row.line, fan, wanted)
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc
        with transaction.atomic() if options["dry_run"] else nullcontext():
            self.write(wanted)
            if options["dry_run"]:
                transaction.set_rollback(True)
        for line, message in sorted(self.report.errors):
            self.stderr.write(line_message(line, message))
        self.stdout.write(self.report.summary())
        if self.report.errors:
            raise CommandError(self.report.failure())

    def keep(self, line: int, fan: FanIn, wanted: dict) -> None:
        """A phone twice in the file: the same row again changes nothing, another is an error."""
        if fan.phone not in wanted:
            wanted[fan.phone] = (line, fan)
        elif wanted[fan.phone][1] == fan:
            self.report.counts[Outcome.UNCHANGED] += 1
        else:
            message = _("repeated in this file (line %(line)s) with other content") % {
                "line": wanted[fan.phone][0]
            }
            self.report.errors.append((line, column_message("phone", message)))

    def write(self, wanted: dict[str, tuple[int, FanIn]]) -> None:
        phones = list(wanted)
        existing: dict[str, Customer] = {}
        for start in range(0, len(phones), BATCH):
            existing.update(
                (c.phone, c)
                for c in Customer.objects.filter(phone__in=phones[start : start + BATCH])
            )
        new = [(line, fan) for phone, (line, fan) in wanted.items() if phone not in existing]
        known = [(line, existing[p], fan) for p, (line, fan) in wanted.items() if p in existing]
        created = register_customers(fans=[fan for _line, fan in new], actor=SYSTEM)
        changed = update_customers(changes=[(c, fan) for _l, c, fan in known], actor=SYSTEM)
        lines = [line for line, _fan in new] + [line for line, _c, _fan in known]
        for line, result in zip(lines, [*created, *changed], strict=True):
            self.count(line, result)

    def count(self, line: int, result: FanResult) -> None:
        if result.error is not None:
            self.report.errors.append((line, row_error_message(result.error, FAN_ROW_COLUMNS)))
        elif result.existing is not None:  # registered meanwhile by another door
            message = _("Another fan has this phone number.")
            self.report.errors.append((line, column_message("phone", message)))
        else:
            self.report.counts[Outcome(result.outcome)] += 1
