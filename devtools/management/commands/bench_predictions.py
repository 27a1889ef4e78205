"""`python manage.py bench_predictions [--as-of D] [--save FILE.npz]` (PostgreSQL, a big brand).

Times the nightly forecasts' steps (segmentation.forecasts) on a relabelled database, outside any
run and writing nothing: the purchase summary rebuilt from every sale (what a first or full run
does), the BG/NBD and Gamma-Gamma fits from scratch and from the last run's parameters (what a
night does), and the scores of every buyer. The fit's peak memory is numpy's (tracemalloc traces
its allocations). `--save` writes the summary's x, t_x, T and m so other libraries can be timed
on the same rows (docs/predictions.md).
"""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import date

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from segmentation import forecasts
from segmentation.selectors import cutoffs, last_run


class Command(BaseCommand):
    help = "Time the purchase summary, the BG/NBD + Gamma-Gamma fits and the scores at scale."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None)
        parser.add_argument("--save", default="", help="write x, t_x, T, m to this .npz file")

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_predictions needs PostgreSQL: set DATABASE_URL=postgres://…")
        run = last_run()
        if run is None:
            raise CommandError("relabel first: the bench reads the last run's summary and models")
        as_of = options["as_of"] or run.as_of
        with connection.cursor() as cursor:
            cursor.execute("SET jit = off")

        def timed(step, *args, **kwargs):
            started = time.perf_counter()
            value = step(*args, **kwargs)
            return value, time.perf_counter() - started

        params = {"end": cutoffs(as_of=run.as_of)["end"]}
        sales, read_s = timed(forecasts.sales_by_day, run=run, params=params)
        summary, summarise_s = timed(forecasts.summarise, sales)
        self.stdout.write(
            f"summary rebuilt from {len(sales):,} sales: {read_s + summarise_s:.2f} s "
            f"(read {read_s:.2f}, summed {summarise_s:.2f}); {len(summary):,} buyers"
        )
        del sales
        if options["save"]:
            np.savez(options["save"], **forecasts.inputs(summary, as_of=as_of))
            self.stdout.write(f"saved to {options['save']}")
        tracemalloc.start()
        cold, cold_s = timed(forecasts.fit, summary, as_of=as_of)
        _, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        last = forecasts.last_models(run)
        warm_s = timed(forecasts.fit, summary, as_of=as_of, last=last)[1] if last else None
        scores, score_s = timed(forecasts.score, summary, as_of=as_of, models=cold)
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
        warm = f"{warm_s:.2f} s" if warm_s is not None else "— (the last run fitted nothing)"
        self.stdout.write(
            f"fit from scratch {cold_s:.2f} s (peak {fit_peak / 2**20:,.0f} MB traced) "
            f"{cold.as_json()}\n"
            f"fit from the last run's parameters {warm}\n"
            f"scores of {len(scores):,} buyers {score_s:.2f} s: mean p_alive "
            f"{scores['p_alive'].mean():.3f}, purchases in 90 days "
            f"{scores['expected_purchases_90d'].sum():,.0f}, 12-month value "
            f"{scores['clv_12m'].sum():,.0f} yuan; due soon "
            f"{(scores['forecast'] == 'due_soon').sum():,}, at risk "
            f"{(scores['forecast'] == 'at_risk').sum():,}\n"
            f"fit + score: {cold_s + score_s:.2f} s from scratch"
            + (f", {warm_s + score_s:.2f} s nightly" if warm_s is not None else "")
            + f"; load {load}"
        )
