"""The relabel job through the database (SQLite and PostgreSQL): SPEC §3 dates and §4 guarantees."""

import time
from datetime import date, timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, CustomerLabels, Order, Staff
from segmentation import job, services, switch
from segmentation.models import LabelChange, RelabelRun, StoreLabelling
from segmentation.selectors import labels_checksum, relabel_inputs
from segmentation.services import relabel
from tests.factories import aware_dt, make_customer, make_order, make_store
from tests.segmentation.helpers import lock_held_elsewhere

AS_OF = date(2026, 6, 30)


def at(day: date, hour: int = 12, minute: int = 0):
    return aware_dt(day.year, day.month, day.day, hour, minute)


def labels_of(fan) -> CustomerLabels:
    return CustomerLabels.objects.get(customer=fan)


def test_dates_are_local_a_sale_just_after_midnight_counts_for_that_day(store):
    fan = make_customer(store=store)
    make_order(
        customer=fan, paid_at=at(AS_OF - timedelta(days=90), 0, 5)
    )  # 16:05 UTC the day before
    relabel(as_of=AS_OF)
    labels = labels_of(fan)
    assert (labels.recency_days, labels.r_stage, labels.last_sale) == (
        90,
        "active",
        AS_OF - timedelta(days=90),
    )


def test_a_sale_late_on_day_91_is_sleeping(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=91), 23, 55))
    relabel(as_of=AS_OF)
    assert (labels_of(fan).recency_days, labels_of(fan).r_stage) == (91, "sleeping")


def test_a_sale_after_as_of_is_ignored_even_minutes_after_midnight(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF, 23, 55), amount="100.00")
    make_order(customer=fan, paid_at=at(AS_OF + timedelta(days=1), 0, 5), amount="900.00")
    relabel(as_of=AS_OF)
    labels = labels_of(fan)
    assert (labels.recency_days, labels.frequency, labels.monetary, labels.lifetime_sales) == (
        0,
        1,
        100,
        1,
    )


def test_the_window_holds_364_days_back_but_not_365(store):
    inside, outside = make_customer(store=store), make_customer(store=store)
    make_order(customer=inside, paid_at=at(AS_OF - timedelta(days=364), 0, 5))
    make_order(customer=outside, paid_at=at(AS_OF - timedelta(days=365), 23, 55))
    relabel(as_of=AS_OF)
    assert (labels_of(inside).frequency, labels_of(inside).monetary) == (1, 599)
    assert (
        labels_of(outside).frequency,
        labels_of(outside).monetary,
        labels_of(outside).lifetime_sales,
    ) == (0, 0, 1)
    assert labels_of(outside).apple == "green"


def test_refunds_lower_monetary_not_frequency_and_never_below_zero(store):
    fan, other = make_customer(store=store), make_customer(store=store)
    sale = make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=10)), amount="100.00")
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=5)), amount="50.00")
    make_order(
        customer=fan,
        kind=Order.Kind.REFUND,
        refund_of=sale,
        paid_at=at(AS_OF - timedelta(days=4)),
        amount="400.00",
    )
    make_order(customer=other, paid_at=at(AS_OF - timedelta(days=5)), amount="3000.00")
    make_order(customer=other, paid_at=at(AS_OF - timedelta(days=4)), amount="0.10")
    make_order(
        customer=other, kind=Order.Kind.REFUND, paid_at=at(AS_OF - timedelta(days=3)), amount="0.10"
    )
    relabel(as_of=AS_OF)
    assert (labels_of(fan).frequency, labels_of(fan).monetary, labels_of(fan).apple) == (
        2,
        0,
        "yellow",
    )
    assert (labels_of(other).monetary, labels_of(other).apple) == (
        3000,
        "red",
    )  # threshold exactly reached


def test_a_refund_before_the_window_does_not_count(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=2)), amount="200.00")
    make_order(
        customer=fan,
        kind=Order.Kind.REFUND,
        paid_at=at(AS_OF - timedelta(days=365)),
        amount="50.00",
    )
    relabel(as_of=AS_OF)
    assert labels_of(fan).monetary == 200


def test_fans_without_sales_get_blossom_or_golden_and_no_segment(store):
    plain, leader = make_customer(store=store), make_customer(store=store, is_opinion_leader=True)
    relabel(as_of=AS_OF)
    assert (labels_of(plain).apple, labels_of(plain).rfm_segment, labels_of(plain).r_stage) == (
        "blossom",
        "",
        "",
    )
    assert labels_of(leader).apple == "golden"


