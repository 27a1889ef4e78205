"""`python manage.py bench_audience [--build] [--fans N] [--orders N] [--any …] [--all …] [--none …]`

Times building (the live count) and freezing an audience on a large brand (PostgreSQL).

Against the database of DATABASE_URL. With `--build`, when it holds fewer than `--fans` fans, a
demo brand is generated first (`devtools.demo.generate_demo_brand`) and relabelled
(`segmentation.services.relabel`), so the filter sees real apples, stages and distances. Use a
scratch database:

    createdb -h 127.0.0.1 -U postgres fanops_campaigns_bench
    export DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/fanops_campaigns_bench
    python manage.py migrate
    python manage.py bench_audience --build --fans 1000000 --orders 3000000

The default filter (yellow or golden apples, not churned; online) matches about 100,000 fans of
that brand.

An HQ event over every store is created, its audience counted (`preview`) and frozen `--repeat`
times (each freeze replaces the list, as a re-freeze does), then deleted unless `--keep`.
"""

from __future__ import annotations

import statistics
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from campaigns.models import AudienceMember, Campaign
from campaigns.services import freeze_audience, preview_audience
from customers.models import Customer, Store
from devtools.demo import generate_demo_brand
from segmentation.services import relabel

DEFAULT_ANY = ["apple:yellow", "apple:golden"]  # ≈ 100,000 of the 1,000,000-fan demo brand
DEFAULT_ALL: list[str] = []
DEFAULT_NONE = ["r_stage:churned"]


class Command(BaseCommand):
    help = (
        "Time the live count and the freeze of a campaign audience on a large brand (PostgreSQL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--build", action="store_true", help="generate a demo brand if too small"
        )
        parser.add_argument("--fans", type=int, default=1_000_000)
        parser.add_argument("--orders", type=int, default=3_000_000)
        parser.add_argument("--stores", type=int, default=50)
        parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 6, 30))
        parser.add_argument("--all", nargs="*", default=DEFAULT_ALL, dest="all_of")
        parser.add_argument("--any", nargs="*", default=DEFAULT_ANY, dest="any_of")
        parser.add_argument("--none", nargs="*", default=DEFAULT_NONE, dest="none_of")
        parser.add_argument("--kind", choices=Campaign.Kind.values, default=Campaign.Kind.ONLINE)
        parser.add_argument("--holdout", type=int, default=10)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--keep", action="store_true", help="keep the benchmark event")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_audience measures PostgreSQL: set DATABASE_URL=postgres://…")
        fans = Customer.objects.count()
        if fans < options["fans"] and options["build"]:
            self.build(options, missing=options["fans"] - fans)
            fans = Customer.objects.count()
        self.stdout.write(f"brand: {fans:,} fans in {Store.objects.count()} stores")

        Campaign.objects.filter(code="bench-audience").delete()
        campaign = Campaign.objects.create(
            code="bench-audience",
            name="bench",
            kind=options["kind"],
            starts_on=options["today"],
            ends_on=options["today"],
            holdout_percent=options["holdout"],
            seed=20260630,
        )
        campaign.stores.set(Store.objects.all())
        audience = {"all": options["all_of"], "any": options["any_of"], "none": options["none_of"]}
        self.stdout.write(
            f"filter: {audience} ({options['kind']}, hold-out {options['holdout']} %)"
        )

        previews, freezes = [], []
        for run in range(options["repeat"]):
            started = time.perf_counter()
            preview = preview_audience(campaign=campaign, audience=audience, now=timezone.now())
            previews.append(time.perf_counter() - started)
            started = time.perf_counter()
            phases: dict[str, float] = {}
            report = freeze_audience(
                campaign=campaign, audience=audience, now=timezone.now(), timings=phases
            )
            freezes.append(time.perf_counter() - started)
            self.stdout.write(
                f"run {run + 1}: live count {previews[-1]:.2f} s, freeze {freezes[-1]:.2f} s ("
                + ", ".join(f"{name} {seconds:.2f}" for name, seconds in phases.items())
                + ")"
            )
        saved = AudienceMember.objects.filter(campaign=campaign).count()
        assert preview == report and saved == report["holdout"] + report["contacts"]
        self.stdout.write(f"report: {report}; rows saved: {saved:,}")
        self.stdout.write(
            f"live count: median {statistics.median(previews):.2f} s (runs {', '.join(f'{t:.2f}' for t in previews)})"
        )
        self.stdout.write(
            f"freeze:     median {statistics.median(freezes):.2f} s (runs {', '.join(f'{t:.2f}' for t in freezes)})"
        )
        if not options["keep"]:
            campaign.delete()

    def build(self, options, *, missing: int) -> None:
        if Store.objects.exists():
            raise CommandError("--build needs an empty database (migrated, no stores).")
        started = time.perf_counter()
        orders = options["orders"] * missing // options["fans"]
        self.stdout.write(f"generating {missing:,} fans, {orders:,} orders …")
        generate_demo_brand(
            stores=options["stores"],
            customers=missing,
            orders=orders,
            today=options["today"],
            progress=True,
        )
        self.stdout.write(f"generated in {time.perf_counter() - started:.0f} s; relabelling …")
        started = time.perf_counter()
        run = relabel(as_of=options["today"])
        self.stdout.write(f"relabel {run.status} in {time.perf_counter() - started:.0f} s")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics after the bulk load
