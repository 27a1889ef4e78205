"""Fans over the API: list and filters, lookup, registration, detail and PATCH."""

from datetime import date

import pytest

from customers.models import Customer, CustomerLabels, CustomerPrediction
from segmentation.models import StoreLabelling
from tagging.models import CustomerTag, Tag
from tests.factories import make_customer, make_staff

LIST = "/api/v1/customers/"
LOOKUP = "/api/v1/customers/lookup/"


def labelled(store, **labels) -> Customer:
    fan = make_customer(store=store)
    CustomerLabels.objects.create(customer=fan, **labels)
    return fan


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def tag(fan: Customer, ref: str) -> None:
    group, code = ref.split(":")
    CustomerTag.objects.create(customer=fan, tag=Tag.objects.get(group__code=group, code=code))


# --- list ----------------------------------------------------------------------------------------


def test_a_list_row_has_exactly_the_spec_fields(guide_api, store, guide):
    fan = make_customer(store=store, phone="13800138000", name="张三", guide=guide)
    CustomerLabels.objects.create(
        customer=fan, apple="red", rfm_segment="important_value", r_stage="active", membership="vip"
    )
    tag(fan, "style:business")
    row = guide_api.get(LIST).json()["results"][0]
    tags = row.pop("tags")
    assert row == {
        "id": fan.pk,
        "name": "张三",
        "phone_masked": "138****8000",
        "store": store.code,
        "guide": guide.work_number,
        "apple": "red",
        "rfm_segment": "important_value",
        "r_stage": "active",
        "membership": "vip",
    }
    assert set(tags) == {
        "apple:red",
        "rfm_segment:important_value",
        "r_stage:active",
        "membership:vip",
        "style:business",
    }


def test_the_list_is_paginated_with_count_next_and_previous(guide_api, store):
    for _ in range(3):
        make_customer(store=store)
    body = guide_api.get(LIST, {"page_size": 2}).json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert (
        body["count"] == 3
        and len(body["results"]) == 2
        and body["next"]
        and body["previous"] is None
    )


def test_page_size_is_capped_at_500(guide_api, store):
    Customer.objects.bulk_create(
        Customer(store=store, phone=f"136{n:08d}", name=f"f{n}") for n in range(501)
    )
    assert len(guide_api.get(LIST, {"page_size": 1000}).json()["results"]) == 500


def test_q_matches_the_name(guide_api, store):
    fan = make_customer(store=store, name="王美丽")
    make_customer(store=store, name="李四")
    assert ids(guide_api.get(LIST, {"q": "美丽"})) == [fan.pk]


def test_q_of_four_digits_matches_the_phone_tail(guide_api, store):
    fan = make_customer(store=store, phone="13800138000")
    make_customer(store=store, phone="13800008001")
    assert ids(guide_api.get(LIST, {"q": "8000"})) == [fan.pk]


@pytest.mark.parametrize(
    "param,value,labels",
    [
        ("apple", "red", {"apple": "red"}),
        ("segment", "general_winback", {"rfm_segment": "general_winback"}),
        ("stage", "sleeping", {"r_stage": "sleeping"}),
    ],
)
def test_label_filters_keep_only_matching_fans(guide_api, store, param, value, labels):
    fan = labelled(store, **labels)
    labelled(store)
    assert ids(guide_api.get(LIST, {param: value})) == [fan.pk]


def test_an_unknown_apple_is_a_400_naming_the_filter(guide_api, store):
    response = guide_api.get(LIST, {"apple": "purple"})
    assert response.status_code == 400
    assert "apple" in response.json()


def test_several_tags_mean_all_of_them(guide_api, store):
    both = make_customer(store=store)
    tag(both, "style:business")
    tag(both, "attention:activities")
    one = make_customer(store=store)
    tag(one, "style:business")
    response = guide_api.get(LIST + "?tag=style:business&tag=attention:activities")
    assert ids(response) == [both.pk]


