"""The store dashboard with guide transfers, and the HQ page (server side; Today is
tests/followups/test_pages.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from openpyxl import load_workbook

from customers.models import Customer, GuideTransfer, Staff
from customers.transfers import transfer_customers
from segmentation.models import RelabelRun
from tagging.services import change_tags
from tests.factories import make_staff
from tests.web.helpers import make_fan

pytestmark = pytest.mark.django_db


# --- Store dashboard --------------------------------------------------------------------------


def test_dashboard_shows_the_quota_target_and_actual_per_tier(client, manager):
    for _ in range(3):
        make_fan(store=manager.store, apple="green")
    make_fan(store=manager.store, apple="red")
    client.force_login(manager.user)
    response = client.get("/dashboard/")
    tiers = {t["apple"]: (t["target"], t["actual"]) for t in response.context["tiers"]}
    assert tiers == {
        "golden": (3, 0),
        "red": (1, 1),
        "yellow": (2, 0),
        "green": (5, 3),
        "blossom": (1, 0),
    }
    assert 'data-testid="quota-bars"' in response.content.decode()


def test_dashboard_shows_segments_stages_and_fans_per_guide(client, manager, guide):
    make_fan(store=manager.store, guide=guide, r_stage="sleeping", rfm_segment="important_value")
    make_fan(store=manager.store, guide=guide, r_stage="active", rfm_segment="important_value")
    client.force_login(manager.user)
    context = client.get("/dashboard/").context
    assert {s["code"]: s["n"] for s in context["stages"]}["sleeping"] == 1
    assert {s["code"]: s["n"] for s in context["segments"]}["important_value"] == 2
    assert {g.pk: g.fans for g in context["guides"]}[guide.pk] == 2


def test_dashboard_is_404_for_a_guide(client, guide):
    client.force_login(guide.user)
    assert client.get("/dashboard/").status_code == 404


def test_dashboard_counts_only_the_managers_store(client, manager, other_store):
    make_fan(store=other_store, apple="red")
    client.force_login(manager.user)
    tiers = {t["apple"]: t["actual"] for t in client.get("/dashboard/").context["tiers"]}
    assert tiers["red"] == 0


def test_hq_sees_any_stores_dashboard_through_the_switcher(client, hq, other_store):
    make_fan(store=other_store, apple="red")
    client.force_login(hq.user)
    response = client.get(f"/dashboard/?store={other_store.code}")
    assert {t["apple"]: t["actual"] for t in response.context["tiers"]}["red"] == 1


def test_manager_moves_all_fans_of_a_leaving_guide(client, manager, guide):
    fans = [make_fan(store=manager.store, guide=guide) for _ in range(3)]
    target = make_staff(store=manager.store)
    guide.is_active = False
    guide.save()
    client.force_login(manager.user)
    response = client.post(
        "/dashboard/transfer/", {"from_guide": guide.pk, "to_guide": target.pk, "customers": ""}
    )
    assert response.status_code == 302
    assert set(Customer.objects.filter(guide=target).values_list("pk", flat=True)) == {
        f.pk for f in fans
    }
    moves = GuideTransfer.objects.filter(to_guide=target)
    assert moves.count() == 3
    assert all(m.from_guide_was_leaving and m.moved_by == manager for m in moves)


def test_manager_moves_selected_fans_only(client, manager, guide):
    picked, kept = (
        make_fan(store=manager.store, guide=guide),
        make_fan(store=manager.store, guide=guide),
    )
    target = make_staff(store=manager.store)
    client.force_login(manager.user)
    client.post(
        "/dashboard/transfer/",
        {"from_guide": guide.pk, "to_guide": target.pk, "customers": str(picked.pk)},
    )
    picked.refresh_from_db()
    kept.refresh_from_db()
    assert (picked.guide_id, kept.guide_id) == (target.pk, guide.pk)


def test_transfer_to_another_stores_guide_is_refused_next_to_the_field(
    client, manager, guide, other_store_guide
):
    fan = make_fan(store=manager.store, guide=guide)
    client.force_login(manager.user)
    response = client.post(
        "/dashboard/transfer/", {"from_guide": guide.pk, "to_guide": other_store_guide.pk}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["to_guide"]
    fan.refresh_from_db()
    assert fan.guide_id == guide.pk
    assert not GuideTransfer.objects.exists()


def test_transfer_service_refuses_another_stores_guide(manager, guide, other_store_guide):
    fan = make_fan(store=manager.store, guide=guide)
    with pytest.raises(ValidationError):
        transfer_customers(
            customers=[fan], to_guide=other_store_guide, by=manager, now=timezone.now()
        )
    fan.refresh_from_db()
    assert fan.guide_id == guide.pk


def _working_move(fan, to_guide, by, when):
    return transfer_customers(customers=[fan], to_guide=to_guide, by=by, now=when)


def test_a_fan_moves_between_working_guides_twice_in_90_days_but_not_a_third_time(manager, guide):
    other = make_staff(store=manager.store)
    fan = make_fan(store=manager.store, guide=guide)
    start = timezone.now()
    assert _working_move(fan, other, manager, start) == 1
    assert _working_move(fan, guide, manager, start + timedelta(days=1)) == 1
    with pytest.raises(ValidationError):
        _working_move(fan, other, manager, start + timedelta(days=2))
    fan.refresh_from_db()
    assert fan.guide_id == guide.pk
    assert GuideTransfer.objects.count() == 2


def test_a_third_working_move_is_allowed_once_the_first_is_90_days_old(manager, guide):
    other = make_staff(store=manager.store)
    fan = make_fan(store=manager.store, guide=guide)
    start = timezone.now()
    _working_move(fan, other, manager, start)
    _working_move(fan, guide, manager, start + timedelta(days=1))
    assert _working_move(fan, other, manager, start + timedelta(days=90)) == 1


def test_a_leaving_guides_fans_move_whatever_their_history(manager, guide):
    other = make_staff(store=manager.store)
    third = make_staff(store=manager.store)
    fan = make_fan(store=manager.store, guide=guide)
    now = timezone.now()
    _working_move(fan, other, manager, now)
    _working_move(fan, guide, manager, now)
    Staff.objects.filter(pk=guide.pk).update(is_active=False)
    assert _working_move(fan, third, manager, now) == 1


def test_a_manager_cannot_move_fans_to_an_inactive_guide(manager, guide):
    gone = make_staff(store=manager.store, is_active=False)
    fan = make_fan(store=manager.store, guide=guide)
    with pytest.raises(ValidationError):
        transfer_customers(customers=[fan], to_guide=gone, by=manager, now=timezone.now())


# --- HQ ---------------------------------------------------------------------------------------


def test_hq_page_shows_every_store_side_by_side(client, hq, store, other_store):
    make_fan(store=store, apple="red")
    client.force_login(hq.user)
    response = client.get("/hq/")
    rows = {row["store"]: row for row in response.context["rows"]}
    assert set(rows) >= {store.code, other_store.code}
    assert rows[store.code]["stats"]["fans"] == 1


def test_hq_page_is_404_for_a_manager(client, manager):
    client.force_login(manager.user)
    assert client.get("/hq/").status_code == 404


def test_starting_a_relabel_queues_the_task_after_commit(
    client, hq, django_capture_on_commit_callbacks
):
    client.force_login(hq.user)
    with (
        mock.patch("segmentation.tasks.relabel.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post("/hq/relabel/", {"as_of": "2026-01-31"})
    assert response.status_code == 302
    run = RelabelRun.objects.get()
    assert run.status == RelabelRun.Status.QUEUED
    delay.assert_called_once_with("2026-01-31", run_id=run.pk)


def test_a_manager_cannot_start_a_relabel(client, manager):
    client.force_login(manager.user)
    with mock.patch("segmentation.tasks.relabel.delay") as delay:
        assert client.post("/hq/relabel/").status_code == 404
    delay.assert_not_called()


def test_csv_export_has_the_filtered_fans_with_their_tags(client, hq, store):
    red = make_fan(store=store, apple="red", name="红")
    make_fan(store=store, apple="green", name="青")
    change_tags(customer=red, add=["style:business"], by=hq)
    client.force_login(hq.user)
    response = client.get(f"/hq/export.csv?apple=red&store={store.code}")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["id", "name", "phone"]
    assert [r[1] for r in rows[1:]] == ["红"]
    assert "style:business" in rows[1][-1]


def test_xlsx_export_has_the_filtered_fans(client, hq, store):
    make_fan(store=store, r_stage="sleeping", name="睡")
    make_fan(store=store, r_stage="active", name="醒")
    client.force_login(hq.user)
    response = client.get("/hq/export.xlsx?stage=sleeping")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["睡"]


def test_exports_are_404_for_a_guide(client, guide):
    client.force_login(guide.user)
    assert client.get("/hq/export.csv").status_code == 404


def test_manager_sees_pick_boxes_and_a_transfer_bar_on_one_guides_fans(client, manager, guide):
    fan = make_fan(store=manager.store, guide=guide)
    make_staff(store=manager.store, name="接手导购")
    client.force_login(manager.user)
    body = client.get(f"/fans/?guide={guide.work_number}").content.decode()
    assert f'name="customers" value="{fan.pk}"' in body
    assert "接手导购" in body


def test_a_guide_gets_no_transfer_bar(client, guide):
    make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    assert 'id="transfer-form"' not in client.get("/fans/").content.decode()


def test_manager_moves_the_ticked_fans(client, manager, guide):
    first, second, kept = (make_fan(store=manager.store, guide=guide) for _ in range(3))
    target = make_staff(store=manager.store)
    client.force_login(manager.user)
    client.post(
        "/dashboard/transfer/",
        {"from_guide": guide.pk, "to_guide": target.pk, "customers": [first.pk, second.pk]},
    )
    moved = set(Customer.objects.filter(guide=target).values_list("pk", flat=True))
    assert moved == {first.pk, second.pk}


def test_dashboard_lists_recent_transfers_of_its_store_only(client, manager, guide, other_store):
    fan = make_fan(store=manager.store, guide=guide, name="转走的粉丝")
    other_manager = make_staff(store=other_store, role=Staff.Role.MANAGER)
    other_fan = make_fan(store=other_store, guide=make_staff(store=other_store), name="别店转移")
    transfer_customers(
        customers=[fan], to_guide=make_staff(store=manager.store), by=manager, now=timezone.now()
    )
    transfer_customers(
        customers=[other_fan],
        to_guide=make_staff(store=other_store),
        by=other_manager,
        now=timezone.now(),
    )
    client.force_login(manager.user)
    body = client.get("/dashboard/").content.decode()
    assert "转走的粉丝" in body
    assert "别店转移" not in body


def test_the_transfer_form_posts_to_its_own_url(client, manager, guide):
    make_fan(store=manager.store, guide=guide)
    client.force_login(manager.user)
    body = client.get("/dashboard/").content.decode()
    assert 'action="/dashboard/transfer/"' in body
    assert client.post("/dashboard/").status_code == 405


def test_a_transfer_says_how_many_fans_moved_and_goes_back_to_the_dashboard(client, manager, guide):
    make_fan(store=manager.store, guide=guide)
    make_fan(store=manager.store, guide=guide)
    target = make_staff(store=manager.store, name="接手导购")
    client.force_login(manager.user)
    response = client.post(
        "/dashboard/transfer/", {"from_guide": guide.pk, "to_guide": target.pk}, follow=True
    )
    assert response.redirect_chain == [("/dashboard/", 302)]
    (message,) = [str(m) for m in response.context["messages"]]
    assert "2" in message and guide.name in message and "接手导购" in message


def test_hq_goes_back_to_the_dashboard_of_the_store_it_moved_fans_in(client, hq, other_store):
    guide = make_staff(store=other_store)
    target = make_staff(store=other_store)
    make_fan(store=other_store, guide=guide)
    client.force_login(hq.user)
    response = client.post(
        "/dashboard/transfer/",
        {"store": other_store.code, "from_guide": guide.pk, "to_guide": target.pk},
    )
    assert response.url == f"/dashboard/?store={other_store.code}"
    assert Customer.objects.get(store=other_store).guide_id == target.pk


def test_a_guide_cannot_move_fans(client, guide):
    other = make_staff(store=guide.store)
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post("/dashboard/transfer/", {"from_guide": guide.pk, "to_guide": other.pk})
    assert response.status_code == 404
    fan.refresh_from_db()
    assert fan.guide_id == guide.pk
