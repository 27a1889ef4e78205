"""Shared pieces of the POS load benchmark and the fault test: a gunicorn server, POS tokens,
asyncio clients (httpx) and the checks against the database.

The server is `gunicorn fanops.wsgi` with production settings (DEBUG=0) against the database of
DATABASE_URL; every client is one POS device with its own token, as in a shop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A gunicorn master with `workers` sync workers; its log goes to `log_path`."""

    database_url: str
    workers: int = 4
    app: str = "fanops.wsgi:application"  # tests.load.floor_app:application for the floor
    port: int = field(default_factory=free_port)
    log_path: Path = Path("/tmp/fanops-load-gunicorn.log")
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")}
        env.update(
            DATABASE_URL=self.database_url,
            DEBUG="0",
            SECRET_KEY="load-test-only",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            API_THROTTLE_RATE="1000000/min",  # the benchmark measures the server, not the throttle
            CONN_MAX_AGE="60",
            LOG_LEVEL="INFO",
        )
        return env

    def start(self, timeout: float = 30.0) -> None:
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                self.app,
                f"--workers={self.workers}",
                f"--bind=127.0.0.1:{self.port}",
                "--timeout=30",
                "--graceful-timeout=2",
                "--access-logfile=-",
                "--preload",  # workers fork with the app loaded: a killed worker is back at once
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited: see {self.log_path}") from None
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker_pids(self) -> list[int]:
        """The master's children (its workers), from /proc."""
        if self.process is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                pids.append(int(entry.name))
        return pids

    def kill_a_worker(self, rng: random.Random) -> int | None:
        pids = self.worker_pids()
        if not pids:
            return None
        pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()

    def unmasked_phones_in_log(self) -> list[str]:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return PHONE.findall(text)


def setup_store(*, code: str, clients: int) -> list[str]:
    """A store (made if missing) and one POS token per client; returns the raw keys."""
    from customers.models import PosToken, Store

    store, _ = Store.objects.get_or_create(
        code=code,
        defaults={
            "name": f"压测门店 {code}",
            "city": "杭州",
            "latitude": 30.2741,
            "longitude": 120.1551,
        },
    )
    return [PosToken.issue(store=store, name=f"load client {n}")[1] for n in range(clients)]


def order_body(external_id: str, phone: str, amount_cents: int) -> dict:
    return {
        "external_id": external_id,
        "customer": {"phone": phone, "name": "压测"},
        "paid_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 60)),
        "amount": f"{amount_cents / 100:.2f}",
        "payment_method": "card",
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(name: str, latencies: list[float]) -> str:
    if not latencies:
        return f"{name}: no requests"
    ms = [v * 1000 for v in latencies]
    return (
        f"{name}: n={len(ms)} p50={percentile(ms, 50):.1f} ms p95={percentile(ms, 95):.1f} ms "
        f"p99={percentile(ms, 99):.1f} ms mean={statistics.fmean(ms):.1f} ms"
    )


async def run_clients(n: int, client: Callable[[int], object]) -> None:
    await asyncio.gather(*(client(i) for i in range(n)))