def test_a_computed_tag_filters_too(guide_api, store):
    fan = labelled(store, apple="golden")
    labelled(store, apple="green")
    assert ids(guide_api.get(LIST, {"tag": "apple:golden"})) == [fan.pk]


def test_an_unknown_tag_is_a_400_naming_it(guide_api, store):
    response = guide_api.get(LIST, {"tag": "style:nope"})
    assert response.status_code == 400
    assert "style:nope" in str(response.json()["tag"])


def test_the_guide_filter_takes_a_work_number(manager_api, store, guide):
    fan = make_customer(store=store, guide=guide)
    make_customer(store=store)
    assert ids(manager_api.get(LIST, {"guide": guide.work_number})) == [fan.pk]


def test_a_guide_of_another_store_is_not_a_valid_filter(manager_api, other_store_guide):
    assert manager_api.get(LIST, {"guide": other_store_guide.work_number}).status_code == 400


def test_hq_filters_by_store_code(hq_api, store, other_store):
    fan = make_customer(store=other_store)
    make_customer(store=store)
    assert ids(hq_api.get(LIST, {"store": other_store.code})) == [fan.pk]


def test_birthday_within_keeps_fans_whose_birthday_is_in_the_window(guide_api, store, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: date(2026, 3, 10))
    soon = make_customer(store=store, birth_calendar="gregorian", birth_month=3, birth_day=17)
    make_customer(store=store, birth_calendar="gregorian", birth_month=3, birth_day=18)
    make_customer(store=store)
    assert ids(guide_api.get(LIST, {"birthday_within": 7})) == [soon.pk]


def test_the_list_takes_the_same_number_of_queries_for_5_or_50_fans(
    guide_api, store, django_assert_num_queries
):
    def fill(n):
        for _ in range(n):
            fan = labelled(store, apple="green")
            tag(fan, "style:business")

    fill(5)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        guide_api.get(LIST, {"page_size": 500, "tag": "style:business"})
    fill(45)
    with django_assert_num_queries(len(few)):
        response = guide_api.get(LIST, {"page_size": 500, "tag": "style:business"})
    assert response.json()["count"] == 50


# --- lookup --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone", ["13800138000", "+86 138 0013 8000", "138-0013-8000", "8613800138000"]
)
def test_lookup_accepts_every_phone_format(pos, store, phone):
    fan = make_customer(store=store, phone="13800138000")
    response = pos.post(LOOKUP, {"phone": phone}, format="json")
    assert response.status_code == 200
    assert response.json()["id"] == fan.pk


def test_lookup_of_an_unknown_phone_is_a_404(pos, store):
    assert pos.post(LOOKUP, {"phone": "13800138000"}, format="json").status_code == 404


