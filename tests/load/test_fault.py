"""The fault test in CI's short form: retrying POS clients vs SIGKILLed gunicorn workers.

20 clients post 300 orders while a worker is killed every 2 seconds; the database must equal
the clients' ledger (0 missing, 0 duplicated) and the server log must hold no unmasked phone.
The full run (2,000+ orders) is `tests/load/fault_pos.py`.
"""

import pytest
from django.db import connection

from tests.load.fault_pos import run_fault

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="gunicorn workers share PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

ORDERS = 600  # at ~95 orders/s on this machine: 6 s, room for 3 or more kills


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_orders_survive_killed_workers_with_no_loss_and_no_duplicate(tmp_path):
    result = run_fault(
        database_url=_database_url(),
        clients=20,
        orders=ORDERS,
        kill_every=1.5,
        workers=3,
        time_limit=55,
        log_path=tmp_path / "gunicorn.log",
    )
    assert result.kills >= 2, result.lines()
    assert len(result.ledger) == ORDERS, result.lines()
    assert (result.missing, result.duplicated, result.extra) == (0, 0, 0), result.lines()
    assert result.unexpected == [], result.lines()
    assert result.unmasked_phones == 0, result.lines()
