"""`python manage.py bench_relabel --customers N --orders N [--stores S] [--keep]` (PostgreSQL).

Builds a demo brand (`customers.demo.generate_demo_brand`) in a scratch database `fanops_bench`
on the same server, then in a fresh child process (so peak memory is the relabel's, not the
generator's) times:
- the floor: a bare `GROUP BY customer_id` over the same orders into a temp table;
- relabel #1 (first run: every labels row is inserted);
- relabel #2 for the next day (the nightly case: every row is updated), phase by phase;
and prints peak memory and the ratio of the relabel to the floor. Drops the database unless
`--keep`.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

BENCH_DB = "fanops_bench"
FLOOR_SQL = """
    CREATE TEMP TABLE bench_floor AS
    SELECT customer_id, COUNT(*) AS n, SUM(amount) AS total, MAX(paid_at) AS last_paid
      FROM customers_order
     WHERE paid_at < %(end)s
     GROUP BY customer_id
"""


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "Benchmark the relabel job against the bare GROUP BY floor on a scratch PostgreSQL database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=100_000)
        parser.add_argument("--orders", type=int, default=1_000_000)
        parser.add_argument(
            "--stores", type=int, default=0, help="default: one per 20,000 fans, at least 6"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 6, 30))
        parser.add_argument("--keep", action="store_true", help="keep the fanops_bench database")
        parser.add_argument("--reuse", action="store_true", help="measure on a kept fanops_bench")
        parser.add_argument(
            "--measure", action="store_true", help="(internal) measure in this process"
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_relabel needs PostgreSQL: set DATABASE_URL=postgres://…")
        if options["measure"]:
            self.measure(today=options["today"])
            return
        self.build_and_measure(options)

    # --- parent: scratch database, data, child process ----------------------------------------

    def _admin_connection(self):
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params["dbname"] = "postgres"
        admin = psycopg2.connect(**params)
        admin.autocommit = True
        return admin

    def build_and_measure(self, options) -> None:
        customers, orders = options["customers"], options["orders"]
        stores = options["stores"] or max(6, customers // 20_000)
        keep = options["keep"] or options["reuse"]
        admin = self._admin_connection()
        if not options["reuse"]:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
                cursor.execute(f"CREATE DATABASE {BENCH_DB}")
        main_name = connection.settings_dict["NAME"]
        try:
            connection.close()
            connection.settings_dict["NAME"] = BENCH_DB
            if not options["reuse"]:
                self.build(
                    customers=customers,
                    orders=orders,
                    stores=stores,
                    seed=options["seed"],
                    today=options["today"],
                )
            connections.close_all()
            self.stdout.flush()
            env = {**os.environ, "DATABASE_URL": self._bench_url(), "DEBUG": "1"}
            command = [sys.executable, sys.argv[0], "bench_relabel", "--measure"]
            command += ["--today", options["today"].isoformat()]
            result = subprocess.run(command, env=env, check=False)
            if result.returncode:
                raise CommandError(f"measurement failed ({result.returncode})")
        finally:
            connections.close_all()
            connection.settings_dict["NAME"] = main_name
            if not keep:
                with admin.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
                self.stdout.write(f"dropped {BENCH_DB}")
            admin.close()

    def build(self, *, customers: int, orders: int, stores: int, seed: int, today: date) -> None:
        from customers.demo import generate_demo_brand

        started = time.perf_counter()
        call_command("migrate", verbosity=0, skip_checks=True)
        self.stdout.write(f"generating {stores} stores, {customers:,} fans, {orders:,} orders …")
        generate_demo_brand(
            stores=stores,
            customers=customers,
            orders=orders,
            seed=seed,
            today=today,
            progress=False,
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE customers_order")
            cursor.execute("VACUUM ANALYZE customers_customer")
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('customers_order'))")
            size = cursor.fetchone()[0]
        self.stdout.write(
            f"data ready in {time.perf_counter() - started:.1f} s (orders table {size})"
        )

    def _bench_url(self) -> str:
        url = os.environ.get("DATABASE_URL", "")
        if url:
            parts = urlsplit(url)
            return urlunsplit(parts._replace(path="/" + BENCH_DB))
        s = connection.settings_dict
        return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{BENCH_DB}"

    # --- child: timings ---------------------------------------------------------------------

    def measure(self, *, today: date) -> None:
        from django.db import transaction

        from segmentation.models import RelabelRun
        from segmentation.selectors import cutoffs
        from segmentation.services import PG_JOB_SETTINGS, relabel

        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM customers_order")
            n_orders = cursor.fetchone()[0]
            cursor.execute("SELECT COUNT(*) FROM customers_customer")
            n_fans = cursor.fetchone()[0]
        self.stdout.write(
            f"{n_fans:,} fans, {n_orders:,} orders; PostgreSQL {connection.pg_version}"
        )

        floors = []
        for _ in range(2):  # the first pass also warms the cache for everything after it
            with transaction.atomic(), connection.cursor() as cursor:
                for statement in PG_JOB_SETTINGS:
                    cursor.execute(statement)
                started = time.perf_counter()
                cursor.execute(FLOOR_SQL, cutoffs(as_of=today))
                floors.append(time.perf_counter() - started)
                cursor.execute("DROP TABLE bench_floor")
        floor = min(floors)
        self.stdout.write(
            f"floor: bare GROUP BY into a temp table   {floor:6.2f} s  (runs: {', '.join(f'{f:.2f}' for f in floors)})"
        )

        for label, as_of in (
            ("relabel #1 (insert every row)", today),
            ("relabel #2 (next night, update)", today + timedelta(days=1)),
        ):
            started = time.perf_counter()
            run = relabel(as_of=as_of)
            total = time.perf_counter() - started
            if run.status != RelabelRun.Status.SUCCEEDED:
                raise CommandError(f"{label}: {run.status} {run.error}")
            phases = "  ".join(f"{k} {v:.2f}" for k, v in run.timings.items() if k != "total")
            changed = sum(sum(c.values()) for c in run.change_counts.values())
            self.stdout.write(
                f"{label}: {total:6.2f} s = {total / floor:4.2f} × floor  [{phases}]  "
                f"{run.fans_labelled:,} fans, {changed:,} changes"
            )
        self.stdout.write(f"peak memory (maxrss of the measuring process): {_peak_mb():,.0f} MB")
        self.stdout.write(f"settings: TIME_ZONE={settings.TIME_ZONE}")
