"""`python manage.py bench_fan_list [--store CODE] [--rounds N]`: server time of My fans.

Runs the real view (middleware, template, queries) through Django's test Client against the
configured database — meant for a big PostgreSQL brand — and prints p50/p95/max per filter and
overall. Read-only: it signs a store manager in through a session and only sends GETs.
"""

from __future__ import annotations

import re
import statistics
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, Staff, Store

FAN_COUNT = re.compile(r'data-testid="fan-count">\s*([\d,]+)')


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Command(BaseCommand):
    help = "Measure the server time of My fans (/fans/) with filters for one store."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--store", help="store code (default: the store with the most fans)")
        parser.add_argument("--rounds", type=int, default=20, help="requests per filter")
        parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per filter")

    def handle(self, *args, **options) -> None:
        store = self._store(options.get("store"))
        staff = (
            Staff.objects.filter(store=store, is_active=True)
            .order_by("-role")  # manager before guide: the whole store's fans
            .select_related("user")
            .first()
        )
        if staff is None:
            raise CommandError(f"{store.code} has no staff to sign in as")
        fans = Customer.objects.filter(store=store)
        total = fans.count()
        sample = fans.order_by("id").values("name", "phone")[total // 2 : total // 2 + 1].first()
        tail = sample["phone"][-4:] if sample else "0000"
        name = (sample["name"] or "张")[:1] if sample else "张"
        guide = (
            Staff.objects.filter(store=store, role=Staff.Role.GUIDE, is_active=True)
            .order_by("work_number")
            .first()
        )
        scenarios = [
            ("no filter", ""),
            ("apple=red", "apple=red"),
            ("stage=sleeping", "stage=sleeping"),
            ("segment=important_value", "segment=important_value"),
            ("apple+stage+segment", "apple=green&stage=active&segment=general_development"),
            ("tag style:business", "tag=style:business"),
            ("tag + stage", "tag=style:business&stage=active"),
            ("phone tail", f"q={tail}"),
            ("name", f"q={name}"),
            ("page 100", "page=100"),
        ]
        if guide is not None:
            scenarios.append(("one guide", f"guide={guide.work_number}"))
        client = Client()
        client.force_login(staff.user)
        self.stdout.write(
            f"{connection.vendor}: store {store.code} with {total:,} fans "
            f"of {Customer.objects.count():,}; signed in as {staff.role} {staff.work_number}"
        )
        self.stdout.write(
            f"{'filter':<26}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'queries':>9}{'fans':>9}"
        )
        everything: list[float] = []
        for label, query in scenarios:
            url = f"/fans/?{query}" if query else "/fans/"
            for _ in range(options["warmup"]):
                client.get(url, secure=True)
            timings = []
            for _ in range(options["rounds"]):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    response = client.get(url, secure=True)
                    timings.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
            found = FAN_COUNT.search(response.content.decode())
            count = found.group(1) if found else "?"
            everything += timings
            self.stdout.write(
                f"{label:<26}{statistics.median(timings):>9.1f}{_percentile(timings, 95):>9.1f}"
                f"{max(timings):>9.1f}{len(queries.captured_queries):>9}{count:>9}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"all filters: p50 {statistics.median(everything):.1f} ms, "
                f"p95 {_percentile(everything, 95):.1f} ms over {len(everything)} requests"
            )
        )

    def _store(self, code: str | None) -> Store:
        if code:
            try:
                return Store.objects.get(code=code)
            except Store.DoesNotExist:
                raise CommandError(f"no store {code}") from None
        store = Store.objects.annotate(n=Count("customers")).order_by("-n").first()
        if store is None:
            raise CommandError("the database has no stores")
        return store