def test_relabel_inputs_has_one_row_per_fan_with_its_aggregates(store):
    fan, idle = make_customer(store=store), make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=400)), amount="10.00")
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)), amount="20.50")
    frame = relabel_inputs(as_of=AS_OF).set_index("customer_id")
    assert frame.loc[fan.pk, ["frequency", "lifetime_sales", "window_sales_cents"]].tolist() == [
        1,
        2,
        2050,
    ]
    assert frame.loc[fan.pk, "first_sale"].date() == AS_OF - timedelta(days=400)
    assert frame.loc[idle.pk, "lifetime_sales"] == 0


def test_a_run_records_counts_timings_and_each_fans_changes(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=80)))
    first = relabel(as_of=AS_OF)
    second = relabel(as_of=AS_OF + timedelta(days=20))  # 100 days: active → sleeping
    assert first.status == second.status == RelabelRun.Status.SUCCEEDED
    assert first.error == second.error == ""  # fact labels refreshed without a warning
    assert second.fans_labelled == 1
    assert second.change_counts["r_stage"] == {"active→sleeping": 1}
    assert second.label_counts["r_stage"] == {"sleeping": 1}
    assert {"aggregate", "classify", "stage", "switch", "total"} <= set(second.timings)
    change = LabelChange.objects.get(run=second)
    assert (change.customer_id, change.group, change.from_code, change.to_code) == (
        fan.pk,
        "r_stage",
        "active",
        "sleeping",
    )


def test_a_rerun_for_the_same_day_gives_an_identical_checksum_and_no_changes(store):
    for i in range(6):
        fan = make_customer(store=store, is_opinion_leader=i == 0)
        for j in range(i):
            make_order(
                customer=fan,
                paid_at=at(AS_OF - timedelta(days=40 * j + i)),
                amount=f"{100 * i + j}.25",
            )
    relabel(as_of=AS_OF)
    checksum = labels_checksum()
    again = relabel(as_of=AS_OF)
    assert labels_checksum() == checksum
    assert again.change_counts == {"apple": {}, "rfm_segment": {}, "r_stage": {}}


def test_a_rerun_for_the_same_day_writes_no_row(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)))
    make_customer(store=store)
    assert relabel(as_of=AS_OF).rows_written == 2
    assert relabel(as_of=AS_OF).rows_written == 0


def test_only_the_rows_whose_labels_moved_are_written(store):
    buyer = make_customer(store=store)
    make_customer(store=store)  # no sale: blossom, no segment, whatever the day
    make_order(customer=buyer, paid_at=at(AS_OF - timedelta(days=30)))
    relabel(as_of=AS_OF)
    make_order(customer=buyer, paid_at=at(AS_OF), amount="80.00")
    run = relabel(as_of=AS_OF)
    assert (run.fans_labelled, run.rows_written) == (2, 1)
    assert (labels_of(buyer).frequency, labels_of(buyer).apple) == (2, "yellow")


def test_a_row_changed_outside_the_job_is_rewritten_by_the_next_run(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)))
    relabel(as_of=AS_OF)
    labels = labels_of(fan)
    labels.apple = "red"
    labels.save(update_fields=["apple"])
    run = relabel(as_of=AS_OF)
    assert (run.rows_written, labels_of(fan).apple) == (1, "green")


def test_a_new_day_moves_recency_without_rewriting_the_row(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=10)))
    relabel(as_of=AS_OF)
    run = relabel(as_of=AS_OF + timedelta(days=5))
    assert run.rows_written == 0
    assert (labels_of(fan).as_of, labels_of(fan).recency_days) == (AS_OF + timedelta(days=5), 15)


def test_runs_day_after_day_end_where_one_fresh_run_does(store, other_store):
    for i in range(24):
        fan = make_customer(store=store if i % 3 else other_store, is_opinion_leader=i == 5)
        for j in range(i % 7):
            make_order(
                customer=fan,
                paid_at=at(AS_OF - timedelta(days=(53 * j + 17 * i) % 420)),
                amount=f"{37 * i + 11 * j}.50",
                kind=Order.Kind.REFUND if j == 3 else Order.Kind.SALE,
            )
    for days in (0, 1, 40, 91, 200):
        assert relabel(as_of=AS_OF + timedelta(days=days)).status == "succeeded"
    day_after_day = labels_checksum()
    CustomerLabels.objects.all().delete()
    StoreLabelling.objects.all().delete()
    fresh = relabel(as_of=AS_OF + timedelta(days=200))
    assert fresh.rows_written == 24
    assert labels_checksum() == day_after_day


