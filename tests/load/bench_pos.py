"""POS load benchmark: 20 concurrent POS devices against gunicorn + PostgreSQL.

Each client loops for --duration seconds: look a member up by phone (`POST /customers/lookup/`,
the phone in the body), then post an order for her (`POST /orders/`; a new phone registers the
fan). Prints orders/s, p50/p95/p99 per request kind, errors, whether the orders in the database
equal the 201 answers, and whether the server log holds any unmasked phone number.

    createdb -h 127.0.0.1 -U postgres fanops_load
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fanops_load DEBUG=1 \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fanops_load DEBUG=1 \\
        .venv/bin/python tests/load/bench_pos.py --clients 20 --duration 60 --workers 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fanops.settings")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument(
        "--fans", type=int, default=5000, help="distinct phones the clients draw from"
    )
    parser.add_argument("--store", default="LOAD1")
    parser.add_argument(
        "--app",
        default="fanops.wsgi:application",
        help="the WSGI app; tests.load.floor_app:application measures the floor",
    )
    args = parser.parse_args()

    import django

    django.setup()
    import httpx
    from django.conf import settings

    from customers.models import Order
    from tests.load.harness import Server, order_body, setup_store, summarize

    database_url = os.environ["DATABASE_URL"]
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        print("warning: the benchmark is meant for PostgreSQL", file=sys.stderr)
    keys = setup_store(code=args.store, clients=args.clients)
    run_tag = uuid.uuid4().hex[:8]
    before = Order.objects.filter(store__code=args.store).count()
    server = Server(database_url=database_url, workers=args.workers, app=args.app)
    server.start()
    stats = {
        "lookup": [],
        "order": [],
        "created": 0,
        "replayed": 0,
        "found": 0,
        "not_found": 0,
        "errors": [],
    }

    async def client(n: int) -> None:
        rng = random.Random(n)
        headers = {"Authorization": f"Token {keys[n]}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
            await http.post("/api/v1/customers/lookup/", json={"phone": "13400000000"})  # warm-up
            await warmed.wait()
            deadline = time.monotonic() + args.duration
            seq = 0
            while time.monotonic() < deadline:
                phone = f"135{rng.randrange(args.fans):08d}"
                start = time.perf_counter()
                try:
                    lookup = await http.post("/api/v1/customers/lookup/", json={"phone": phone})
                except httpx.HTTPError as exc:
                    stats["errors"].append(f"lookup: {type(exc).__name__}")
                    continue
                stats["lookup"].append(time.perf_counter() - start)
                if lookup.status_code == 200:
                    stats["found"] += 1
                elif lookup.status_code == 404:
                    stats["not_found"] += 1
                else:
                    stats["errors"].append(f"lookup {lookup.status_code}")
                seq += 1
                body = order_body(f"L{run_tag}-{n}-{seq}", phone, rng.randrange(100, 500_000))
                start = time.perf_counter()
                try:
                    response = await http.post("/api/v1/orders/", json=body)
                except httpx.HTTPError as exc:
                    stats["errors"].append(f"order: {type(exc).__name__}")
                    continue
                stats["order"].append(time.perf_counter() - start)
                if response.status_code == 201:
                    stats["created"] += 1
                elif response.status_code == 200:
                    stats["replayed"] += 1
                else:
                    stats["errors"].append(f"order {response.status_code}: {response.text[:200]}")

    clock = {}

    async def scenario() -> None:
        nonlocal warmed
        warmed = asyncio.Event()
        tasks = [asyncio.create_task(client(i)) for i in range(args.clients)]
        await asyncio.sleep(0)
        await asyncio.sleep(3)  # every worker serves a first request before the clock starts
        clock["start"] = time.monotonic()
        warmed.set()
        await asyncio.gather(*tasks)
        clock["end"] = time.monotonic()

    warmed: asyncio.Event
    try:
        asyncio.run(scenario())
    finally:
        server.stop()
    elapsed = clock["end"] - clock["start"]
    in_db = Order.objects.filter(store__code=args.store).count() - before
    phones = server.unmasked_phones_in_log()
    print(f"clients={args.clients} duration={elapsed:.1f}s gunicorn workers={args.workers}")
    print(
        f"orders: {stats['created']} created ({stats['created'] / elapsed:.1f} orders/s), {stats['replayed']} replays"
    )
    print(f"lookups: {stats['found']} found, {stats['not_found']} not found")
    print(summarize("lookup latency", stats["lookup"]))
    print(summarize("order latency", stats["order"]))
    print(f"errors: {len(stats['errors'])} {stats['errors'][:5]}")
    print(
        f"orders in database: {in_db} (201 answers: {stats['created']}) -> {'EQUAL' if in_db == stats['created'] else 'DIFFERENT'}"
    )
    print(f"unmasked phones in the server log: {len(phones)}")
    return 0 if not stats["errors"] and in_db == stats["created"] and not phones else 1


if __name__ == "__main__":
    sys.exit(main())
