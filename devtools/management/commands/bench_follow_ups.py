"""`python manage.py bench_follow_ups [--rounds N]` (PostgreSQL, a big relabelled brand).

Meant for the scratch database `bench_relabel --keep` leaves (1M fans / 10M orders, relabelled):
point DATABASE_URL at it. In this one process it times
- the first generation (every reason's backlog: nothing generated before);
- a day of POS sales, the nightly relabel for the next day, then that night's generation,
  as a ratio to the relabel's own time (the receiver that generates after a relabel is
  disconnected while the relabel is timed), and a rerun of it (creates nothing);
- a guide's Today worklist (the real view through Django's test Client) on the store nearest
  20,000 fans, for its guide with the most follow-ups: p50 / p95 / max over `--rounds` requests, and its query count.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, Staff
from devtools.management.commands.bench_fan_list import _percentile
from devtools.management.commands.bench_relabel import Command as BenchRelabel
from followups.models import FollowUp, FollowUpRule
from followups.receivers import generation_paused
from followups.services import generate_follow_ups
from segmentation.models import RelabelRun
from segmentation.selectors import last_run
from segmentation.services import relabel

STORE_FANS = 20_000  # Today is timed on the store nearest this size


def _load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


class Command(BaseCommand):
    help = "Benchmark follow-up generation after the nightly relabel, and the Today worklist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rounds", type=int, default=20, help="Today requests measured")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_follow_ups needs PostgreSQL: set DATABASE_URL=postgres://…")
        call_command("migrate", verbosity=0, skip_checks=True)
        run = last_run()
        if run is None:
            raise CommandError("no relabel run: build with `bench_relabel --keep` first")
        fans = Customer.objects.count()
        self.stdout.write(f"{fans:,} fans; labels as of {run.as_of}; {_load()}")
        with generation_paused():
            self.generation(as_of=run.as_of)
        self.today_page(rounds=options["rounds"])

    def _generate(self, as_of, label: str) -> float:
        started, timings = time.perf_counter(), {}
        counts = generate_follow_ups(as_of=as_of, now=timezone.now(), timings=timings)
        seconds = time.perf_counter() - started
        created = sum(v for k, v in counts.items() if k not in ("expired", "reopened"))
        detail = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        steps = "  ".join(f"{k} {v:.2f}" for k, v in timings.items())
        self.stdout.write(
            f"{label}: {seconds:.2f} s, {created:,} created [{detail}]  [{steps}]; {_load()}"
        )
        return seconds

    def generation(self, *, as_of) -> None:
        FollowUp.objects.all().delete()
        FollowUpRule.objects.update(generated_through=None)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE followups_followup")
        self._generate(as_of, f"first generation for {as_of} (every reason's backlog)")
        day = as_of + timedelta(days=1)
        BenchRelabel(stdout=self.stdout, stderr=self.stderr).add_next_day_sales(day)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE segmentation_customerlabels")
            cursor.execute("VACUUM ANALYZE followups_followup")
        started = time.perf_counter()
        night = relabel(as_of=day)
        relabel_seconds = time.perf_counter() - started
        if night.status != RelabelRun.Status.SUCCEEDED:
            raise CommandError(f"relabel: {night.status} {night.error}")
        self.stdout.write(f"nightly relabel for {day} ({night.mode}): {relabel_seconds:.2f} s")
        seconds = self._generate(day, f"nightly generation for {day}")
        self.stdout.write(
            f"  = {seconds / relabel_seconds:.2f} × the relabel's own time (goal ≤ 0.5, < 5 s)"
        )
        self._generate(day, "rerun for the same day")

    def today_page(self, *, rounds: int) -> None:
        sizes = Customer.objects.values("store").annotate(n=Count("id")).order_by()
        store = min(sizes, key=lambda row: abs(row["n"] - STORE_FANS))
        guide = (  # the store's guide with the most follow-ups
            FollowUp.objects.filter(store_id=store["store"], guide__isnull=False)
            .values("guide")
            .annotate(n=Count("id"))
            .order_by("-n")
            .first()
        )
        if guide is None:
            raise CommandError("no follow-ups on the biggest store")
        staff = Staff.objects.select_related("user").get(pk=guide["guide"])
        client = Client()
        client.force_login(staff.user)
        for _ in range(2):
            client.get("/today/")
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get("/today/")
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"/today/ answered {response.status_code}")
        with CaptureQueriesContext(connection) as queries:
            client.get("/today/")
        counts = dict(
            FollowUp.objects.filter(guide=staff, is_holdout=False)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        self.stdout.write(
            f"Today of {staff.work_number} ({store['n']:,}-fan store, {guide['n']:,} follow-ups,"
            f" {counts}): p50 {statistics.median(timings):.1f} ms, p95 {_percentile(timings, 95):.1f}"
            f" ms, max {max(timings):.1f} ms over {rounds}; {len(queries)} queries; {_load()}"
        )
