"""Issue 12, item 11: coordinates with more than 6 decimal places (geocoders give 7 or more) are
rounded to 6 (0.1 m) by the schema, at every door, instead of being refused."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from customers.models import Customer, Store
from customers.schemas import FanSchema, validate_input
from tests.doors.test_one_door import FAN_HEADER, staff_api
from tests.factories import make_customer


def coordinates(**given) -> tuple:
    fan = validate_input(FanSchema(partial=True), given)
    return fan.values.get("latitude"), fan.values.get("longitude")


def test_seven_decimals_are_rounded_half_up_to_six():
    assert coordinates(latitude="30.1234565", longitude="-120.1234564") == (
        Decimal("30.123457"),
        Decimal("-120.123456"),
    )


def test_a_latitude_that_rounds_to_90_is_accepted():
    assert coordinates(latitude="90.0000004") == (Decimal("90.000000"), None)


def test_a_latitude_that_rounds_above_90_is_refused():
    with pytest.raises(ValidationError) as caught:
        coordinates(latitude="90.0000005")
    assert list(caught.value.message_dict) == ["latitude"]


@pytest.mark.parametrize("value", ["1e400", "123456789.1234567"])
def test_a_coordinate_with_too_many_digits_is_refused_not_rounded(value):
    with pytest.raises(ValidationError) as caught:
        coordinates(latitude=value)
    assert list(caught.value.message_dict) == ["latitude"]


def test_a_tiny_exponent_rounds_to_zero():
    assert coordinates(latitude="-1e-400") == (Decimal("0.000000"), None)


def test_patch_rounds_the_coordinates(store, manager):
    fan = make_customer(store=store)
    response = staff_api(manager).patch(
        f"/api/v1/customers/{fan.pk}/",
        {"latitude": "30.27410049", "longitude": "120.15510051"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    fan.refresh_from_db()
    assert (fan.latitude, fan.longitude) == (Decimal("30.274100"), Decimal("120.155101"))


def test_import_customers_rounds_the_coordinates(store, tmp_path):
    path = tmp_path / "fans.csv"
    path.write_text(
        FAN_HEADER + f"13800138000,张三,,{store.code},,,,,,,,30.27410049,120.15510051,,,0\n",
        encoding="utf-8",
    )
    call_command("import_customers", str(path), "--no-progress", stdout=StringIO())
    fan = Customer.objects.get()
    assert (fan.latitude, fan.longitude) == (Decimal("30.274100"), Decimal("120.155101"))
    assert fan.distance == "within_3km"


def test_import_stores_rounds_the_coordinates(db, tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(
        "code,name,city,address,latitude,longitude\nS101,湖滨店,杭州,,30.2590004,120.1630005\n",
        encoding="utf-8",
    )
    call_command("import_stores", str(path), stdout=StringIO())
    store = Store.objects.get()
    assert (store.latitude, store.longitude) == (Decimal("30.259000"), Decimal("120.163001"))


def test_a_store_is_held_to_the_same_schema_in_the_admin(admin_client):
    form = {"code": "S101", "name": "湖滨店", "city": "杭州", "address": "", "latitude": "120.1",
            "longitude": "30.2", "is_active": "on"}  # fmt: skip
    response = admin_client.post("/admin/customers/store/add/", form)
    assert response.status_code == 200
    assert "latitude" in response.context["adminform"].form.errors
    assert not Store.objects.exists()
