"""fanops.bulk: frames in and out of the database, staging tables and advisory locks, with the
same results on PostgreSQL (COPY) and SQLite (the fallback)."""

from datetime import date

import numpy as np
import pandas as pd
import pytest
from django.db import connection, transaction

from fanops import bulk
from segmentation.models import RelabelRun
from tests.segmentation.helpers import lock_held_elsewhere

COLUMNS = [
    ("id", "bigint PRIMARY KEY"),
    ("name", "varchar(40) NOT NULL"),
    ("note", "varchar(40)"),
    ("guide_id", "bigint"),
    ("flag", "boolean NOT NULL"),
    ("day", "date"),
    ("amount", "double precision"),
]
READ = "SELECT id, name, note, guide_id, flag, day, amount FROM bulk_test ORDER BY id"


def sample() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "name": ['a, "quoted"\nline', "", "\\N"],
            "note": ["x", None, "z"],
            "guide_id": pd.array([7, None, 9], dtype="Int64"),
            "flag": [True, False, True],
            "day": pd.to_datetime(["2026-01-31", None, "2026-02-01"]),
            "amount": [1.5, np.nan, 3.0],
        }
    )


def rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(READ)
        return [
            (i, name, note, guide, bool(flag), str(day) if day else None, amount)
            for i, name, note, guide, flag, day, amount in cursor.fetchall()
        ]


EXPECTED = [
    (1, 'a, "quoted"\nline', "x", 7, True, "2026-01-31", 1.5),
    (2, "", None, None, False, None, None),
    (3, "\\N", "z", 9, True, "2026-02-01", 3.0),
]


@pytest.mark.parametrize("chunk", [100, 1])  # one chunk, or one per row (the formatting thread)
def test_copy_frame_writes_text_nulls_integers_booleans_and_dates_exactly(db, chunk):
    with bulk.staged("bulk_test", COLUMNS, sample(), chunk=chunk, date_format="%Y-%m-%d"):
        assert rows() == EXPECTED


def test_copy_frame_returns_the_row_count_and_writes_nothing_for_an_empty_frame(db):
    with bulk.staged("bulk_test", COLUMNS), connection.cursor() as cursor:
        assert bulk.copy_frame(cursor, "bulk_test", sample().iloc[:0]) == 0
        assert bulk.copy_frame(cursor, "bulk_test", sample(), force_not_null=["name"]) == 3
        cursor.execute("SELECT COUNT(*) FROM bulk_test")
        assert cursor.fetchone()[0] == 3


def test_read_frame_types_integers_floats_and_text(db):
    with bulk.staged("bulk_test", COLUMNS, sample(), date_format="%Y-%m-%d"):
        integers = bulk.read_frame(
            "SELECT id, CAST(COALESCE(guide_id, -1) AS BIGINT) FROM bulk_test ORDER BY id",
            [],
            [("id", "int64"), ("guide_id", "int64")],
        )
        mixed = bulk.read_frame(
            "SELECT id, note, amount FROM bulk_test WHERE id >= %s ORDER BY id",
            [2],
            [("id", "int64"), ("note", str), ("amount", "float64")],
        )
    assert integers["guide_id"].tolist() == [7, -1, 9]
    assert integers.dtypes.tolist() == [np.dtype("int64")] * 2
    assert mixed["note"].tolist() == ["", "z"]  # NULL text reads as ''
    assert np.isnan(mixed["amount"][0]) and mixed["amount"][1] == 3.0
    assert mixed["id"].dtype == np.dtype("int64")


def test_read_frame_of_no_rows_is_typed(db):
    frame = bulk.read_frame(
        "SELECT id, name FROM customers_store WHERE 1 = 0", [], [("id", "int64"), ("name", str)]
    )
    assert len(frame) == 0 and frame["id"].dtype == np.dtype("int64")


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = %s"
            if connection.vendor == "postgresql"
            else "SELECT COUNT(*) FROM sqlite_temp_master WHERE name = %s",
            [name],
        )
        return bool(cursor.fetchone()[0])


def test_a_staging_table_is_dropped_after_the_block(db):
    with bulk.staged("bulk_test", COLUMNS, sample()):
        assert table_exists("bulk_test")
    assert not table_exists("bulk_test")


def test_a_staging_table_is_dropped_when_the_block_fails(db):
    with pytest.raises(RuntimeError), bulk.staged("bulk_test", COLUMNS, sample()):
        raise RuntimeError("boom")
    assert not table_exists("bulk_test")


