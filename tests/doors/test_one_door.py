"""One schema and one service per write: the same bad input is refused with the same words at
every door (API single, API batch, CSV import, admin, page form), and nothing is written.

Messages are compared in the default language (Chinese), as a guide and HQ read them.
"""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.urls import reverse

from customers.auth import issue_staff_token
from customers.models import Customer, CustomerLabels, Order, Staff, StaffToken
from tests.api.conftest import token_client
from tests.factories import make_customer, make_order, make_staff

NEGATIVE = "金额不能为负。"  # The amount cannot be negative.
UNKNOWN_GUIDE = (
    "本门店没有该工号的在职导购。"  # No active guide with this work number at this store.
)
BAD_PHONE = "请输入大陆手机号：以 1 开头的 11 位数字。"  # Enter a mainland mobile number: …
NO_LUNAR_DAY_30 = "该农历月只有 29 天。"  # That lunar month has only 29 days. (lunar 2023, month 1)
GOLDEN = "golden"

ORDER_HEADER = "external_id,store,phone,guide,paid_at,amount,kind,refund_of,payment_method\n"
FAN_HEADER = (
    "phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,birthday_day,"
    "birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,is_opinion_leader\n"
)

BAD_ORDERS = {
    "negative amount": ({"amount": "-1"}, "amount", NEGATIVE),
    "unknown guide": ({"guide": "NOPE-1"}, "guide", UNKNOWN_GUIDE),
}
BAD_FANS = {
    "bad phone": ({"phone": "1380013800"}, "phone", BAD_PHONE),
    "no such lunar day": (
        {"birth_calendar": "lunar", "birth_year": "2023", "birth_month": "1", "birth_day": "30"},
        "birth_day",
        NO_LUNAR_DAY_30,
    ),
}


def counts() -> tuple[int, int, int]:
    return Order.objects.count(), Customer.objects.count(), CustomerLabels.objects.count()


def staff_api(staff):
    return token_client(issue_staff_token(staff.user)[1])


def run(command: str, path, *args: str) -> tuple[str, bool]:
    err = StringIO()
    try:
        call_command(command, str(path), "--no-progress", *args, stdout=StringIO(), stderr=err)
    except CommandError:
        return err.getvalue(), False
    return err.getvalue(), True


# --- an order ------------------------------------------------------------------------------------


