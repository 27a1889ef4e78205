"""Issue 12 item 10, the brand-wide member rule (SPEC §8, docs/api.md "Brand-wide members").

A fan belongs to the brand; her home store owns her profile. A sale at another store attaches to
her and counts in her labels; that store meets her as her member card only: no id, name, tags or
profile in any answer to a store that does not own her.
"""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import CheckIn
from customers.auth import issue_staff_token
from customers.models import Customer, Order, PosToken
from segmentation import services as relabelling
from tests.campaigns.helpers import make_campaign
from tests.factories import make_customer, make_order, make_staff

PHONE = "13800138000"


def pos_of(store) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {PosToken.issue(store=store, name='till')[1]}")
    return client


def api_of(staff) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_staff_token(staff.user)[1]}")
    return client


@pytest.fixture
def member(store):
    """Store A's fan, whom store B (`other_store`) meets at its till."""
    return make_customer(store=store, phone=PHONE, name="王小丽")


def sale_body(**overrides) -> dict:
    return {
        "external_id": "B-0001",
        "customer": {"phone": PHONE, "name": "别的名字"},
        "paid_at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "amount": "399.00",
        **overrides,
    }


def test_a_sale_at_another_store_attaches_to_the_member_and_answers_no_id(member, other_store):
    response = pos_of(other_store).post("/api/v1/orders/", sale_body(), format="json")

    assert response.status_code == 201
    assert response.json()["customer"] is None
    assert "王小丽" not in response.content.decode()
    order = Order.objects.get(external_id="B-0001")
    assert (order.customer_id, order.store_id) == (member.pk, other_store.pk)
    assert Customer.objects.count() == 1  # attached, not registered a second time


def test_the_other_stores_order_list_shows_the_sale_without_her_id(member, other_store):
    make_order(customer=member, store=other_store, external_id="B-0002")

    [row] = pos_of(other_store).get("/api/v1/orders/").json()["results"]

    assert (row["external_id"], row["customer"]) == ("B-0002", None)


def test_head_office_sees_whose_sale_it_was(member, other_store, hq):
    make_order(customer=member, store=other_store, external_id="B-0003")

    [row] = api_of(hq).get("/api/v1/orders/").json()["results"]

    assert row["customer"] == member.pk


def test_a_sale_at_another_store_counts_in_her_labels(member, other_store):
    as_of = date(2026, 3, 31)
    make_order(customer=member, paid_at=timezone.make_aware(timezone.datetime(2026, 3, 1, 12)))
    make_order(
        customer=member,
        store=other_store,
        external_id="B-0004",
        paid_at=timezone.make_aware(timezone.datetime(2026, 3, 20, 12)),
    )

    relabelling.relabel(as_of=as_of)

    member.labels.refresh_from_db()
    assert (member.labels.frequency, member.labels.last_sale) == (2, date(2026, 3, 20))


def test_registering_her_phone_at_another_store_answers_her_member_card(member, other_store):
    response = pos_of(other_store).post(
        "/api/v1/customers/", {"phone": PHONE, "name": "王小丽"}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["member_card"] == {
        "name_masked": "王**",
        "phone_masked": "138****8000",
        "membership": None,
    }
    assert "id" not in response.json()
    assert Customer.objects.count() == 1


def test_registering_her_phone_at_her_own_store_answers_her_id(member, store):
    response = pos_of(store).post(
        "/api/v1/customers/", {"phone": PHONE, "name": "王小丽"}, format="json"
    )

    assert (response.status_code, response.json()["id"]) == (409, member.pk)


def test_the_member_card_carries_her_membership_tier(member, other_store):
    as_of = timezone.localdate()
    make_order(customer=member, paid_at=timezone.now() - timedelta(days=3), amount="5000.00")
    relabelling.relabel(as_of=as_of)
    tier = Customer.objects.select_related("labels").get(pk=member.pk).labels.membership

    response = pos_of(other_store).post(
        "/api/v1/customers/lookup/", {"phone": PHONE}, format="json"
    )

    assert tier and response.json()["member_card"]["membership"] == tier


def test_a_referrer_another_store_owns_is_not_named(member, other_store):
    """Referrers cross stores through the CSV import (by phone); the answer keeps her unnamed."""
    referred = make_customer(store=other_store, phone="13900139000", referrer=member)

    body = pos_of(other_store).get(f"/api/v1/customers/{referred.pk}/").json()

    assert body["referrer"] is None


def test_head_office_sees_a_referrer_of_another_store(member, other_store, hq):
    referred = make_customer(store=other_store, phone="13900139000", referrer=member)

    body = api_of(hq).get(f"/api/v1/customers/{referred.pk}/").json()

    assert body["referrer"] == member.pk


def test_her_card_at_home_lists_her_sale_at_another_store_without_its_guide(
    client, member, guide, other_store
):
    other_guide = make_staff(store=other_store, name="别店导购")
    make_order(customer=member, store=other_store, guide=other_guide, external_id="B-0005")
    client.force_login(guide.user)

    page = client.get(f"/fans/{member.pk}/").content.decode()

    assert other_store.name in page
    assert "别店导购" not in page


def test_the_card_masks_a_referrer_another_store_owns(client, store, other_store, guide):
    referrer = make_customer(store=other_store, phone="13900139000", name="李大明")
    fan = make_customer(store=store, phone=PHONE, referrer=referrer)
    client.force_login(guide.user)

    page = client.get(f"/fans/{fan.pk}/").content.decode()

    assert "李**" in page and "李大明" not in page


def test_the_check_in_page_masks_a_member_another_store_owns(client, member, other_store):
    campaign = make_campaign(stores=[member.store, other_store], code="spring-2026")
    CheckIn.objects.create(campaign=campaign, customer=member, checked_in_at=timezone.now())
    other_guide = make_staff(store=other_store)
    client.force_login(other_guide.user)

    page = client.get("/campaigns/spring-2026/check-in/").content.decode()

    assert "王**" in page and "王小丽" not in page


def test_the_check_in_page_names_her_to_her_own_store(client, member, guide, other_store):
    campaign = make_campaign(stores=[member.store, other_store], code="spring-2026")
    CheckIn.objects.create(campaign=campaign, customer=member, checked_in_at=timezone.now())
    client.force_login(guide.user)

    page = client.get("/campaigns/spring-2026/check-in/").content.decode()

    assert "王小丽" in page