def test_a_fan_without_a_labels_row_gets_one(store):
    fan = make_customer(store=store)
    CustomerLabels.objects.filter(customer=fan).delete()
    relabel(as_of=AS_OF)
    assert labels_of(fan).apple == "blossom"


def test_store_scope_writes_only_that_store_but_compares_with_every_buyer(store, other_store):
    ours = make_customer(store=store)
    theirs = make_customer(store=other_store)
    make_order(customer=ours, paid_at=at(AS_OF - timedelta(days=1)), amount="100.00")
    make_order(customer=theirs, paid_at=at(AS_OF - timedelta(days=1)), amount="900.00")
    CustomerLabels.objects.filter(customer=theirs).delete()
    run = relabel(as_of=AS_OF, store_codes=[store.code])
    assert run.fans_labelled == 1
    assert not CustomerLabels.objects.filter(customer=theirs).exists()
    # n = 2 over the brand: 100 is below the mean 500, so M is low.
    assert labels_of(ours).rfm_segment == "general_winback"


def test_an_unknown_store_code_fails_the_run(store):
    run = relabel(as_of=AS_OF, store_codes=["NOPE"])
    assert run.status == RelabelRun.Status.FAILED
    assert "NOPE" in run.error


def test_a_failure_during_the_switch_keeps_the_previous_labels_and_records_failed(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=80)))
    relabel(as_of=AS_OF)
    before = labels_checksum()

    def explode(phase):
        if phase == "switch_updated":
            raise RuntimeError("disk on fire")

    with mock.patch.object(job, "checkpoint", side_effect=explode):
        run = relabel(as_of=AS_OF + timedelta(days=20))
    assert run.status == RelabelRun.Status.FAILED
    assert "disk on fire" in run.error
    assert run.finished_at is not None
    assert labels_checksum() == before
    assert labels_of(fan).r_stage == "active"
    assert not LabelChange.objects.filter(run=run).exists()


def test_a_failure_while_classifying_keeps_the_labels(store):
    fan = make_customer(store=store)
    relabel(as_of=AS_OF)
    before = labels_checksum()
    with mock.patch("segmentation.rules.classify", side_effect=ValueError("bad rule")):
        run = relabel(as_of=AS_OF + timedelta(days=1))
    assert (run.status, run.error) == (RelabelRun.Status.FAILED, "ValueError: bad rule")
    assert labels_checksum() == before
    assert labels_of(fan).as_of == AS_OF


def test_a_run_while_another_holds_the_lock_is_skipped_at_once(store):
    fan = make_customer(store=store)
    with lock_held_elsewhere():
        started = time.monotonic()
        run = relabel(as_of=AS_OF)
        elapsed = time.monotonic() - started
    assert run.status == RelabelRun.Status.SKIPPED
    assert elapsed < 1
    assert not CustomerLabels.objects.filter(customer=fan).exists()
    assert relabel(as_of=AS_OF).status == RelabelRun.Status.SUCCEEDED  # the lock is free again


def test_the_lock_is_released_after_a_failed_run(store):
    with mock.patch("segmentation.rules.classify", side_effect=ValueError("x")):
        assert relabel(as_of=AS_OF).status == RelabelRun.Status.FAILED
    assert relabel(as_of=AS_OF).status == RelabelRun.Status.SUCCEEDED


def test_remark_names_are_written_with_the_labels(guide):
    fan = make_customer(store=guide.store, guide=guide, name="张三", member_since=date(2024, 3, 15))
    for days in (10, 20):
        make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=days)), amount="1000.00")
    relabel(as_of=AS_OF)
    labels = labels_of(fan)
    assert labels.remark_store_account == "WXL-张三-VIP-20240315"
    assert labels.remark_personal_account == f"张三-黄苹果-{(AS_OF - timedelta(days=20)):%Y%m%d}"


def test_the_relabel_command_prints_phases_and_a_summary(store, capsys):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)))
    call_command("relabel", "--as-of", AS_OF.isoformat())
    out = capsys.readouterr().out
    assert "aggregate" in out and "switch" in out
    assert "1 fans labelled" in out or "2 fans labelled" in out
    assert "apple: green 1" in out


def test_the_relabel_command_limited_to_a_store(store, other_store):
    make_customer(store=store)
    make_customer(store=other_store)
    call_command("relabel", "--as-of", AS_OF.isoformat(), "--store", store.code)
    assert RelabelRun.objects.get().fans_labelled == 1


