"""`python manage.py import_customers FILE [--dry-run]` — fans (members), bulk-written.

Columns: phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,birthday_day,
birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,is_opinion_leader
(all but phone and store may be empty; gender f/m, dates YYYY-MM-DD, booleans 1/0).

Rows are checked with the rules of the API (`clean_customer_fields`, tagging's birthday rule);
a phone already registered is updated when the row differs and left alone when it does not, so
rerunning a file changes nothing. Written in bulk: new fans with `bulk_create`, changes with
`bulk_update`, referrers in a second pass (a referrer may come later in the file), fact labels
set-based at the end.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

from customers.csv_import import (
    CsvFileError,
    ImportReport,
    Outcome,
    column_message,
    line_message,
    must_be_1_or_0,
)
from customers.management.commands.import_orders import iter_csv, row_message, store_message
from customers.models import Customer, Staff, Store
from customers.phones import normalize_phone
from customers.services import _check_coordinates_pair, _validate_birthday, clean_customer_fields

COLUMNS = (
    "phone", "name", "gender", "store", "guide", "birthday_calendar", "birthday_year", "birthday_month",
    "birthday_day", "birthday_is_leap_month", "city", "latitude", "longitude", "referrer_phone",
    "member_since", "is_opinion_leader",
)  # fmt: skip
FIELDS = (
    "name", "gender", "store_id", "guide_id", "birth_calendar", "birth_year", "birth_month", "birth_day",
    "birth_is_leap_month", "city", "latitude", "longitude", "member_since", "is_opinion_leader",
)  # fmt: skip
BATCH = 2000


class Command(BaseCommand):
    help = "Import or update fans from a UTF-8 CSV: " + ",".join(COLUMNS)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="UTF-8 CSV file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        from tqdm import tqdm

        self.report = ImportReport(dry_run=options["dry_run"])
        self.stores = {s.code: s for s in Store.objects.filter(is_active=True)}
        self.guides = {
            w: (pk, sid)
            for w, pk, sid in Staff.objects.filter(is_active=True).values_list(
                "work_number", "pk", "store_id"
            )
        }
        show = not options["no_progress"] and options["verbosity"] > 0
        wanted: dict[str, tuple[int, dict, str]] = {}  # phone -> (line, values, referrer phone)
        try:
            for line, values in tqdm(
                iter_csv(options["file"], COLUMNS),
                unit=" rows",
                disable=not show,
                file=sys.stderr,
                mininterval=1,
            ):
                if isinstance(values, str):
                    self.report.errors.append((line, values))
                    continue
                self.check_row(line, values, wanted)
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

    def check_row(self, line: int, row: dict[str, str], wanted: dict) -> None:
        errors: list[str] = []
        try:
            phone = normalize_phone(row["phone"])
        except ValidationError as exc:
            self.report.errors.append((line, column_message("phone", " ".join(exc.messages))))
            return
        store = self.stores.get(row["store"])
        if store is None:
            errors.append(store_message(row["store"]))
        guide_id = None
        if row["guide"]:
            guide = self.guides.get(row["guide"])
            if guide is None or store is None or guide[1] != store.pk:
                message = _('no active guide "%(guide)s" at this store') % {"guide": row["guide"]}
                errors.append(column_message("guide", message))
            else:
                guide_id = guide[0]
        raw = {
            "gender": row["gender"], "birth_calendar": row["birthday_calendar"],
            "birth_year": row["birthday_year"], "birth_month": row["birthday_month"],
            "birth_day": row["birthday_day"], "birth_is_leap_month": row["birthday_is_leap_month"],
            "city": row["city"], "latitude": row["latitude"], "longitude": row["longitude"],
            "member_since": row["member_since"], "is_opinion_leader": row["is_opinion_leader"],
        }  # fmt: skip
        if row["name"]:
            raw["name"] = row["name"]
        for key in ("birthday_is_leap_month", "is_opinion_leader"):
            if row[key] not in ("", "0", "1"):
                errors.append(column_message(key, must_be_1_or_0(row[key])))
        values: dict = {}
        try:
            values = clean_customer_fields(raw)
        except ValidationError as exc:
            errors.append(row_message(exc))
        if values:
            values.setdefault("name", "")
            probe = Customer(**values)
            problems = {**_validate_birthday(vars(probe)), **_check_coordinates_pair(probe)}
            if problems:
                errors.append(row_message(ValidationError(problems)))
        referrer = ""
        if row["referrer_phone"]:
            try:
                referrer = normalize_phone(row["referrer_phone"])
            except ValidationError as exc:
                errors.append(column_message("referrer_phone", " ".join(exc.messages)))
            if referrer == phone:
                errors.append(column_message("referrer_phone", _("a fan cannot refer herself")))
        if errors:
            self.report.errors.append((line, "; ".join(errors)))
            return
        values.update(store_id=store.pk, guide_id=guide_id)
        if phone in wanted:
            if wanted[phone][1:] == (values, referrer):
                self.report.counts[Outcome.UNCHANGED] += 1
            else:
                message = _("repeated in this file (line %(line)s) with other content") % {
                    "line": wanted[phone][0]
                }
                self.report.errors.append((line, column_message("phone", message)))
            return
        wanted[phone] = (line, values, referrer)

    def write(self, wanted: dict) -> None:
        from customers.facts import refresh_fact_labels
        from customers.models import CustomerLabels

        existing = {}
        phones = list(wanted)
        for start in range(0, len(phones), BATCH):
            existing.update(
                (c.phone, c)
                for c in Customer.objects.filter(phone__in=phones[start : start + BATCH])
            )
        # Referrers must be fans already, or fans of this file.
        known_referrers = {r for _l, _v, r in wanted.values() if r} - set(wanted) - set(existing)
        registered = set(
            Customer.objects.filter(phone__in=known_referrers).values_list("phone", flat=True)
        )
        new, changed, leader_changed = [], [], []
        for phone, (line, values, referrer) in list(wanted.items()):
            if (
                referrer
                and referrer not in wanted
                and referrer not in existing
                and referrer not in registered
            ):
                message = column_message("referrer_phone", _("no fan with this phone"))
                self.report.errors.append((line, message))
                del wanted[phone]
                continue
            fan = existing.get(phone)
            if fan is None:
                new.append(Customer(phone=phone, **values))
                continue
            if all(getattr(fan, k) == v for k, v in values.items()):
                continue
            if fan.is_opinion_leader != values["is_opinion_leader"]:
                leader_changed.append(fan.pk)
            for key, value in values.items():
                setattr(fan, key, value)
            changed.append(fan)
        created = Customer.objects.bulk_create(new, batch_size=BATCH)
        Customer.objects.bulk_update(changed, FIELDS, batch_size=BATCH)
        CustomerLabels.objects.bulk_create(
            (
                CustomerLabels(
                    customer_id=c.pk, apple="golden" if c.is_opinion_leader else "blossom"
                )
                for c in created
            ),
            batch_size=BATCH,
        )
        self.sync_leader_apples(leader_changed)
        # Referrers: second pass, now that every fan of the file exists.
        ids = dict(
            Customer.objects.filter(
                phone__in=[r for _l, _v, r in wanted.values() if r]
            ).values_list("phone", "pk")
        )
        ids.update((c.phone, c.pk) for c in created)
        for fan in changed:
            ids.setdefault(fan.phone, fan.pk)
        fans_by_phone = {c.phone: c for c in [*created, *changed, *existing.values()]}
        referred = []
        for phone, (_line, _values, referrer) in wanted.items():
            fan = fans_by_phone[phone]
            referrer_id = ids.get(referrer) if referrer else None
            if fan.referrer_id != referrer_id:
                fan.referrer_id = referrer_id
                referred.append(fan)
        Customer.objects.bulk_update(referred, ["referrer"], batch_size=BATCH)
        touched = {c.pk for c in [*created, *changed]}
        updated = {c.pk for c in [*changed, *referred]} - {c.pk for c in created}
        self.report.counts[Outcome.CREATED] += len(created)
        self.report.counts[Outcome.UPDATED] += len(updated)
        self.report.counts[Outcome.UNCHANGED] += len(wanted) - len(created) - len(updated)
        if touched:
            refresh_fact_labels(customer_ids=touched)

    def sync_leader_apples(self, customer_ids: list[int]) -> None:
        """An opinion-leader mark changed: the apple follows at once (SPEC §3), as in the API."""
        from customers.models import CustomerLabels
        from customers.services import _apple_from_metrics

        for labels in CustomerLabels.objects.select_related("customer").filter(
            customer_id__in=customer_ids
        ):
            labels.apple = _apple_from_metrics(labels)
            labels.save(update_fields=["apple"])