def test_lookup_by_the_pos_of_another_store_answers_her_member_card_only(pos, other_store):
    make_customer(store=other_store, phone="13800138000", name="王小丽")

    response = pos.post(LOOKUP, {"phone": "13800138000"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "member_card": {"name_masked": "王**", "phone_masked": "138****8000", "membership": None}
    }


def test_lookup_by_staff_of_another_store_is_a_404(guide_api, other_store):
    make_customer(store=other_store, phone="13800138000")
    assert guide_api.post(LOOKUP, {"phone": "13800138000"}, format="json").status_code == 404


def test_lookup_of_a_12_digit_phone_is_a_400_naming_the_phone(pos, store):
    response = pos.post(LOOKUP, {"phone": "138001380001"}, format="json")
    assert response.status_code == 400
    assert "phone" in response.json()


def test_lookup_by_get_with_the_phone_in_the_url_is_not_offered(pos, store):
    assert pos.get(LOOKUP + "?phone=13800138000").status_code == 405


# --- registration --------------------------------------------------------------------------------


def test_a_pos_registers_a_member_at_its_store(pos, store):
    response = pos.post(
        LIST, {"phone": "+86 138 0013 8000", "name": "张三", "gender": "f"}, format="json"
    )
    assert response.status_code == 201, response.json()
    fan = Customer.objects.get()
    assert (fan.phone, fan.store, fan.gender) == ("13800138000", store, "f")
    assert response.json()["apple"] == "blossom"


def test_a_guide_registering_a_fan_becomes_her_guide(guide_api, guide):
    guide_api.post(LIST, {"phone": "13800138000", "name": "张三"}, format="json")
    assert Customer.objects.get().guide == guide


def test_registering_a_taken_phone_is_a_409_with_the_existing_id(pos, store):
    fan = make_customer(store=store, phone="13800138000")
    response = pos.post(LIST, {"phone": "138 0013 8000", "name": "张三"}, format="json")
    assert response.status_code == 409
    assert response.json()["id"] == fan.pk
    assert Customer.objects.count() == 1


def test_registering_without_a_name_is_a_400(pos):
    response = pos.post(LIST, {"phone": "13800138000"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    assert not Customer.objects.exists()


def test_registering_an_impossible_birthday_is_a_400_naming_the_birthday(pos):
    body = {
        "phone": "13800138000",
        "name": "张三",
        "birthday": {"calendar": "gregorian", "month": 2, "day": 30},
    }
    response = pos.post(LIST, body, format="json")
    assert response.status_code == 400 and "birthday" in response.json()
    assert not Customer.objects.exists()


# --- detail and PATCH ----------------------------------------------------------------------------

DETAIL_FIELDS = {
    "id", "name", "phone", "gender", "store", "guide", "birthday", "next_birthday", "city", "latitude",
    "longitude", "referrer", "member_since", "is_opinion_leader", "do_not_contact", "apple", "rfm_segment",
    "r_stage", "membership", "rhythm", "zodiac", "birthday_month", "distance", "tags", "remark_names",
    "metrics", "labels_as_of", "body_shape", "height_cm", "skin_tone", "consumption_notes", "weight_kg",
    "top_size", "bottom_size", "shoe_size", "favourite_colours", "notes", "prediction",
}  # fmt: skip


def test_the_detail_has_every_spec_field(pos, store):
    fan = make_customer(
        store=store, birth_calendar="lunar", birth_year=1990, birth_month=8, birth_day=15
    )
    StoreLabelling.objects.create(store=store, as_of=date(2026, 1, 31))
    CustomerLabels.objects.create(
        customer=fan, frequency=2, monetary="3200.00",
        lifetime_sales=4, first_sale=date(2024, 3, 15), last_sale=date(2026, 1, 28), apple="red",
        remark_store_account="WXL-张三-VIP-20240315", remark_personal_account="张三-红苹果-20240315",
    )  # fmt: skip
    body = pos.get(f"{LIST}{fan.pk}/").json()
    assert set(body) == DETAIL_FIELDS
    assert body["birthday"] == {
        "calendar": "lunar",
        "year": 1990,
        "month": 8,
        "day": 15,
        "is_leap_month": False,
    }
    assert body["next_birthday"] is not None
    assert body["remark_names"] == {
        "store_account": "WXL-张三-VIP-20240315",
        "personal_account": "张三-红苹果-20240315",
    }
    assert body["metrics"] == {
        "recency_days": 3, "frequency": 2, "monetary": "3200.00", "lifetime_sales": 4,
        "first_sale": "2024-03-15", "last_sale": "2026-01-28",
    }  # fmt: skip
    assert body["labels_as_of"] == "2026-01-31"
    assert "apple:red" in body["tags"]


def test_a_guide_patches_the_profile_and_birthday(guide_api, store):
    fan = make_customer(store=store)
    changes = {
        "height_cm": 165,
        "body_shape": "梨形",
        "birthday": {"calendar": "gregorian", "month": 7, "day": 23},
    }
    response = guide_api.patch(f"{LIST}{fan.pk}/", changes, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["zodiac"] == "leo"
    fan.refresh_from_db()
    assert (fan.height_cm, fan.body_shape, fan.birth_month, fan.birth_day) == (165, "梨形", 7, 23)


def test_a_height_of_251_is_a_400_and_nothing_changes(guide_api, store):
    fan = make_customer(store=store, body_shape="")
    response = guide_api.patch(
        f"{LIST}{fan.pk}/", {"height_cm": 251, "body_shape": "梨形"}, format="json"
    )
    assert response.status_code == 400 and "height_cm" in response.json()
    fan.refresh_from_db()
    assert (fan.height_cm, fan.body_shape) == (None, "")


def test_a_guide_cannot_mark_an_opinion_leader(guide_api, store):
    fan = make_customer(store=store)
    response = guide_api.patch(f"{LIST}{fan.pk}/", {"is_opinion_leader": True}, format="json")
    assert response.status_code == 400 and "is_opinion_leader" in response.json()
    fan.refresh_from_db()
    assert fan.is_opinion_leader is False


def test_a_manager_marks_an_opinion_leader_golden(manager_api, store):
    fan = make_customer(store=store)
    response = manager_api.patch(f"{LIST}{fan.pk}/", {"is_opinion_leader": True}, format="json")
    assert response.status_code == 200
    assert response.json()["apple"] == "golden"


def test_a_read_only_field_cannot_be_patched(guide_api, store):
    fan = make_customer(store=store)
    response = guide_api.patch(f"{LIST}{fan.pk}/", {"apple": "red"}, format="json")
    assert response.status_code == 400 and "apple" in response.json()


def test_reassigning_to_a_guide_of_the_store_by_work_number(manager_api, store):
    other = make_staff(store=store)
    fan = make_customer(store=store)
    response = manager_api.patch(f"{LIST}{fan.pk}/", {"guide": other.work_number}, format="json")
    assert response.status_code == 200 and response.json()["guide"] == other.work_number


def test_the_detail_carries_her_prediction_and_none_before_a_fit(pos, store):
    fan, other = make_customer(store=store), make_customer(store=store)
    CustomerPrediction.objects.create(
        customer=fan, p_alive=0.8125, expected_purchases_90d=1.5, expected_purchases_365d=4.25,
        expected_spend="400.00", cycle_days=40, next_purchase_on=date(2026, 2, 10),
        clv_12m="1700.00", forecast="due_soon", model_as_of=date(2026, 1, 31),
    )  # fmt: skip
    body = pos.get(f"{LIST}{fan.pk}/").json()
    assert body["prediction"] == {
        "p_alive": 0.8125, "expected_purchases_90d": 1.5, "expected_purchases_365d": 4.25,
        "next_purchase_on": "2026-02-10", "clv_12m": "1700.00", "model_as_of": "2026-01-31",
    }  # fmt: skip
    assert "forecast:due_soon" in body["tags"]
    assert pos.get(f"{LIST}{other.pk}/").json()["prediction"] is None


def test_the_list_filters_by_forecast_and_sorts_by_value_without_a_forecast_last(pos, store):
    low, none, high = (make_customer(store=store) for _ in range(3))
    for fan, value, code in ((low, "100.00", "at_risk"), (high, "900.00", "due_soon")):
        CustomerPrediction.objects.create(
            customer=fan, p_alive=0.5, expected_purchases_90d=1, expected_purchases_365d=2,
            expected_spend="50.00", clv_12m=value, forecast=code, model_as_of=date(2026, 1, 31),
        )  # fmt: skip
    ids = [r["id"] for r in pos.get(LIST, {"ordering": "-clv_12m"}).json()["results"]]
    assert ids == [high.pk, low.pk, none.pk]
    ids = [r["id"] for r in pos.get(LIST, {"ordering": "clv_12m"}).json()["results"]]
    assert ids == [low.pk, high.pk, none.pk]
    assert [r["id"] for r in pos.get(LIST, {"forecast": "at_risk"}).json()["results"]] == [low.pk]
    assert pos.get(LIST, {"ordering": "phone"}).status_code == 400
