"""`python manage.py bench_relabel --customers N --orders N [--stores S] [--keep]` (PostgreSQL).

Builds a demo brand (`devtools.demo.generate_demo_brand`) in a scratch database `fanops_bench`
on the same server, then in a fresh child process (so peak memory is the relabel's, not the
generator's), one process per step, times:
- the floor: a bare `GROUP BY customer_id` over the same orders into a temp table;
- relabel #1 (on a new database: every labels row is inserted, every remark name computed);
- relabel #2 for the next day, after a day of POS sales arrived (the nightly case: only the
  fans whose orders moved are read from the orders, only rows whose labels moved rewritten);
- relabel #3 for that day again with `full=True` (the weekly recompute from every order, with
  the drift check), each phase by phase;
and prints each step's peak memory, client CPU time, the load average and the ratio of the
relabel to the floor. Drops the database unless `--keep` (or `--reuse`: measure a kept one).
`--reuse --first-run`: the floor and relabel #1 only, on a kept database whose labels, runs and
label changes are emptied first (a first run again, without the rebuild).
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
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction

from customers.models import CustomerLabels
from devtools.demo import generate_demo_brand
from followups.receivers import generation_paused
from segmentation.models import LabelChange, RelabelRun, StoreLabelling
from segmentation.selectors import cutoffs, local_day_start
from segmentation.services import PG_JOB_SETTINGS, relabel

BENCH_DB = "fanops_bench"
FLOOR_SQL = """
    CREATE TEMP TABLE bench_floor AS
    SELECT customer_id, COUNT(*) AS n, SUM(amount) AS total, MAX(paid_at) AS last_paid
      FROM customers_order
     WHERE paid_at < %(end)s
     GROUP BY customer_id
"""
# A day of POS sales before the nightly run: one sale each for `percent` % of the fans, the same
# fans on every run (REPEATABLE), at noon of the new day; rerunning adds nothing.
NEXT_DAY_SALES_SQL = """
    INSERT INTO customers_order (created_at, updated_at, external_id, kind, amount, paid_at,
                                 payment_method, channel, customer_id, guide_id, store_id)
    SELECT now(), now(), 'BENCH-' || %(day)s || '-' || c.id, 'sale',
           100 + (c.id %% 900), %(paid_at)s, 'card', 'pos', c.id, c.guide_id, c.store_id
      FROM customers_customer c TABLESAMPLE BERNOULLI (%(percent)s) REPEATABLE (42)
    ON CONFLICT DO NOTHING