def test_the_scratch_table_does_not_outlive_a_run(store):
    make_customer(store=store)
    relabel(as_of=AS_OF)
    with connection.cursor() as cursor:
        tables = connection.introspection.get_table_list(cursor)
    assert switch.STAGE_TABLE not in {t.name for t in tables}


@pytest.mark.django_db
def test_stores_codes_map_to_ids():
    store = make_store()
    assert services._store_ids([store.code]) == [store.pk]
    assert services._store_ids(None) is None


def test_remark_names_follow_a_renamed_fan_guide_or_referrer(guide):
    referrer = make_customer(store=guide.store, name="王五")
    fan = make_customer(store=guide.store, guide=guide, name="张三", referrer=referrer)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)))
    relabel(as_of=AS_OF)
    assert labels_of(fan).remark_personal_account == "张三-青苹果-王五"
    # Queryset updates bypass save(): the job must notice changed inputs anyway.
    Customer.objects.filter(pk=fan.pk).update(name="张小三")
    Customer.objects.filter(pk=referrer.pk).update(name="王六")
    Staff.objects.filter(pk=guide.pk).update(abbreviation="XL")
    relabel(as_of=AS_OF)
    labels = labels_of(fan)
    assert labels.remark_personal_account == "张小三-青苹果-王六"
    assert labels.remark_store_account == f"XL-张小三-VIP-{(AS_OF - timedelta(days=3)):%Y%m%d}"


def test_a_store_run_follows_a_renamed_referrer_of_another_store(guide, other_store):
    referrer = make_customer(store=other_store, name="王五")
    fan = make_customer(store=guide.store, guide=guide, name="张三", referrer=referrer)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=3)))
    relabel(as_of=AS_OF, store_codes=[guide.store.code])
    Customer.objects.filter(pk=referrer.pk).update(name="王六")
    relabel(as_of=AS_OF, store_codes=[guide.store.code])
    assert labels_of(fan).remark_personal_account == "张三-青苹果-王六"


def test_unchanged_remark_inputs_keep_the_stored_names(guide):
    fan = make_customer(store=guide.store, guide=guide, name="张三")
    relabel(as_of=AS_OF)
    CustomerLabels.objects.filter(customer=fan).update(remark_store_account="kept")
    relabel(as_of=AS_OF + timedelta(days=1))
    assert labels_of(fan).remark_store_account == "kept"
    assert labels_of(fan).remark_personal_account == "张三-苹果花"


def test_the_first_run_refreshes_every_fans_fact_labels(store):
    fan = make_customer(store=store, birth_calendar="gregorian", birth_month=3, birth_day=21)
    relabel(as_of=AS_OF)
    fan.refresh_from_db()
    assert (fan.zodiac, fan.birthday_month) == ("aries", "m03")


def test_later_runs_refresh_fact_labels_of_fans_saved_since_the_last_run(store):
    fan = make_customer(store=store, birth_calendar="gregorian", birth_month=3, birth_day=21)
    relabel(as_of=AS_OF)
    fan.birth_month, fan.birth_day = 12, 25
    fan.save()  # a write that went around update_customer
    assert services.fans_needing_fact_labels(store_ids=None) == [fan.pk]
    relabel(as_of=AS_OF)
    fan.refresh_from_db()
    assert (fan.zodiac, fan.birthday_month) == ("capricorn", "m12")
    assert services.fans_needing_fact_labels(store_ids=None) == []


def test_a_fans_first_labels_row_is_not_recorded_as_a_change_but_later_moves_are(store):
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=at(AS_OF - timedelta(days=1)))
    first = relabel(as_of=AS_OF)
    assert not LabelChange.objects.filter(run=first).exists()
    make_order(customer=fan, paid_at=at(AS_OF, 9))
    second = relabel(as_of=AS_OF)
    assert list(
        LabelChange.objects.filter(run=second).values_list("group", "from_code", "to_code")
    ) == [("apple", "green", "yellow")]


def test_an_incremental_run_works_with_queries_logged_as_under_debug(store):
    """DEBUG (make run) logs every query with its parameters: the incremental read must not pass
    a parameter its SQL does not use (SQLite cannot quote a list)."""
    fan = make_customer(store=store)
    make_order(customer=fan, paid_at=aware_dt(2026, 1, 10))
    relabel(as_of=date(2026, 1, 30))
    make_order(customer=fan, paid_at=aware_dt(2026, 1, 31))

    with CaptureQueriesContext(connection):
        run = relabel(as_of=date(2026, 1, 31))

    assert (run.status, run.mode, run.error) == ("succeeded", "incremental", "")
    assert CustomerLabels.objects.get(customer=fan).frequency == 2
