"""`python manage.py bench_predictions [--as-of D] [--save FILE.npz]` (PostgreSQL, a big brand).

Times the per-fan purchase summary in SQL (sale days counted per local day: x = days − 1,
t_x = last − first day, T = as_of − first day, m = mean of the repeat days' amounts), then the
BG/NBD and Gamma-Gamma fits of `segmentation.predictions` and the predictions for every buyer
(p_alive, expected purchases in 90 and 365 days, 12-month value). `--save` writes the summary so
other libraries can be timed on the same rows (docs/predictions.md).
"""

from __future__ import annotations

import os
import resource
import time
from datetime import date, timedelta

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from fanops import bulk
from segmentation.predictions import fit_bgnbd, fit_gamma_gamma
from segmentation.selectors import last_run, local_day_start

SUMMARY_SQL = """
    WITH days AS (
        SELECT customer_id, (paid_at AT TIME ZONE %(tz)s)::date AS day, SUM(amount) AS amount
          FROM customers_order
         WHERE kind = 'sale' AND paid_at < %(end)s
         GROUP BY 1, 2
    )
    SELECT CAST(customer_id AS BIGINT) AS customer_id,
           CAST(COUNT(*) - 1 AS BIGINT) AS x,
           CAST(MAX(day) - MIN(day) AS BIGINT) AS t_x,
           CAST(%(as_of)s::date - MIN(day) AS BIGINT) AS t,
           CAST(ROUND(100 * (SUM(amount) - (ARRAY_AGG(amount ORDER BY day))[1])) AS BIGINT) AS repeat_cents
      FROM days
     GROUP BY customer_id
"""
COLUMNS = [("customer_id", "int64"), ("x", "int64"), ("t_x", "int64"), ("t", "int64"),
           ("repeat_cents", "int64")]  # fmt: skip


class Command(BaseCommand):
    help = "Time the per-fan summary and the BG/NBD + Gamma-Gamma fit and predictions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None)
        parser.add_argument("--save", default="", help="write the summary to this .npz file")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_predictions needs PostgreSQL: set DATABASE_URL=postgres://…")
        run = last_run()
        as_of = options["as_of"] or (run.as_of if run else None)
        if as_of is None:
            raise CommandError("give --as-of (no relabel run to take it from)")
        params = {
            "tz": settings.TIME_ZONE,
            "end": local_day_start(as_of + timedelta(days=1)),
            "as_of": as_of,
        }
        started = time.perf_counter()
        frame = bulk.read_frame(SUMMARY_SQL, params, COLUMNS)
        summary_s = time.perf_counter() - started
        x, t_x, T = (frame[c].to_numpy().astype("float64") for c in ("x", "t_x", "t"))
        m = np.where(x > 0, frame["repeat_cents"].to_numpy() / 100 / np.maximum(x, 1), np.nan)
        self.stdout.write(f"summary of {len(frame):,} buyers as of {as_of}: {summary_s:.2f} s")
        if options["save"]:
            np.savez(options["save"], x=x, t_x=t_x, T=T, m=m)
            self.stdout.write(f"saved to {options['save']}")
        started = time.perf_counter()
        bgnbd = fit_bgnbd(x, t_x, T)
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        spend = fit_gamma_gamma(x, m)
        gg_s = time.perf_counter() - started
        started = time.perf_counter()
        p_alive = bgnbd.p_alive(x, t_x, T)
        in_90 = bgnbd.expected_purchases(90.0, x, t_x, T)
        in_365 = bgnbd.expected_purchases(365.0, x, t_x, T)
        clv = in_365 * spend.expected_spend(x, m)
        predict_s = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        self.stdout.write(
            f"BG/NBD fit {fit_s:.2f} s {bgnbd.as_dict()}\n"
            f"Gamma-Gamma fit {gg_s:.2f} s {spend.as_dict()}\n"
            f"predictions for {len(x):,} buyers {predict_s:.2f} s: mean p_alive {p_alive.mean():.3f},"
            f" purchases in 90 days {in_90.sum():,.0f}, in 365 days {in_365.sum():,.0f},"
            f" 12-month value {clv.sum():,.0f} yuan; peak RSS {peak:,.0f} MB; load {load}"
        )
