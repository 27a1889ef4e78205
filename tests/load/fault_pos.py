"""Fault test: retrying POS clients post orders while gunicorn workers are SIGKILLed.

20 clients each own a slice of --orders external ids and post every order until the server
answers 200 or 201 (any error, reset or timeout is retried with the same body); a killer sends
SIGKILL to a random gunicorn worker every --kill-every seconds (the master respawns it). At the
end the orders in the database must equal the clients' ledger: 0 missing, 0 duplicated, 0 extra.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fanops_load DEBUG=1 \\
        .venv/bin/python tests/load/fault_pos.py --clients 20 --orders 2000 --kill-every 3

`tests/load/test_fault.py` runs a shorter form in `make test` (PostgreSQL only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fanops.settings")


@dataclass
class FaultResult:
    ledger: set[str] = field(default_factory=set)
    attempts: int = 0
    retries: int = 0
    kills: int = 0
    unexpected: list[str] = field(default_factory=list)
    in_db: int = 0
    distinct_in_db: int = 0
    missing: int = 0
    extra: int = 0
    elapsed: float = 0.0
    unmasked_phones: int = 0

    @property
    def duplicated(self) -> int:
        return self.in_db - self.distinct_in_db

    def ok(self) -> bool:
        return not (
            self.missing or self.extra or self.duplicated or self.unexpected or self.unmasked_phones
        )

    def lines(self) -> list[str]:
        return [
            f"orders confirmed (ledger): {len(self.ledger)} in {self.elapsed:.1f}s; "
            f"attempts {self.attempts}, retries {self.retries}, workers killed {self.kills}",
            f"orders in database: {self.in_db} ({self.distinct_in_db} distinct external ids)",
            f"missing: {self.missing}, duplicated: {self.duplicated}, not in ledger: {self.extra}",
            f"unexpected answers: {len(self.unexpected)} {self.unexpected[:5]}",
            f"unmasked phones in the server log: {self.unmasked_phones}",
        ]


def run_fault(
    *,
    database_url: str,
    clients: int = 20,
    orders: int = 2000,
    kill_every: float = 3.0,
    workers: int = 4,
    store_code: str = "FAULT1",
    time_limit: float = 300.0,
    log_path: Path = Path("/tmp/fanops-fault-gunicorn.log"),
) -> FaultResult:
    """Run the fault scenario; the Django settings must already point at `database_url`."""
    import httpx

    from customers.models import Order
    from tests.load.harness import Server, order_body, setup_store

    keys = setup_store(code=store_code, clients=clients)
    tag = uuid.uuid4().hex[:8]
    result = FaultResult()
    server = Server(database_url=database_url, workers=workers, log_path=log_path)
    server.start()
    stop = asyncio.Event()

    async def client(n: int) -> None:
        rng = random.Random(n)
        mine = [f"F{tag}-{i}" for i in range(n, orders, clients)]
        headers = {"Authorization": f"Token {keys[n]}"}
        limits = httpx.Limits(max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=10, limits=limits
        ) as http:
            for external_id in mine:
                body = order_body(
                    external_id, f"134{rng.randrange(10**8):08d}", rng.randrange(100, 100_000)
                )
                while not stop.is_set():
                    result.attempts += 1
                    try:
                        response = await http.post("/api/v1/orders/", json=body)
                    except httpx.HTTPError:
                        result.retries += 1
                        await asyncio.sleep(0.05)
                        continue
                    if response.status_code in (200, 201):
                        result.ledger.add(external_id)
                        break
                    if response.status_code >= 500:
                        result.retries += 1
                        await asyncio.sleep(0.05)
                        continue
                    result.unexpected.append(f"{response.status_code}: {response.text[:120]}")
                    break

    async def killer() -> None:
        rng = random.Random(99)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=kill_every)
            except TimeoutError:
                if server.kill_a_worker(rng) is not None:
                    result.kills += 1

    async def scenario() -> None:
        kill_task = asyncio.create_task(killer())
        try:
            await asyncio.wait_for(
                asyncio.gather(*(client(i) for i in range(clients))), timeout=time_limit
            )
        finally:
            stop.set()
            await kill_task

    started = time.monotonic()
    try:
        asyncio.run(scenario())
    finally:
        result.elapsed = time.monotonic() - started
        server.stop()
    written = list(
        Order.objects.filter(
            store__code=store_code, external_id__startswith=f"F{tag}-"
        ).values_list("external_id", flat=True)
    )
    result.in_db = len(written)
    result.distinct_in_db = len(set(written))
    result.missing = len(result.ledger - set(written))
    result.extra = len(set(written) - result.ledger)
    result.unmasked_phones = len(server.unmasked_phones_in_log())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    import django

    django.setup()
    result = run_fault(
        database_url=os.environ["DATABASE_URL"],
        clients=args.clients,
        orders=args.orders,
        kill_every=args.kill_every,
        workers=args.workers,
    )
    print("\n".join(result.lines()))
    print("OK: ledger == database" if result.ok() else "FAILED")
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
