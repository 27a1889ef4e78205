"""A first relabel builds a new labels table and swaps it in (PostgreSQL): the same rows, remark
names and history as the INSERT path, the migrated schema, and nothing lost to a kill -9."""

import threading
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from django.db import connection, connections
from django.utils import timezone

from customers.models import Customer, CustomerLabels
from segmentation import job, selectors
from segmentation.models import LabelChange, RelabelRun, StoreLabelling
from segmentation.selectors import labels_checksum
from segmentation.services import relabel
from tests.factories import aware_dt, make_customer, make_order, make_staff, make_store
from tests.segmentation.test_job_postgres import kill_relabel_paused_at

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

AS_OF = date(2026, 6, 30)
LABELS = CustomerLabels._meta.db_table
ALWAYS, NEVER = 0, 10**9  # RELABEL_SWAP_MIN_ROWS: the swap for any first run, or never


def brand(fans: int = 40) -> None:
    """Fans with guides, referrers, long names, opinion leaders and orders of every kind."""
    store = make_store(city="上海")
    guides = [make_staff(store=store, name="王小丽"), make_staff(store=store, name="Amy 欧阳")]
    made = []
    for i in range(fans):
        fan = make_customer(
            store=store,
            name=("欧阳" * (i % 7)) + f"粉丝{i}",
            guide=guides[i % 2] if i % 5 else None,
            referrer=made[i // 2] if i % 3 == 0 and made else None,
            is_opinion_leader=i == 1,
            member_since=date(2024, 3, 1 + i % 20) if i % 4 == 0 else None,
            city="北京" if i % 4 == 1 else "",
        )
        made.append(fan)
        for j in range(i % 5):
            make_order(
                customer=fan,
                paid_at=aware_dt(2026 - j % 2, 6 - j, 1 + i % 27),
                amount=f"{150 + 85 * i}.{i % 100:02d}",
            )
        if i % 6 == 0 and i % 5:
            make_order(customer=fan, kind="refund", amount="50.00", paid_at=aware_dt(2026, 6, 2))


def rows() -> list[tuple]:
    """Every labels row, every column, and every fan's fact labels (refreshed by a first run)."""
    fields = [f.attname for f in CustomerLabels._meta.concrete_fields]
    facts = Customer.objects.order_by("pk").values_list(
        "pk", "zodiac", "birthday_month", "distance"
    )
    return [*CustomerLabels.objects.order_by("customer_id").values_list(*fields), *facts]


def history() -> list[tuple]:
    return sorted(
        LabelChange.objects.values_list(
            "run__as_of", "customer_id", "group", "from_code", "to_code"
        )
    )


def forget_runs() -> None:
    Customer.objects.update(zodiac="", birthday_month="", distance="")
    CustomerLabels.objects.all().delete()
    LabelChange.objects.all().delete()
    StoreLabelling.objects.all().delete()
    RelabelRun.objects.all().delete()


def two_runs(settings, swap_min_rows: int) -> tuple[list, list, list]:
    """A first run for AS_OF, then (after a sale) the night after: rows after each, history."""
    settings.RELABEL_SWAP_MIN_ROWS = swap_min_rows
    Customer.objects.update(zodiac="", birthday_month="", distance="")
    first = relabel(as_of=AS_OF)
    assert first.status == RelabelRun.Status.SUCCEEDED, first.error
    assert ("load" in first.timings) == (swap_min_rows == ALWAYS)
    after_first = rows()
    fan = CustomerLabels.objects.order_by("customer_id")[5].customer
    order = make_order(customer=fan, amount="4000.00", paid_at=aware_dt(2026, 7, 1))
    night = relabel(as_of=AS_OF + timedelta(days=1))
    assert night.status == RelabelRun.Status.SUCCEEDED, night.error
    order.delete()
    return after_first, rows(), history()


def test_a_first_run_through_the_swap_gives_the_rows_and_history_of_the_insert_path(settings):
    brand()
    inserted = two_runs(settings, NEVER)
    forget_runs()
    swapped = two_runs(settings, ALWAYS)
    assert swapped[0] == inserted[0]  # every column, remark names included
    assert len(swapped[0]) == 80
    assert any(row[-1] == "out_of_town" for row in swapped[0][40:])
    assert swapped[1] == inserted[1]
    assert swapped[2] == inserted[2] and swapped[2]  # the night after moved labels


def schema() -> dict:
    """The labels table as the migrations define it: columns in order, storage options,
    indexes, constraints and statistics objects, by name."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attstorage, a.attcompression
                 FROM pg_attribute a LEFT JOIN pg_attrdef d
                   ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum""",
            [LABELS],
        )
        columns = cursor.fetchall()
        cursor.execute(
            "SELECT reloptions, relpersistence, relkind FROM pg_class WHERE oid = %s::regclass",
            [LABELS],
        )
        table = cursor.fetchone()
        cursor.execute(
            """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                WHERE x.indrelid = %s::regclass ORDER BY 1""",
            [LABELS],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            """SELECT conname, contype, pg_get_constraintdef(oid), condeferrable, condeferred,
                      convalidated
                 FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1""",
            [LABELS],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            """SELECT stxname, pg_get_statisticsobjdef(oid) FROM pg_statistic_ext
                WHERE stxrelid = %s::regclass ORDER BY 1""",
            [LABELS],
        )
        statistics = cursor.fetchall()
    return {
        "columns": columns,
        "table": table,
        "indexes": indexes,
        "constraints": constraints,
        "statistics": statistics,
    }


