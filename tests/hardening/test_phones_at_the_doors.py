"""Issue 12 item 3 at the doors: a phone in full-width digits is the same fan as its ASCII form;
one in other non-ASCII digits is a 400 / line error, never the database's check (a 500)."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from customers.models import Customer, Order, PosToken
from tests.factories import make_customer

FULL_WIDTH = "１３９００１３９０００"
ARABIC_INDIC = "١٣٩٠٠١٣٩٠٠٠"


@pytest.fixture
def guide_api(guide) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(guide.user)
    return client


@pytest.fixture
def pos(store) -> Client:
    key = PosToken.issue(store=store, name="front desk")[1]
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {key}")


def _post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_registering_with_full_width_digits_stores_the_ascii_phone(guide_api):
    response = _post(guide_api, "/api/v1/customers/", {"phone": FULL_WIDTH, "name": "王小丽"})
    assert response.status_code == 201
    assert Customer.objects.get().phone == "13900139000"


def test_registering_with_arabic_indic_digits_is_a_400_on_phone(guide_api):
    response = _post(guide_api, "/api/v1/customers/", {"phone": ARABIC_INDIC, "name": "王小丽"})
    assert response.status_code == 400
    assert "phone" in response.json()
    assert not Customer.objects.exists()


def test_an_order_with_full_width_digits_is_the_ascii_fans(pos, store):
    fan = make_customer(store=store, phone="13900139000")
    order = {
        "external_id": "POS-1",
        "customer": {"phone": FULL_WIDTH},
        "paid_at": "2026-11-15T12:00:00+08:00",
        "amount": "599.00",
    }
    assert _post(pos, "/api/v1/orders/", order).status_code == 201
    assert Order.objects.get().customer == fan
    assert Customer.objects.count() == 1


def test_an_order_with_arabic_indic_digits_is_a_400(pos):
    order = {
        "external_id": "POS-1",
        "customer": {"phone": ARABIC_INDIC},
        "paid_at": "2026-11-15T12:00:00+08:00",
        "amount": "599.00",
    }
    assert _post(pos, "/api/v1/orders/", order).status_code == 400
    assert not Order.objects.exists() and not Customer.objects.exists()


def test_the_fan_edit_form_refuses_arabic_indic_digits_with_a_form_error(client, guide, store):
    fan = make_customer(store=store, guide=guide, phone="13900139000", name="王小丽")
    client.force_login(guide.user)
    response = client.post(f"/fans/{fan.pk}/edit/", {"name": "王小丽", "phone": ARABIC_INDIC})
    assert response.status_code == 400
    fan.refresh_from_db()
    assert fan.phone == "13900139000"


HEADER = (
    "phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,birthday_day,"
    "birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,is_opinion_leader"
)


def test_import_customers_reports_arabic_indic_digits_on_their_line(store, tmp_path):
    rest = "," * 11
    path = tmp_path / "fans.csv"
    path.write_text(
        f"{HEADER}\n13700000001,甲,,{store.code},{rest}\n{ARABIC_INDIC},乙,,{store.code},{rest}\n"
        f"{FULL_WIDTH},丙,,{store.code},{rest}\n",
        encoding="utf-8",
    )
    err = io.StringIO()
    with translation.override("en"), pytest.raises(CommandError, match="1 row"):
        call_command(
            "import_customers", str(path), "--no-progress", stdout=io.StringIO(), stderr=err
        )
    assert err.getvalue().startswith("line 3: phone:")
    assert sorted(Customer.objects.values_list("phone", flat=True)) == [
        "13700000001",
        "13900139000",
    ]