def order_body(store, **changes) -> dict:
    body = {
        "external_id": "DOOR-1",
        "store": store.code,
        "customer": {"phone": "13800138000", "name": "张三"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "599.00",
        "payment_method": "card",
    }
    return {**body, **changes}


@pytest.fixture(params=BAD_ORDERS.values(), ids=BAD_ORDERS.keys())
def bad_order(request):
    return request.param


def test_a_bad_order_is_refused_alike_by_the_api(bad_order, store, manager):
    changes, field, message = bad_order
    before = counts()
    response = staff_api(manager).post(
        "/api/v1/orders/", order_body(store, **changes), format="json"
    )
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert counts() == before


def test_a_bad_order_is_refused_alike_by_the_batch(bad_order, store, manager):
    changes, field, message = bad_order
    good = order_body(store, external_id="DOOR-2")
    before = counts()
    response = staff_api(manager).post(
        "/api/v1/orders/batch/", {"orders": [order_body(store, **changes), good]}, format="json"
    )
    first, second = response.json()["results"]
    assert (first["status"], first["errors"]) == (400, {field: [message]})
    assert second["status"] == 201
    assert counts() == (before[0] + 1, before[1] + 1, before[2] + 1)  # the good one only


def test_a_bad_order_is_refused_alike_by_the_csv_import(bad_order, store, tmp_path):
    changes, field, message = bad_order
    row = {
        "external_id": "DOOR-1", "store": store.code, "phone": "13800138000", "guide": "",
        "paid_at": "2026-01-15T14:30:00+08:00", "amount": "599.00", "kind": "sale",
        "refund_of": "", "payment_method": "card", **changes,
    }  # fmt: skip
    path = tmp_path / "orders.csv"
    path.write_text(ORDER_HEADER + ",".join(row.values()) + "\n", encoding="utf-8")
    before = counts()
    err, ok = run("import_orders", path)
    assert not ok
    assert f"第 2 行：{field}：{message}" in err
    assert counts() == before


def test_a_bad_order_is_refused_alike_by_the_admin(bad_order, store, admin_client):
    changes, field, message = bad_order
    form = {
        "store": store.pk, "external_id": "DOOR-1", "phone": "13800138000", "name": "张三",
        "guide": "", "paid_at_0": "2026-01-15", "paid_at_1": "14:30:00", "amount": "599.00",
        "kind": "sale", "refund_of": "", "payment_method": "card",
    }  # fmt: skip
    if "guide" in changes:
        form["guide"] = make_staff(store=make_customer().store).pk  # works at another store
    else:
        form.update(changes)
    before = counts()
    response = admin_client.post(reverse("admin:customers_order_add"), form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert counts() == before


def test_the_admin_records_a_good_order_through_the_same_service(store, guide, admin_client):
    form = {
        "store": store.pk, "external_id": "DOOR-1", "phone": "+86 138 0013 8000", "name": "张三",
        "guide": guide.pk, "paid_at_0": "2026-01-15", "paid_at_1": "14:30:00", "amount": "599.00",
        "kind": "sale", "refund_of": "", "payment_method": "card",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:customers_order_add"), form)
    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.customer.phone, order.customer.guide, order.guide) == (
        "13800138000",
        guide,
        guide,
    )
    assert order.paid_at.isoformat() == "2026-01-15T06:30:00+00:00"
    assert CustomerLabels.objects.get(customer=order.customer).apple == "blossom"


def test_a_refund_over_its_sale_is_refused_by_the_admin_like_the_api(store, admin_client):
    sale = make_order(customer=make_customer(store=store, phone="13800138000"), amount="100.00")
    form = {
        "store": store.pk, "external_id": "R-1", "phone": "13800138000", "name": "",
        "guide": "", "paid_at_0": "2026-01-16", "paid_at_1": "10:00:00", "amount": "100.01",
        "kind": "refund", "refund_of": sale.pk, "payment_method": "card",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:customers_order_add"), form)
    assert response.context["adminform"].form.errors["amount"] == [
        "退款不能超过原销售额（剩余可退 100.00）。"
    ]
    assert Order.objects.count() == 1


def test_orders_are_not_edited_in_the_admin(store, admin_client):
    order = make_order(customer=make_customer(store=store))
    url = reverse("admin:customers_order_change", args=[order.pk])
    assert admin_client.get(url).status_code == 200  # shown, read-only
    admin_client.post(url, {"amount": "1.00"})
    order.refresh_from_db()
    assert str(order.amount) == "599.00"


# --- a fan ---------------------------------------------------------------------------------------


@pytest.fixture(params=BAD_FANS.values(), ids=BAD_FANS.keys())
def bad_fan(request):
    return request.param


def birthday_of(changes: dict) -> dict | None:
    if "birth_calendar" not in changes:
        return None
    return {
        "calendar": changes["birth_calendar"],
        "year": int(changes["birth_year"]),
        "month": int(changes["birth_month"]),
        "day": int(changes["birth_day"]),
    }


def test_a_bad_fan_is_refused_alike_by_the_api_registration(bad_fan, manager):
    changes, field, message = bad_fan
    body = {"phone": changes.get("phone", "13800138000"), "name": "张三"}
    if birthday_of(changes):
        body["birthday"] = birthday_of(changes)
    before = counts()
    response = staff_api(manager).post("/api/v1/customers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["birthday" if field.startswith("birth") else field] == [message]
    assert counts() == before


def test_a_bad_fan_is_refused_alike_by_the_api_patch(bad_fan, store, manager):
    changes, field, message = bad_fan
    fan = make_customer(store=store, phone="13900139000")
    body = {"phone": changes["phone"]} if "phone" in changes else {"birthday": birthday_of(changes)}
    response = staff_api(manager).patch(f"/api/v1/customers/{fan.pk}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["birthday" if field.startswith("birth") else field] == [message]
    fan.refresh_from_db()
    assert (fan.phone, fan.birth_calendar) == ("13900139000", "")


def test_a_bad_fans_phone_is_refused_alike_in_an_order_batch(store, manager):
    body = order_body(store, customer={"phone": BAD_FANS["bad phone"][0]["phone"]})
    before = counts()
    response = staff_api(manager).post("/api/v1/orders/batch/", {"orders": [body]}, format="json")
    assert response.json()["results"][0]["errors"] == {"customer.phone": [BAD_PHONE]}
    assert counts() == before


def test_a_bad_fan_is_refused_alike_by_the_csv_import(bad_fan, store, tmp_path):
    changes, field, message = bad_fan
    row = {
        "phone": "13800138000", "name": "张三", "gender": "f", "store": store.code, "guide": "",
        "birthday_calendar": "", "birthday_year": "", "birthday_month": "", "birthday_day": "",
        "birthday_is_leap_month": "", "city": "", "latitude": "", "longitude": "",
        "referrer_phone": "", "member_since": "", "is_opinion_leader": "0",
    }  # fmt: skip
    row.update({k.replace("birth_", "birthday_"): v for k, v in changes.items()})
    path = tmp_path / "fans.csv"
    path.write_text(FAN_HEADER + ",".join(row.values()) + "\n", encoding="utf-8")
    before = counts()
    err, ok = run("import_customers", path)
    assert not ok
    assert f"第 2 行：{field}：{message}" in err
    assert counts() == before


def admin_fan_form(store, fan=None, **changes) -> dict:
    form = {
        "phone": fan.phone if fan else "13800138000", "name": fan.name if fan else "张三",
        "gender": "", "store": store.pk, "guide": "", "referrer": "", "member_since": "",
        "birth_calendar": "", "birth_year": "", "birth_month": "", "birth_day": "", "city": "",
        "latitude": "", "longitude": "", "body_shape": "", "height_cm": "", "skin_tone": "",
        "consumption_notes": "", "weight_kg": "", "top_size": "", "bottom_size": "",
        "shoe_size": "", "favourite_colours": "", "notes": "", "wechat_id": "",
        "wechat_remark": "",
    }  # fmt: skip
    return {**form, **changes}


def test_a_bad_fan_is_refused_alike_by_the_admin(bad_fan, store, admin_client):
    changes, field, message = bad_fan
    before = counts()
    response = admin_client.post(
        reverse("admin:customers_customer_add"), admin_fan_form(store, **changes)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert counts() == before


def test_a_bad_fan_is_refused_alike_by_the_page_form(bad_fan, client, guide):
    changes, field, message = bad_fan
    fan = make_customer(store=guide.store, guide=guide, phone="13900139000", name="李四")
    client.force_login(guide.user)
    form = {"name": fan.name, "phone": fan.phone, "birth_calendar": "", **changes}
    response = client.post(f"/fans/{fan.pk}/edit/", form)
    assert response.status_code == 400
    page_form = response.context["form"]
    shown = page_form.birthday_errors if field.startswith("birth") else page_form.errors[field]
    assert list(shown) == [message]
    fan.refresh_from_db()
    assert (fan.phone, fan.birth_calendar) == ("13900139000", "")


def test_the_admin_registers_a_fan_through_the_same_service(store, guide, admin_client):
    form = admin_fan_form(
        store, guide=guide.pk, birth_calendar="gregorian", birth_month="7", birth_day="23"
    )
    response = admin_client.post(reverse("admin:customers_customer_add"), form)
    assert response.status_code == 302
    fan = Customer.objects.get()
    assert (fan.guide, fan.zodiac) == (guide, "leo")
    assert fan.labels.apple == "blossom"


def test_the_admin_refuses_a_guide_of_another_store_like_the_api(
    store, other_store_guide, admin_client
):
    form = admin_fan_form(store, guide=other_store_guide.pk)
    response = admin_client.post(reverse("admin:customers_customer_add"), form)
    assert response.context["adminform"].form.errors["guide"] == [UNKNOWN_GUIDE]
    assert not Customer.objects.exists()


# --- the opinion leader is golden at once, whichever door marks her ----------------------------


@pytest.fixture
def green_fan(store):
    fan = make_customer(store=store, phone="13900139000", name="李四")
    CustomerLabels.objects.create(
        customer=fan, apple="green", frequency=1, monetary="599.00", lifetime_sales=1
    )
    return fan


def test_marking_an_opinion_leader_in_the_admin_makes_her_golden_at_once(
    store, green_fan, admin_client
):
    url = reverse("admin:customers_customer_change", args=[green_fan.pk])
    response = admin_client.post(url, admin_fan_form(store, green_fan, is_opinion_leader="on"))
    assert response.status_code == 302
    assert CustomerLabels.objects.get(customer=green_fan).apple == GOLDEN


def test_unmarking_her_in_the_admin_gives_back_the_apple_of_her_sales(
    store, green_fan, admin_client
):
    Customer.objects.filter(pk=green_fan.pk).update(is_opinion_leader=True)
    CustomerLabels.objects.filter(customer=green_fan).update(apple=GOLDEN)
    url = reverse("admin:customers_customer_change", args=[green_fan.pk])
    admin_client.post(url, admin_fan_form(store, green_fan))
    assert CustomerLabels.objects.get(customer=green_fan).apple == "green"


def test_marking_an_opinion_leader_by_patch_makes_her_golden_at_once(green_fan, manager):
    response = staff_api(manager).patch(
        f"/api/v1/customers/{green_fan.pk}/", {"is_opinion_leader": True}, format="json"
    )
    assert response.json()["apple"] == GOLDEN
    assert CustomerLabels.objects.get(customer=green_fan).apple == GOLDEN


def test_marking_an_opinion_leader_by_import_makes_her_golden_at_once(store, green_fan, tmp_path):
    path = tmp_path / "fans.csv"
    path.write_text(
        FAN_HEADER + f"{green_fan.phone},李四,,{store.code},,,,,,,,,,,,1\n", encoding="utf-8"
    )
    assert run("import_customers", path)[1]
    assert CustomerLabels.objects.get(customer=green_fan).apple == GOLDEN


def test_marking_an_opinion_leader_in_the_page_form_makes_her_golden_at_once(
    client, manager, green_fan
):
    client.force_login(manager.user)
    form = {"name": green_fan.name, "phone": green_fan.phone, "is_opinion_leader": "on"}
    assert client.post(f"/fans/{green_fan.pk}/edit/", form).status_code == 302
    assert CustomerLabels.objects.get(customer=green_fan).apple == GOLDEN


# --- staff switched off in the admin ---------------------------------------------------------


def test_switching_a_staff_member_off_in_the_admin_ends_her_tokens_and_sessions(
    guide, admin_client
):
    issue_staff_token(guide.user)
    form = {
        "name": guide.name, "role": guide.role, "store": guide.store_id,
        "work_number": guide.work_number, "abbreviation": "",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:customers_staff_change", args=[guide.pk]), form)
    assert response.status_code == 302
    guide.refresh_from_db()
    assert (guide.is_active, guide.user.is_active) == (False, False)
    assert not StaffToken.objects.filter(user=guide.user).exists()


def test_switching_a_user_off_in_the_admin_switches_her_staff_profile_off(guide, admin_client):
    issue_staff_token(guide.user)
    user = guide.user
    form = {
        "username": user.username, "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
        "staff-TOTAL_FORMS": "1", "staff-INITIAL_FORMS": "1", "staff-MIN_NUM_FORMS": "0",
        "staff-MAX_NUM_FORMS": "1", "staff-0-id": guide.pk, "staff-0-user": user.pk,
        "staff-0-name": guide.name, "staff-0-role": guide.role, "staff-0-store": guide.store_id,
        "staff-0-work_number": guide.work_number, "staff-0-abbreviation": "",
        "staff-0-is_active": "on",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:auth_user_change", args=[user.pk]), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    guide.refresh_from_db()
    assert (guide.is_active, guide.user.is_active) == (False, False)
    assert not StaffToken.objects.filter(user=user).exists()


def test_a_work_number_of_another_user_is_refused_in_the_admin_like_the_import(
    guide, manager, admin_client
):
    form = {
        "name": guide.name, "role": guide.role, "store": guide.store_id,
        "work_number": manager.work_number, "abbreviation": "", "is_active": "on",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:customers_staff_change", args=[guide.pk]), form)
    assert response.context["adminform"].form.errors["work_number"] == [
        f"“{manager.work_number}”已属于 {manager.user.username}"
    ]
    assert Staff.objects.get(pk=guide.pk).work_number == guide.work_number


def test_a_profile_added_under_a_user_in_the_admin_is_checked_and_saved_like_an_import(
    store, admin_client
):
    user = get_user_model().objects.create_user("newbie", password="pass-1234-word")
    form = {
        "username": "newbie", "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
        "is_active": "on", "staff-TOTAL_FORMS": "1", "staff-INITIAL_FORMS": "0",
        "staff-MIN_NUM_FORMS": "0", "staff-MAX_NUM_FORMS": "1", "staff-0-user": user.pk,
        "staff-0-name": "新导购", "staff-0-role": "guide", "staff-0-store": "",
        "staff-0-work_number": "G-NEW", "staff-0-abbreviation": "", "staff-0-is_active": "on",
    }  # fmt: skip
    response = admin_client.post(reverse("admin:auth_user_change", args=[user.pk]), form)
    assert response.status_code == 200  # a guide needs a store, as in import_staff
    assert not Staff.objects.exists()
    form["staff-0-store"] = store.pk
    response = admin_client.post(reverse("admin:auth_user_change", args=[user.pk]), form)
    assert response.status_code == 302
    staff = Staff.objects.get()
    assert (staff.user, staff.store, staff.work_number) == (user, store, "G-NEW")