def test_after_the_swap_the_labels_table_is_the_migrated_one(settings):
    migrated = schema()
    assert migrated["indexes"] and migrated["statistics"]
    assert any(kind == "f" for _, kind, *_ in migrated["constraints"])
    brand(10)
    settings.RELABEL_SWAP_MIN_ROWS = ALWAYS
    run = relabel(as_of=AS_OF)
    assert "load" in run.timings
    assert schema() == migrated
    with connection.cursor() as cursor:  # the planner has statistics for the new table
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [LABELS])
        assert cursor.fetchone()[0] == 10


def test_a_row_a_sale_writes_during_the_build_wins_over_the_run(settings, monkeypatch):
    brand(12)
    fan = make_customer(store=make_store())
    settings.RELABEL_SWAP_MIN_ROWS = ALWAYS

    def write_live_row() -> None:
        try:
            CustomerLabels.objects.create(customer=fan, apple="red", live_since=timezone.now())
        finally:
            connections.close_all()

    def checkpoint(phase: str) -> None:
        if phase == "load":  # another connection, as a POS request would
            writer = threading.Thread(target=write_live_row)
            writer.start()
            writer.join(10)

    monkeypatch.setattr(job, "checkpoint", checkpoint)
    run = relabel(as_of=AS_OF)
    assert run.status == RelabelRun.Status.SUCCEEDED, run.error
    assert CustomerLabels.objects.get(customer=fan).apple == "red"
    assert CustomerLabels.objects.count() == 13


def test_sigkill_during_the_swap_leaves_the_labels_as_they_were(settings):
    brand(12)
    settings.RELABEL_SWAP_MIN_ROWS = NEVER
    relabel(as_of=AS_OF)
    forget_runs()  # a first run again
    before = labels_checksum()
    schema_before = schema()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RELABEL_SWAP_MIN_ROWS", "0")
        kill_relabel_paused_at("swap_locked", AS_OF)
    assert labels_checksum() == before
    assert schema() == schema_before
    settings.RELABEL_SWAP_MIN_ROWS = ALWAYS  # the next run swaps cleanly (no table left over)
    run = relabel(as_of=AS_OF)
    while run.status == RelabelRun.Status.SKIPPED:
        run = relabel(as_of=AS_OF)
    assert run.status == RelabelRun.Status.SUCCEEDED, run.error
    assert "load" in run.timings and CustomerLabels.objects.count() == 12
    assert schema() == schema_before


def test_every_fans_remark_inputs_read_at_once_are_the_ones_read_by_id():
    brand(15)
    ids = np.array(sorted(Customer.objects.values_list("pk", flat=True))[::-1] + [10**9])
    by_id = selectors.remark_inputs(ids)
    at_once = selectors.remark_inputs(ids, every=selectors.every_remark_input())
    pd.testing.assert_frame_equal(at_once, by_id, check_dtype=False)
