from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from campaigns.models import AudienceMember, Campaign, CheckIn
from customers.models import PosToken, Staff
from tests.campaigns.helpers import NOW, make_campaign, make_fan

CREATE_URL = "/api/v1/campaigns/"


def client_for(staff: Staff) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=staff.user)
    return client


def pos_client(store) -> APIClient:
    _token, key = PosToken.issue(store=store, name="front desk")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def body(**overrides) -> dict:
    data = {
        "code": "spring-2026",
        "name": "春季新品会",
        "kind": "offline",
        "starts_on": "2026-03-05",
        "ends_on": "2026-03-08",
        "holdout_percent": 10,
        "seed": 42,
    }
    data.update(overrides)
    return data


def test_manager_creates_an_event_for_their_store(manager, store):
    response = client_for(manager).post(CREATE_URL, body(stores=[store.code]), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["stores"] == [store.code]
    assert response.json()["seed"] == 42
    campaign = Campaign.objects.get(code="spring-2026")
    assert campaign.created_by == manager


def test_manager_without_stores_gets_their_own_store(manager, store, other_store):
    response = client_for(manager).post(CREATE_URL, body(), format="json")

    assert response.status_code == 201
    assert response.json()["stores"] == [store.code]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ends_on": "2026-03-04"}, "ends_on"),
        ({"holdout_percent": -1}, "holdout_percent"),
        ({"holdout_percent": 51}, "holdout_percent"),
        ({"audience": {"all": ["apple:purple"]}}, "all"),
        ({"code": "not a slug"}, "code"),
        ({"code": "new"}, "code"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(manager, overrides, field):
    response = client_for(manager).post(CREATE_URL, body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Campaign.objects.exists()


def test_holdout_of_exactly_50_percent_is_accepted(manager):
    response = client_for(manager).post(CREATE_URL, body(holdout_percent=50), format="json")

    assert response.status_code == 201


def test_a_store_the_manager_does_not_run_is_refused(manager, other_store):
    response = client_for(manager).post(CREATE_URL, body(stores=[other_store.code]), format="json")

    assert response.status_code == 400
    assert other_store.code in " ".join(response.json()["stores"])
    assert not Campaign.objects.exists()


def test_hq_creates_a_company_wide_event(hq, store, other_store):
    response = client_for(hq).post(CREATE_URL, body(), format="json")

    assert response.status_code == 201
    assert sorted(response.json()["stores"]) == sorted([store.code, other_store.code])


def test_a_duplicate_code_is_refused(manager, store):
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(manager).post(CREATE_URL, body(), format="json")

    assert response.status_code == 400
    assert "code" in response.json()


def test_guides_and_pos_devices_cannot_plan_events(guide, store):
    assert client_for(guide).get(CREATE_URL).status_code == 403
    assert client_for(guide).post(CREATE_URL, body(), format="json").status_code == 403
    assert pos_client(store).get(CREATE_URL).status_code == 403
    assert not Campaign.objects.exists()


def test_list_shows_only_events_of_the_managers_store(
    manager, store, other_store, django_assert_num_queries
):
    make_campaign(stores=[store], code="mine")
    make_campaign(stores=[store, other_store], code="shared")
    make_campaign(stores=[other_store], code="theirs")
    client = client_for(manager)

    with django_assert_num_queries(2):  # the campaigns, their stores (one prefetch)
        response = client.get(CREATE_URL)

    assert response.status_code == 200
    assert sorted(row["code"] for row in response.json()["results"]) == ["mine", "shared"]


def test_freezing_the_audience_answers_the_counts_per_rule(manager, store):
    make_fan(store=store, apple="red")
    make_fan(store=store, apple="red", distance="out_of_town")
    make_fan(store=store, apple="red", do_not_contact=True)
    make_fan(store=store, apple="green")
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(manager).post(
        "/api/v1/campaigns/spring-2026/audience/", {"any": ["apple:red"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "matched": 3,
        "removed": {"out_of_town": 1, "contact_cap": 0, "opted_out": 1},
        "holdout": 0,
        "contacts": 1,
    }


def test_freezing_with_an_unknown_tag_names_the_field(manager, store):
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(manager).post(
        "/api/v1/campaigns/spring-2026/audience/", {"none": ["r_stage:asleep"]}, format="json"
    )

    assert response.status_code == 400
    assert "r_stage:asleep" in " ".join(response.json()["none"])


def test_another_stores_event_is_not_found(manager, other_store):
    make_fan(store=other_store)
    make_campaign(stores=[other_store], code="theirs")
    client = client_for(manager)

    assert client.post("/api/v1/campaigns/theirs/audience/", {}, format="json").status_code == 404
    assert client.get("/api/v1/campaigns/theirs/results/").status_code == 404
    assert (
        client.post(
            "/api/v1/campaigns/theirs/check-ins/", {"phone": "13900000001"}, format="json"
        ).status_code
        == 404
    )
    assert not AudienceMember.objects.exists()


def test_a_manager_cannot_freeze_an_event_shared_with_another_store(manager, store, other_store):
    make_campaign(stores=[store, other_store], code="shared")

    response = client_for(manager).post("/api/v1/campaigns/shared/audience/", {}, format="json")

    assert response.status_code == 403


def test_check_in_by_phone_answers_201_then_200(guide, store):
    fan = make_fan(store=store, phone="13812345678")
    make_campaign(stores=[store], code="spring-2026")
    client = client_for(guide)

    first = client.post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": "+86 138 1234 5678"}, format="json"
    )
    second = client.post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": "13812345678"}, format="json"
    )

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["customer"] == fan.pk
    assert CheckIn.objects.filter(customer=fan).count() == 1


def test_pos_device_checks_a_fan_in(store):
    fan = make_fan(store=store)
    make_campaign(stores=[store], code="spring-2026")

    response = pos_client(store).post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": fan.phone}, format="json"
    )

    assert response.status_code == 201
    record = CheckIn.objects.get(customer=fan)
    assert record.pos_token is not None and record.by is None


def test_check_in_of_a_phone_that_is_not_a_fan_says_so_and_offers_registration(guide, store):
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(guide).post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": "13700000000"}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_a_fan"
    assert "/api/v1/customers/" in response.json()["detail"]
    assert response.json()["register"] == "/api/v1/customers/"
    assert not CheckIn.objects.exists()


def test_check_in_of_another_stores_member_records_her_without_her_id_or_name(
    guide, store, other_store
):
    member = make_fan(store=other_store, name="王小丽")
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(guide).post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": member.phone}, format="json"
    )

    assert response.status_code == 201
    assert (response.json()["customer"], response.json()["name"]) == (None, "王**")
    assert CheckIn.objects.get().customer == member


def test_check_in_with_a_malformed_phone_names_the_field(guide, store):
    make_campaign(stores=[store], code="spring-2026")

    response = client_for(guide).post(
        "/api/v1/campaigns/spring-2026/check-ins/", {"phone": "12345"}, format="json"
    )

    assert response.status_code == 400
    assert "phone" in response.json()


def test_check_in_after_the_audience_was_frozen_blocks_refreezing(manager, store):
    fan = make_fan(store=store)
    make_campaign(stores=[store], code="spring-2026")
    client = client_for(manager)
    client.post("/api/v1/campaigns/spring-2026/audience/", {}, format="json")
    client.post("/api/v1/campaigns/spring-2026/check-ins/", {"phone": fan.phone}, format="json")

    response = client.post(
        "/api/v1/campaigns/spring-2026/audience/", {"all": ["apple:green"]}, format="json"
    )

    assert response.status_code == 409
    assert AudienceMember.objects.filter(customer=fan).exists()


def test_results_for_managers_and_hq_only(manager, guide, hq, store):
    make_campaign(stores=[store], code="spring-2026", frozen_at=NOW - timedelta(days=1))

    assert client_for(guide).get("/api/v1/campaigns/spring-2026/results/").status_code == 403
    response = client_for(hq).get("/api/v1/campaigns/spring-2026/results/")
    assert response.status_code == 200
    assert set(response.json()) >= {
        "audience",
        "contacted",
        "holdout",
        "participated",
        "groups",
        "conversion_difference",
    }
    assert client_for(manager).get("/api/v1/campaigns/spring-2026/results/").status_code == 200
