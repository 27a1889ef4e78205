"""Order batches, tagging endpoints, quotas, summaries and relabel runs."""

from datetime import date
from unittest import mock

from customers.models import Customer, CustomerLabels, Order
from segmentation.models import RelabelRun
from tagging.models import CustomerTag
from tests.factories import make_customer

BATCH = "/api/v1/orders/batch/"


def order(n: int, **overrides) -> dict:
    return {
        "external_id": f"B-{n}",
        "customer": {"phone": f"1380013{n:04d}"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "100.00",
        **overrides,
    }


def test_a_batch_applies_each_order_on_its_own(pos):
    orders = [order(1), order(2, amount="-1"), order(3), order(1, amount="5.00"), order(3)]
    response = pos.post(BATCH, {"orders": orders}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, 201),
        (1, 400),
        (2, 201),
        (3, 409),
        (4, 200),
    ]
    assert "amount" in results[1]["errors"]
    assert results[4]["id"] == results[2]["id"] == Order.objects.get(external_id="B-3").pk
    assert Order.objects.count() == 2
    assert not Customer.objects.filter(phone="13800130002").exists()


def test_a_batch_of_500_is_accepted(pos):
    response = pos.post(BATCH, {"orders": [order(n) for n in range(500)]}, format="json")
    assert response.status_code == 200
    assert Order.objects.count() == 500


def test_a_batch_of_501_is_refused_whole(pos):
    response = pos.post(BATCH, {"orders": [order(n) for n in range(501)]}, format="json")
    assert response.status_code == 400
    assert "orders" in response.json()
    assert not Order.objects.exists()


def test_a_batch_without_an_orders_list_is_a_400(pos):
    response = pos.post(BATCH, {"orders": "nope"}, format="json")
    assert response.status_code == 400 and "orders" in response.json()


# --- tags ----------------------------------------------------------------------------------------


def test_a_guide_adds_and_removes_manual_tags(guide_api, store):
    fan = make_customer(store=store)
    url = f"/api/v1/customers/{fan.pk}/tags/"
    guide_api.post(url, {"add": ["attention:activities"]}, format="json")
    response = guide_api.post(
        url, {"add": ["style:business"], "remove": ["attention:activities"]}, format="json"
    )
    assert response.status_code == 200
    assert "style:business" in response.json()["tags"]
    assert "attention:activities" not in response.json()["tags"]


def test_a_single_choice_group_replaces_its_tag(guide_api, store):
    fan = make_customer(store=store)
    url = f"/api/v1/customers/{fan.pk}/tags/"
    guide_api.post(url, {"add": ["profession:teacher"]}, format="json")
    guide_api.post(url, {"add": ["profession:it"]}, format="json")
    assert list(CustomerTag.objects.filter(customer=fan).values_list("tag__code", flat=True)) == [
        "it"
    ]


def test_a_computed_group_is_refused_with_400(guide_api, store):
    fan = make_customer(store=store)
    response = guide_api.post(
        f"/api/v1/customers/{fan.pk}/tags/", {"add": ["apple:red"]}, format="json"
    )
    assert response.status_code == 400
    assert not CustomerTag.objects.exists()


def test_bulk_tagging_tags_every_listed_fan(manager_api, store):
    fans = [make_customer(store=store) for _ in range(3)]
    response = manager_api.post(
        "/api/v1/tags/bulk/",
        {"customers": [f.pk for f in fans], "add": ["style:business"]},
        format="json",
    )
    assert response.json() == {"changed": 3}
    assert CustomerTag.objects.count() == 3


def test_bulk_tagging_10001_fans_is_refused(manager_api):
    response = manager_api.post(
        "/api/v1/tags/bulk/",
        {"customers": list(range(1, 10_002)), "add": ["style:business"]},
        format="json",
    )
    assert response.status_code == 400 and "customers" in response.json()


def test_bulk_tagging_a_fan_of_another_store_refuses_the_whole_request(
    manager_api, store, other_store
):
    mine, theirs = make_customer(store=store), make_customer(store=other_store)
    response = manager_api.post(
        "/api/v1/tags/bulk/",
        {"customers": [mine.pk, theirs.pk], "add": ["style:business"]},
        format="json",
    )
    assert response.status_code == 400
    assert not CustomerTag.objects.exists()


def test_tag_groups_list_the_taxonomy_with_kinds(pos):
    groups = {g["code"]: g for g in pos.get("/api/v1/tag-groups/").json()}
    assert groups["style"]["kind"] == "manual" and groups["style"]["is_multi"] is True
    assert groups["profession"]["is_multi"] is False
    assert groups["apple"]["kind"] == "computed"
    assert {t["code"] for t in groups["apple"]["tags"]} >= {
        "blossom",
        "green",
        "yellow",
        "red",
        "golden",
    }


# --- quotas, summaries, relabel --------------------------------------------------------------------


def test_the_store_quota_compares_target_and_actual_per_tier(manager_api, store):
    CustomerLabels.objects.create(customer=make_customer(store=store), apple="green")
    body = manager_api.get(f"/api/v1/stores/{store.code}/apple-quota/").json()
    assert body["store"] == store.code
    green = next(t for t in body["tiers"] if t["apple"] == "green")
    assert green == {"apple": "green", "target": 5, "actual": 1, "gap": 4}


def test_the_company_quota_has_a_row_per_store(hq_api, store, other_store):
    body = hq_api.get("/api/v1/apple-quota/").json()
    assert [row["store"] for row in body["stores"]] == sorted([store.code, other_store.code])
    golden = next(t for t in body["tiers"] if t["apple"] == "golden")
    assert golden["target"] == 6


def test_the_segment_summary_counts_the_callers_fans_only(guide_api, store, other_store):
    CustomerLabels.objects.create(
        customer=make_customer(store=store), apple="red", r_stage="active"
    )
    CustomerLabels.objects.create(
        customer=make_customer(store=other_store), apple="red", r_stage="active"
    )
    body = guide_api.get("/api/v1/segments/summary/").json()
    assert body["total"] == 1
    assert body["apple"]["red"] == 1 and body["r_stage"]["active"] == 1


def test_relabel_is_queued_after_commit_and_answers_202(hq_api, django_capture_on_commit_callbacks):
    with (
        mock.patch("segmentation.tasks.relabel.delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = hq_api.post("/api/v1/relabel/", {"as_of": "2026-01-31"}, format="json")
    assert response.status_code == 202
    assert len(callbacks) == 1
    run = RelabelRun.objects.get(pk=response.json()["run_id"])
    assert (run.status, run.as_of) == (RelabelRun.Status.QUEUED, date(2026, 1, 31))
    delay.assert_called_once_with("2026-01-31", run_id=run.pk)


def test_relabel_with_a_bad_date_is_a_400(hq_api):
    with mock.patch("segmentation.tasks.relabel.apply_async") as apply_async:
        response = hq_api.post("/api/v1/relabel/", {"as_of": "31/01/2026"}, format="json")
    assert response.status_code == 400 and "as_of" in response.json()
    apply_async.assert_not_called()


def test_relabel_runs_are_listed_newest_first(hq_api):
    from datetime import date

    old = RelabelRun.objects.create(as_of=date(2026, 1, 1), status="succeeded")
    new = RelabelRun.objects.create(as_of=date(2026, 1, 2), status="failed")
    assert [r["id"] for r in hq_api.get("/api/v1/relabel-runs/").json()["results"]] == [
        new.pk,
        old.pk,
    ]
