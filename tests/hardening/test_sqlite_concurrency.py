"""Issue 12 item 12: the embedded SQLite default serves concurrent writers without "database is
locked" 500s (WAL, IMMEDIATE transactions, a busy timeout).

Runs a child process on a fresh SQLite file (the test database is in memory and one connection),
where 12 threads post orders at once through the API, each on its own connection.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THREADS = 12

SCRIPT = r"""
import json, sys, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client

call_command("migrate", verbosity=0)
from customers.models import PosToken, Store

store = Store.objects.create(code="S001", name="湖滨店", city="杭州")
key = PosToken.issue(store=store, name="front desk")[1]
connection.close()
threads = int(sys.argv[1])

def order(n, identical):
    external_id = "POS-1" if identical else f"POS-{n + 100}"
    return {
        "external_id": external_id,
        "customer": {"phone": "13900139000", "name": "王小丽"},
        "paid_at": "2026-11-15T12:00:00+08:00",
        "amount": "599.00",
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price": "599.00"}],
    }

def at_once(identical):
    barrier, statuses = threading.Barrier(threads), []

    def post(n):
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {key}")
        body = json.dumps(order(n, identical))
        barrier.wait()
        response = client.post("/api/v1/orders/", body, content_type="application/json")
        statuses.append(response.status_code)
        connection.close()

    workers = [threading.Thread(target=post, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sorted(statuses)

print(json.dumps({"identical": at_once(True), "different": at_once(False)}))
"""


@pytest.fixture(scope="module")
def concurrent_orders(tmp_path_factory) -> dict[str, list[int]]:
    """Statuses of 12 identical orders posted at once, then of 12 different ones."""
    tmp_path = tmp_path_factory.mktemp("sqlite")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fanops.sqlite3'}",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "fanops.settings",
    }
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(THREADS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_twelve_concurrent_identical_orders_on_sqlite_are_one_sale_and_eleven_replays(
    concurrent_orders,
):
    assert concurrent_orders["identical"] == [200] * (THREADS - 1) + [201]


@pytest.mark.slow
def test_twelve_concurrent_different_orders_on_sqlite_are_all_recorded(concurrent_orders):
    assert concurrent_orders["different"] == [201] * THREADS


def test_the_sqlite_default_uses_wal_and_immediate_transactions_with_a_busy_timeout():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    code = (
        "import django; django.setup(); from django.conf import settings; import json; "
        "print(json.dumps(settings.DATABASES['default']['OPTIONS']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "fanops.settings", "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    options = json.loads(run.stdout.strip().splitlines()[-1])
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] >= 5
    assert "journal_mode=WAL" in options["init_command"]
