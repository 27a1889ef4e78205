"""The OpenAPI schema is generated from the serializers that validate: what it documents is what
a door accepts (the two disagreements issue 11 found are settled)."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from customers.models import Order
from customers.schemas import FanSchema
from tests.doors.test_one_door import order_body, staff_api
from tests.factories import make_customer


@pytest.fixture
def components(db) -> dict:
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return schema.json()["components"]["schemas"]


def test_patch_documents_exactly_the_fields_it_accepts(components):
    documented = set(components["PatchedCustomerWriteRequest"]["properties"])
    assert documented == set(FanSchema().fields)
    assert {"phone", "wechat_id", "wechat_remark"} <= documented


def test_patch_accepts_a_phone_and_a_wechat_remark(store, manager):
    fan = make_customer(store=store)
    response = staff_api(manager).patch(
        f"/api/v1/customers/{fan.pk}/",
        {"phone": "+86 137 0000 0001", "wechat_remark": "WXL-张三"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    fan.refresh_from_db()
    assert (fan.phone, fan.wechat_remark) == ("13700000001", "WXL-张三")


def test_an_items_unit_price_is_documented_optional_with_its_default(components):
    item = components["OrderItemRequest"]
    assert item["required"] == ["sku"]
    assert item["properties"]["unit_price"]["default"] == "0.00"


def test_an_item_without_a_unit_price_is_recorded_at_zero(store, manager):
    body = order_body(store, items=[{"sku": "A1", "quantity": 2}])
    assert staff_api(manager).post("/api/v1/orders/", body, format="json").status_code == 201
    assert Order.objects.get().items.get().unit_price == Decimal("0.00")