def test_a_database_error_inside_a_transaction_is_not_masked_by_the_drop(db):
    with (
        pytest.raises(Exception, match="bulk_missing"),
        transaction.atomic(),
        bulk.staged("bulk_test", COLUMNS, sample()),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT * FROM bulk_missing")
    assert not table_exists("bulk_test")


def test_an_advisory_lock_is_refused_at_once_while_another_session_holds_it(db):
    with lock_held_elsewhere(), bulk.advisory_lock("fanops.relabel") as acquired:
        assert acquired is False
    with bulk.advisory_lock("fanops.relabel") as acquired:
        assert acquired is True


def test_update_if_unlocked_leaves_rows_alone_while_the_lock_is_held(db):
    run = RelabelRun.objects.create(as_of=date(2026, 1, 1), status=RelabelRun.Status.RUNNING)
    runs = RelabelRun.objects.filter(pk=run.pk)
    with lock_held_elsewhere():
        assert bulk.update_if_unlocked(runs, "fanops.relabel", error="x") == 0
    assert bulk.update_if_unlocked(runs, "fanops.relabel", error="x") == 1
    run.refresh_from_db()
    assert run.error == "x"


def test_update_if_unlocked_sees_this_sessions_own_lock(db):
    run = RelabelRun.objects.create(as_of=date(2026, 1, 1), status=RelabelRun.Status.RUNNING)
    runs = RelabelRun.objects.filter(pk=run.pk)
    with bulk.advisory_lock("fanops.relabel") as acquired:
        assert acquired
        assert bulk.update_if_unlocked(runs, "fanops.relabel", error="x") == 0


def test_lock_keys_are_stable_signed_bigints():
    key = bulk.lock_key("fanops.relabel")
    assert -(2**63) <= key < 2**63
    assert key == bulk.lock_key("fanops.relabel") != bulk.lock_key("fanops.other")


@pytest.mark.parametrize("chunk", [100, 1])
def test_copy_rows_writes_python_tuples_with_none_as_null(db, chunk):
    with bulk.staged("bulk_test", COLUMNS), connection.cursor() as cursor:
        written = bulk.copy_rows(
            cursor,
            "bulk_test",
            [name for name, _ in COLUMNS],
            [
                (1, 'a, "quoted"\nline', "x", 7, True, date(2026, 1, 31), 1.5),
                (2, "", None, None, False, None, None),
                (3, "\\N", "z", 9, True, date(2026, 2, 1), 3.0),
            ],
            force_not_null=["name"],
            chunk=chunk,
        )
        assert written == 3
        assert rows() == EXPECTED


def test_aware_datetimes_are_written_as_the_same_instant(db):
    instants = pd.to_datetime(["2026-01-31T23:30:00+08:00", None]).tz_convert("Asia/Shanghai")
    frame = pd.DataFrame({"id": [1, 2], "at": instants})
    with (
        bulk.staged("bulk_at", [("id", "bigint"), ("at", "timestamp")], frame),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT at FROM bulk_at ORDER BY id")
        values = [row[0] for row in cursor.fetchall()]
    assert [str(v)[:19] if v else None for v in values] == ["2026-01-31 15:30:00", None]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's")
@pytest.mark.parametrize("chunk", [2, 100])
def test_copy_binary_writes_integers_money_dates_booleans_and_text_exactly(db, chunk):
    cents = np.array([0, 1, -250, 12_345_678_901_234, 99], dtype=np.int64)
    days = np.array(
        ["2026-01-31", "NaT", "1999-12-31", "2000-01-01", "0999-05-05"], "datetime64[D]"
    )
    names = np.array(['a, "quoted"\nline', "", "\\N", "欧阳粉丝", "x" * 40], dtype=object)
    codes = pd.Categorical(["red", "", "red", "green", "golden"])
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bulk_binary (id bigint, n integer, money numeric(16, 2),"
            " day date, flag boolean, name varchar(64), code varchar(8))"
        )
        written = bulk.copy_binary(
            cursor,
            "bulk_binary",
            [
                ("id", "int8", np.arange(5, dtype=np.int64) + 2**40),
                ("n", "int4", np.array([0, -1, 7, 2**31 - 1, 3], dtype=np.int32)),
                ("money", "cents", cents),
                ("day", "date", days),
                ("flag", "bool", np.array([True, False, True, False, False])),
                ("name", "text", names),
                ("code", "text", codes),
            ],
            chunk=chunk,
        )
        cursor.execute(
            "SELECT id, n, money::text, day, flag, name, code FROM bulk_binary ORDER BY id"
        )
        rows = cursor.fetchall()
    assert written == 5
    assert rows == [
        (2**40, 0, "0.00", date(2026, 1, 31), True, 'a, "quoted"\nline', "red"),
        (2**40 + 1, -1, "0.01", None, False, "", ""),
        (2**40 + 2, 7, "-2.50", date(1999, 12, 31), True, "\\N", "red"),
        (2**40 + 3, 2**31 - 1, "123456789012.34", date(2000, 1, 1), False, "欧阳粉丝", "green"),
        (2**40 + 4, 3, "0.99", date(999, 5, 5), False, "x" * 40, "golden"),
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's")
def test_copy_binary_writes_floats_and_nullable_integers_exactly(db):
    floats = np.array([0.0, -1.5, 0.1 + 0.2, 1e300])
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bulk_floats (id bigint, f double precision, n integer)")
        bulk.copy_binary(
            cursor,
            "bulk_floats",
            [
                ("id", "int8", np.arange(4, dtype=np.int64)),
                ("f", "float8", floats),
                ("n", "int4 null", np.array([7.0, np.nan, -3.0, np.nan])),
            ],
        )
        cursor.execute("SELECT f, n FROM bulk_floats ORDER BY id")
        rows = cursor.fetchall()
    assert rows == [(0.0, 7), (-1.5, None), (0.1 + 0.2, -3), (1e300, None)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary COPY is PostgreSQL's")
def test_copy_binary_of_no_rows_writes_nothing(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bulk_none (id bigint)")
        assert bulk.copy_binary(cursor, "bulk_none", [("id", "int8", np.array([], "int64"))]) == 0
        cursor.execute("SELECT COUNT(*) FROM bulk_none")
        assert cursor.fetchone() == (0,)
