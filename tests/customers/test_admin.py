import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import PosToken
from tests.factories import make_customer, make_order

APPS = {"customers", "tagging", "segmentation", "auth"}


@pytest.fixture
def hq_client(client, db):
    user = get_user_model().objects.create_superuser("root", password="pass-1234-word")
    client.force_login(user)
    return client


def admin_models():
    return sorted(
        (m._meta.app_label, m._meta.model_name)
        for m in admin.site._registry
        if m._meta.app_label in APPS
    )


@pytest.mark.parametrize(("app", "model"), admin_models())
def test_every_admin_list_page_opens(hq_client, store, app, model):
    fan = make_customer(store=store, name="张三")
    make_order(customer=fan)
    assert hq_client.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200


def test_the_fan_list_finds_a_fan_by_the_last_digits_of_the_phone(hq_client, store):
    make_customer(store=store, name="张三", phone="13800138000")
    make_customer(store=store, name="李四", phone="13900139999")
    response = hq_client.get(reverse("admin:customers_customer_changelist"), {"q": "8000"})
    assert "张三" in response.content.decode() and "李四" not in response.content.decode()


def test_the_fan_list_masks_phones(hq_client, store):
    make_customer(store=store, phone="13800138000")
    response = hq_client.get(reverse("admin:customers_customer_changelist"))
    assert "138****8000" in response.content.decode()
    assert "13800138000" not in response.content.decode()


def test_adding_a_pos_token_in_the_admin_shows_its_key_once_and_stores_only_the_hash(
    hq_client, store
):
    response = hq_client.post(
        reverse("admin:customers_postoken_add"),
        {"store": store.pk, "name": "front desk", "is_active": "on"},
        follow=True,
    )
    token = PosToken.objects.get()
    # The message may be translated; the key itself is the only long pos_… word on the page.
    key = re.search(r"pos_[A-Za-z0-9_\-]{20,}", response.content.decode()).group(0)
    assert PosToken.hash_key(key) == token.key_hash
    assert (
        key
        not in hq_client.get(
            reverse("admin:customers_postoken_change", args=[token.pk])
        ).content.decode()
    )


def test_revoking_pos_tokens_deactivates_them(hq_client, store):
    token, _ = PosToken.issue(store=store, name="front desk")
    hq_client.post(
        reverse("admin:customers_postoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    token.refresh_from_db()
    assert token.is_active is False


def test_a_fan_and_an_order_open_in_the_admin(hq_client, store):
    fan = make_customer(store=store)
    order = make_order(customer=fan)
    assert (
        hq_client.get(reverse("admin:customers_customer_change", args=[fan.pk])).status_code == 200
    )
    assert (
        hq_client.get(reverse("admin:customers_order_change", args=[order.pk])).status_code == 200
    )


@pytest.mark.parametrize("model", ["customer", "order"])
def test_admin_lists_of_fans_and_orders_do_not_grow_queries_with_rows(
    hq_client, store, guide, model
):
    def add_rows(n: int) -> None:
        for _ in range(n):
            make_order(customer=make_customer(store=store, guide=guide), guide=guide)

    url = reverse(f"admin:customers_{model}_changelist")
    add_rows(2)
    with CaptureQueriesContext(connection) as few:
        hq_client.get(url)
    add_rows(20)
    with CaptureQueriesContext(connection) as many:
        hq_client.get(url)
    assert len(many) == len(few)
