"""What every phase of the relabel job shares: its PostgreSQL settings, its timer and its
checkpoints (the hook the fault tests use)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

Progress = Callable[[str, float], None]

# Measured at 1M fans / 10M orders: without these the aggregate is sort-based (≈ 20 s), JIT
# compilation adds seconds to every big statement, and the switch scans every labels row to
# update the few thousand staged ones (the tables are cached: a random read costs little more
# than a sequential one).
PG_JOB_SETTINGS = (
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL random_page_cost = 1.1",
)
# Test hook: FANOPS_RELABEL_PAUSE="switch:30" sleeps 30 s inside that phase (kill -9 tests).
PAUSE_ENV = "FANOPS_RELABEL_PAUSE"


def checkpoint(phase: str) -> None:
    """Called as each phase ends; tests patch it to inject failures or pause via PAUSE_ENV."""
    pause = os.environ.get(PAUSE_ENV, "")
    if pause.partition(":")[0] == phase:
        print(f"relabel paused at {phase}", file=sys.stderr, flush=True)
        time.sleep(float(pause.partition(":")[2] or 30))


@contextmanager
def job_transaction() -> Iterator[None]:
    """A transaction with the job's PostgreSQL settings (SET LOCAL ends with it)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for statement in PG_JOB_SETTINGS:
                    cursor.execute(statement)
        yield


class Timer:
    """Seconds per phase (`RelabelRun.timings`); each phase ends at a checkpoint."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - started, 3)
        checkpoint(name)
        if self.progress:
            self.progress(name, self.timings[name])

    def total(self) -> float:
        return round(time.perf_counter() - self._started, 3)
