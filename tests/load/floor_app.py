"""The POS load's floor: the same work as FanOps' lookup and order, done the simplest way.

A bare WSGI app on one psycopg2 connection per worker, no Django: the token's SHA-256 looked up,
the fan's row read by phone; for an order, the fan inserted when new (with her labels row), the
order inserted and her labels row updated from her orders, in one transaction. No validation
beyond parsing, no idempotency answers, no logging. `bench_pos.py --app
tests.load.floor_app:application` serves it with the same gunicorn and clients, so the two
figures compare the framework and the rules with nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import urlparse

import psycopg2

_connection = None
_BLANK = ["top_size", "bottom_size", "shoe_size", "favourite_colours", "notes", "wechat_id",
          "wechat_remark", "zodiac", "birthday_month", "distance", "gender", "birth_calendar",
          "city", "consumption_notes", "body_shape", "skin_tone"]  # fmt: skip
FAN_INSERT = (
    "INSERT INTO customers_customer (store_id, phone, name, birth_is_leap_month,"
    f" is_opinion_leader, do_not_contact, created_at, updated_at, {', '.join(_BLANK)})"
    " VALUES (%s, %s, %s, false, false, false, now(), now()"
    + ", ''" * len(_BLANK)
    + ") RETURNING id"
)
LABELS_INSERT = (
    "INSERT INTO segmentation_customerlabels (customer_id, frequency, monetary, lifetime_sales,"
    " apple, rfm_segment, r_stage, membership, rhythm, remark_store_account,"
    " remark_personal_account, window_sales_cents, window_refund_cents)"
    " VALUES (%s, 0, 0, 0, 'green', '', '', '', '', '', '', 0, 0)"
)


def _db():
    global _connection
    if _connection is None or _connection.closed:
        url = urlparse(os.environ["DATABASE_URL"])
        _connection = psycopg2.connect(
            host=url.hostname, port=url.port or 5432, user=url.username, dbname=url.path[1:]
        )
    return _connection


def _answer(start_response, status: str, body: dict) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def _store_of(cursor, environ) -> int | None:
    key = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Token ")
    cursor.execute(
        "SELECT store_id FROM customers_postoken WHERE key_hash = %s AND is_active",
        [hashlib.sha256(key.encode()).hexdigest()],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def application(environ, start_response):
    body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    connection = _db()
    with connection, connection.cursor() as cursor:
        store_id = _store_of(cursor, environ)
        if store_id is None:
            return _answer(start_response, "401 Unauthorized", {"detail": "token"})
        if environ["PATH_INFO"] == "/api/v1/customers/lookup/":
            cursor.execute(
                "SELECT c.id, c.name, l.apple FROM customers_customer c LEFT JOIN "
                "segmentation_customerlabels l ON l.customer_id = c.id WHERE c.phone = %s",
                [body["phone"]],
            )
            row = cursor.fetchone()
            if row is None:
                return _answer(start_response, "404 Not Found", {"detail": "not found"})
            return _answer(
                start_response, "200 OK", {"id": row[0], "name": row[1], "apple": row[2]}
            )
        phone = body["customer"]["phone"]
        cursor.execute("SELECT id FROM customers_customer WHERE phone = %s", [phone])
        row = cursor.fetchone()
        if row is None:
            cursor.execute(FAN_INSERT, [store_id, phone, body["customer"].get("name", "")])
            row = cursor.fetchone()
            cursor.execute(LABELS_INSERT, row)
        cursor.execute(
            "INSERT INTO customers_order (store_id, customer_id, external_id, kind, amount,"
            " paid_at, payment_method, channel, created_at, updated_at) VALUES (%s, %s, %s,"
            " 'sale', %s, %s, %s, 'pos', now(), now()) RETURNING id",
            [store_id, row[0], body["external_id"], body["amount"], body["paid_at"],
             body.get("payment_method", "other")],
        )  # fmt: skip
        order_id = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE segmentation_customerlabels l SET lifetime_sales = a.n, frequency = a.n,"
            " monetary = a.total, last_sale = a.last::date, live_since = now() FROM (SELECT"
            " COUNT(*) AS n, SUM(amount) AS total, MAX(paid_at) AS last FROM customers_order"
            " WHERE customer_id = %s AND kind = 'sale') a WHERE l.customer_id = %s",
            [row[0], row[0]],
        )
    return _answer(start_response, "201 Created", {"id": order_id, "customer": row[0]})