"""


def _peak_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM: unlike ru_maxrss, not inherited from
    the parent across exec; falls back to ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
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
        parser.add_argument(
            "--reuse", action="store_true", help="measure on a kept scratch database"
        )
        parser.add_argument(
            "--first-run",
            action="store_true",
            help="with --reuse: empty the labels and runs, then time the floor and relabel #1",
        )
        parser.add_argument(
            "--database", default=BENCH_DB, help=f"scratch database (default {BENCH_DB})"
        )
        parser.add_argument(
            "--measure", choices=["floor", "first", "second", "full"], help="(internal)"
        )
        parser.add_argument("--floor", type=float, default=0.0, help="(internal) floor in seconds")

    def handle(self, *args, **options) -> None:
        self.database = options["database"]
        if not self.database.isidentifier():
            raise CommandError("--database must be a plain identifier")
        if connection.vendor != "postgresql":
            raise CommandError("bench_relabel needs PostgreSQL: set DATABASE_URL=postgres://…")
        if options["measure"]:
            self.measure(
                today=options["today"], step=options["measure"], floor=options["floor"] or 1.0
            )
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
                cursor.execute(f"DROP DATABASE IF EXISTS {self.database}")
                cursor.execute(f"CREATE DATABASE {self.database}")
        main_name = connection.settings_dict["NAME"]
        try:
            connection.close()
            connection.settings_dict["NAME"] = self.database
            if options["reuse"]:  # a database kept by an older version may need migrating
                call_command("migrate", verbosity=0, skip_checks=True)
                if options["first_run"]:
                    self.forget_runs()
            else:
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
            floor = 0.0
            steps = (
                ("floor", "first") if options["first_run"] else ("floor", "first", "second", "full")
            )
            for step in steps:
                command = [sys.executable, sys.argv[0], "bench_relabel", "--measure", step]
                command += ["--today", options["today"].isoformat(), "--floor", str(floor)]
                result = subprocess.run(
                    command, env=env, check=False, capture_output=True, text=True
                )
                for line in result.stdout.splitlines():
                    if line.startswith("FLOOR "):
                        floor = float(line.split()[1])
                    else:
                        self.stdout.write(line)
                if result.returncode:
                    self.stderr.write(result.stderr[-3000:])
                    raise CommandError(f"measurement step {step} failed ({result.returncode})")
        finally:
            connections.close_all()
            connection.settings_dict["NAME"] = main_name
            if not keep:
                with admin.cursor() as cursor:
                    cursor.execute(f"DROP DATABASE IF EXISTS {self.database}")
                self.stdout.write(f"dropped {self.database}")
            admin.close()

    def build(self, *, customers: int, orders: int, stores: int, seed: int, today: date) -> None:
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

    def forget_runs(self) -> None:
        """Back to before relabel #1: no labels row, run, label change or labelling date (and
        what hangs off the runs: follow-ups made from them)."""
        tables = [
            CustomerLabels._meta.db_table,
            LabelChange._meta.db_table,
            StoreLabelling._meta.db_table,
            RelabelRun._meta.db_table,
        ]
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            cursor.execute(f"VACUUM ANALYZE {CustomerLabels._meta.db_table}")
        self.stdout.write("emptied the labels, runs and label changes: relabel #1 is a first run")

    def _bench_url(self) -> str:
        url = os.environ.get("DATABASE_URL", "")
        if url:
            parts = urlsplit(url)
            return urlunsplit(parts._replace(path="/" + self.database))
        s = connection.settings_dict
        return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{self.database}"

    # --- child: timings ---------------------------------------------------------------------

    def add_next_day_sales(self, day: date) -> None:
        """As many sales as an average day of the brand's orders, paid on `day`."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*), MAX(paid_at) - MIN(paid_at), (SELECT COUNT(*) FROM customers_customer)"
                " FROM customers_order WHERE external_id NOT LIKE 'BENCH-%%'"
            )
            orders, span, fans = cursor.fetchone()
            per_day = orders / max(span.days, 1)
            params = {
                "day": day.isoformat(),
                "paid_at": local_day_start(day) + timedelta(hours=12),
                "percent": min(100.0, 100.0 * per_day / max(fans, 1)),
            }
            cursor.execute(NEXT_DAY_SALES_SQL, params)
            self.stdout.write(f"a day of sales for {day}: {cursor.rowcount:,} new orders")

    def measure(self, *, today: date, step: str, floor: float) -> None:
        """One step in this (fresh) process: the floor, or relabel #1 / #2 (labels as_of today /
        the next day); prints wall time, CPU time of this process, peak RSS and the load."""
        load = "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
        if step == "floor":
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
            runs = ", ".join(f"{f:.2f}" for f in floors)
            self.stdout.write(
                f"floor: bare GROUP BY into a temp table  {min(floors):6.2f} s  (runs: {runs}; {load})"
            )
            self.stdout.write(f"FLOOR {min(floors):.3f}")
            return
        as_of = today if step == "first" else today + timedelta(days=1)  # second and full
        if step == "second":
            self.add_next_day_sales(as_of)
            with connection.cursor() as cursor:  # as the last night's autovacuum would have
                cursor.execute("VACUUM ANALYZE segmentation_customerlabels")
        kind = "nightly" if StoreLabelling.objects.exists() else "first: every row inserted"
        if step == "full":
            kind = "weekly: every order read, drift checked"
        started = time.perf_counter()
        with generation_paused():  # the relabel alone (bench_follow_ups times what follows it)
            run = relabel(as_of=as_of, full=step == "full")
        total = time.perf_counter() - started
        if run.status != RelabelRun.Status.SUCCEEDED:
            raise CommandError(f"relabel: {run.status} {run.error}")
        usage = resource.getrusage(resource.RUSAGE_SELF)
        phases = "  ".join(f"{k} {v:.2f}" for k, v in run.timings.items() if k != "total")
        changed = sum(sum(c.values()) for c in run.change_counts.values())
        self.stdout.write(
            f"relabel as of {as_of} ({kind}): {total:6.2f} s = {total / floor:4.2f} × floor"
            f"  [{phases}]  {run.fans_labelled:,} fans, {run.rows_written:,} rows written,"
            f" {changed:,} changes, mode {run.mode}, drift {run.drift.get('fans', 0)};"
            f" client CPU {usage.ru_utime + usage.ru_stime:.1f} s, peak RSS {_peak_mb():,.0f} MB; {load}"
        )
