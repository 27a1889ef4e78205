import csv
import io

from django.urls import reverse
from openpyxl import load_workbook

from campaigns.models import AudienceMember, Campaign, CheckIn
from campaigns.services import freeze_audience
from tests.campaigns.helpers import NOW, make_campaign, make_fan
from tests.factories import make_staff


def test_campaign_list_shows_the_stores_events_in_constant_queries(
    client, manager, store, other_store, django_assert_num_queries
):
    for n in range(5):
        make_campaign(stores=[store], code=f"event-{n}")
    make_campaign(stores=[other_store], code="theirs")
    client.force_login(manager.user)
    client.get(reverse("campaigns:list"))  # warm the session

    with django_assert_num_queries(5):
        response = client.get(reverse("campaigns:list"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "event-4" in body and "theirs" not in body


def test_manager_creates_an_event_from_the_form(client, manager, store):
    client.force_login(manager.user)

    response = client.post(
        reverse("campaigns:create"),
        {
            "code": "spring",
            "name": "春季新品会",
            "kind": "offline",
            "stores": [store.code],
            "starts_on": "2026-03-05",
            "ends_on": "2026-03-08",
            "holdout_percent": "10",
            "seed": "",
            "message_template": "{name}您好",
        },
    )

    assert response.status_code == 302
    campaign = Campaign.objects.get(code="spring")
    assert list(campaign.stores.all()) == [store]
    assert campaign.seed > 0


def test_the_form_shows_an_end_before_the_start_next_to_the_field(client, manager, store):
    client.force_login(manager.user)

    response = client.post(
        reverse("campaigns:create"),
        {
            "code": "spring",
            "name": "x",
            "kind": "offline",
            "starts_on": "2026-03-05",
            "ends_on": "2026-03-04",
            "holdout_percent": "10",
        },
    )

    assert response.status_code == 200
    assert 'data-field="ends_on"' in response.content.decode()
    assert not Campaign.objects.exists()


def test_guides_cannot_open_the_create_form(client, guide):
    client.force_login(guide.user)

    assert client.get(reverse("campaigns:create")).status_code == 403


def test_another_stores_event_page_is_not_found(client, manager, other_store):
    make_campaign(stores=[other_store], code="theirs")
    client.force_login(manager.user)

    assert client.get(reverse("campaigns:detail", args=["theirs"])).status_code == 404


def test_live_count_fragment_shows_the_rule_removals(client, manager, store):
    make_fan(store=store, apple="red")
    make_fan(store=store, apple="red", distance="out_of_town")
    make_campaign(stores=[store])
    client.force_login(manager.user)

    response = client.get(
        reverse("campaigns:audience_preview", args=["spring"]),
        {"any": ["apple:red"]},
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="count-matched">2<' in body
    assert 'data-testid="removed-out_of_town">1<' in body
    assert 'data-testid="count-contacts"><strong>1<' in body
    assert not AudienceMember.objects.exists()


def test_freeze_button_saves_the_audience(client, manager, store):
    fan = make_fan(store=store, apple="red")
    make_fan(store=store, apple="green")
    make_campaign(stores=[store])
    client.force_login(manager.user)

    response = client.post(
        reverse("campaigns:audience_freeze", args=["spring"]), {"all": ["apple:red"]}
    )

    assert response.status_code == 302
    assert list(AudienceMember.objects.values_list("customer_id", flat=True)) == [fan.pk]


def test_check_in_page_checks_a_fan_in_once(client, guide, store):
    fan = make_fan(store=store)
    make_campaign(stores=[store])
    client.force_login(guide.user)

    client.post(reverse("campaigns:check_in", args=["spring"]), {"phone": fan.phone})
    client.post(reverse("campaigns:check_in", args=["spring"]), {"phone": fan.phone})

    assert CheckIn.objects.filter(customer=fan).count() == 1


def test_check_in_page_offers_registration_for_an_unknown_phone(client, guide, store):
    make_campaign(stores=[store])
    client.force_login(guide.user)

    response = client.post(reverse("campaigns:check_in", args=["spring"]), {"phone": "13700000000"})

    assert 'data-testid="not-a-fan"' in response.content.decode()
    assert not CheckIn.objects.exists()


def _frozen_event(store, guide, other_guide):
    campaign = make_campaign(stores=[store], message_template="", holdout_percent=0)
    make_fan(store=store, guide=guide, name="张三", rfm_segment="important_winback")
    make_fan(store=store, guide=other_guide, name="李四", rfm_segment="important_value")
    make_fan(store=store, guide=guide, name="王五", do_not_contact=True)
    freeze_audience(campaign=campaign, audience={}, now=NOW)
    return campaign


def test_csv_export_lists_contacts_by_guide_with_the_playbook_message(
    client, manager, guide, store
):
    other_guide = make_staff(store=store, name="赵导购")
    _frozen_event(store, guide, other_guide)
    client.force_login(manager.user)

    response = client.get(reverse("campaigns:export", args=["spring", "csv"]))

    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["name"] for row in rows] == (
        ["张三", "李四"] if guide.work_number < other_guide.work_number else ["李四", "张三"]
    )
    winback = next(row for row in rows if row["name"] == "张三")
    assert winback["guide_name"] == guide.name
    assert winback["remark_store_account"] == "WXL-张三-VIP"
    assert winback["message"].startswith("张三您好")
    assert "回归礼券" in winback["message"]
    assert "13" not in winback["phone_masked"][3:7]


def test_a_guide_exports_only_their_own_fans_as_xlsx(client, guide, store):
    other_guide = make_staff(store=store, name="赵导购")
    campaign = _frozen_event(store, guide, other_guide)
    campaign.message_template = "{name}，周六见！"
    campaign.save()
    client.force_login(guide.user)

    response = client.get(reverse("campaigns:export", args=["spring", "xlsx"]))

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert [dict(zip(header, row, strict=True))["message"] for row in rows[1:]] == [
        "张三，周六见！"
    ]


def test_results_page_renders_the_chart_data(client, manager, store):
    campaign = make_campaign(stores=[store], frozen_at=NOW)
    AudienceMember.objects.create(
        campaign=campaign, customer=make_fan(store=store), group="contact"
    )
    client.force_login(manager.user)

    response = client.get(reverse("campaigns:results", args=["spring"]))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="results-data"' in body and "chart.umd.min.js" in body
    assert 'data-testid="result-audience">1<' in body


def test_a_walk_in_who_is_not_a_fan_is_registered_and_checked_in(client, guide, store):
    make_campaign(stores=[store])
    client.force_login(guide.user)

    response = client.post(
        reverse("campaigns:check_in", args=["spring"]),
        {"phone": "137 0000 0000", "name": "新朋友", "register": "1"},
    )

    assert response.status_code == 302
    record = CheckIn.objects.get()
    assert (record.customer.phone, record.customer.name, record.customer.store) == (
        "13700000000",
        "新朋友",
        store,
    )
    assert record.customer.guide == guide


def test_event_page_shows_the_playbook_of_a_targeted_segment(client, manager, store):
    make_campaign(
        stores=[store],
        audience_filter={"all": [], "any": ["rfm_segment:important_winback"], "none": []},
    )
    client.force_login(manager.user)

    response = client.get(reverse("campaigns:detail", args=["spring"]))

    body = response.content.decode()
    assert 'data-testid="playbooks"' in body
    assert "回归礼券" in body


def test_export_queries_do_not_grow_with_the_contacts(
    client, manager, guide, store, django_assert_num_queries
):
    campaign = make_campaign(stores=[store])
    for _ in range(15):
        make_fan(store=store, guide=guide)
    freeze_audience(campaign=campaign, audience={}, now=NOW)
    client.force_login(manager.user)
    url = reverse("campaigns:export", args=["spring", "csv"])
    client.get(url)

    # session, user, staff, campaign (+ stores), members with fans, labels and guides, playbooks
    with django_assert_num_queries(7):
        response = client.get(url)

    assert response.content.decode("utf-8-sig").count("\n") == 16
