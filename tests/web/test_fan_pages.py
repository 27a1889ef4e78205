"""My fans, the fan card, tag chips and the profile form (server side)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from tagging.models import CustomerTag, TagChange
from tagging.services import change_tags
from tests.factories import make_order
from tests.web.helpers import make_fan, make_run

pytestmark = pytest.mark.django_db


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- home and sign-in -------------------------------------------------------------------------


def test_home_sends_a_guide_to_my_fans(client, guide):
    client.force_login(guide.user)
    assert client.get("/").url == "/fans/"


def test_home_sends_a_manager_to_the_store_dashboard(client, manager):
    client.force_login(manager.user)
    assert client.get("/").url == "/dashboard/"


def test_home_sends_hq_to_the_hq_page(client, hq):
    client.force_login(hq.user)
    assert client.get("/").url == "/hq/"


def test_pages_send_anonymous_visitors_to_sign_in(client):
    response = client.get("/fans/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_sign_in_with_the_right_password_lands_on_the_role_page(client, guide):
    response = client.post(
        "/accounts/login/", {"username": guide.user.username, "password": "pass-1234-word"}
    )
    assert response.status_code == 302
    assert client.get(response.url).url == "/fans/"


def test_sign_in_is_locked_after_five_wrong_passwords(client, guide):
    for _ in range(5):
        client.post("/accounts/login/", {"username": guide.user.username, "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"username": guide.user.username, "password": "pass-1234-word"}
    )
    assert response.status_code == 429
    assert "账号已锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- My fans ----------------------------------------------------------------------------------


def test_my_fans_lists_the_guides_own_fans_only(client, guide, other_store_guide):
    mine = make_fan(store=guide.store, guide=guide, name="张三")
    colleague = make_fan(store=guide.store, name="同事的粉丝")
    other = make_fan(store=other_store_guide.store, guide=other_store_guide, name="别店粉丝")
    client.force_login(guide.user)
    body = client.get("/fans/").content.decode()
    assert mine.name in body
    assert colleague.name not in body
    assert other.name not in body


def test_my_fans_whole_store_chip_shows_colleagues_fans_but_not_other_stores(
    client, guide, other_store_guide
):
    colleague = make_fan(store=guide.store, name="同事的粉丝")
    other = make_fan(store=other_store_guide.store, name="别店粉丝")
    client.force_login(guide.user)
    body = client.get("/fans/?all=1").content.decode()
    assert colleague.name in body
    assert other.name not in body


def test_my_fans_finds_a_fan_by_the_last_four_digits_of_the_phone(client, guide):
    wanted = make_fan(store=guide.store, guide=guide, phone="13812345678", name="要找的")
    make_fan(store=guide.store, guide=guide, phone="13812340000", name="不要的")
    client.force_login(guide.user)
    body = client.get("/fans/?q=5678").content.decode()
    assert wanted.name in body
    assert "不要的" not in body
    assert "138****5678" in body
    assert "13812345678" not in body


def test_my_fans_finds_a_fan_by_part_of_the_name(client, guide):
    make_fan(store=guide.store, guide=guide, name="王美丽")
    make_fan(store=guide.store, guide=guide, name="李四")
    client.force_login(guide.user)
    body = client.get("/fans/?q=美丽").content.decode()
    assert "王美丽" in body
    assert "李四" not in body


def test_my_fans_filters_by_apple_stage_and_segment(client, guide):
    make_fan(store=guide.store, guide=guide, name="红苹果睡眠", apple="red", r_stage="sleeping")
    make_fan(store=guide.store, guide=guide, name="红苹果活跃", apple="red", r_stage="active")
    make_fan(store=guide.store, guide=guide, name="青苹果睡眠", apple="green", r_stage="sleeping")
    client.force_login(guide.user)
    body = client.get("/fans/?apple=red&stage=sleeping&segment=general_value").content.decode()
    assert "红苹果睡眠" in body
    assert "红苹果活跃" not in body
    assert "青苹果睡眠" not in body


def test_my_fans_filters_by_tag(client, guide):
    tagged = make_fan(store=guide.store, guide=guide, name="商务风")
    make_fan(store=guide.store, guide=guide, name="没标签")
    change_tags(customer=tagged, add=["style:business"], by=guide)
    client.force_login(guide.user)
    body = client.get("/fans/?tag=style:business").content.decode()
    assert "商务风" in body
    assert "没标签" not in body


def test_my_fans_htmx_request_gets_only_the_results_fragment(client, guide):
    make_fan(store=guide.store, guide=guide, name="张三")
    client.force_login(guide.user)
    response = client.get("/fans/?q=张", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert "张三" in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_my_fans_shows_the_count_and_pages_of_25(client, guide):
    for _ in range(26):
        make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    first = client.get("/fans/")
    second = client.get("/fans/?page=2")
    assert len(first.context["rows"]) == 25
    assert len(second.context["rows"]) == 1
    assert first.context["page"].paginator.count == 26


def test_my_fans_shows_names_and_tags_with_html_escaped(client, guide):
    make_fan(store=guide.store, guide=guide, name="<script>alert(1)</script>")
    client.force_login(guide.user)
    body = client.get("/fans/").content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_my_fans_runs_the_same_number_of_queries_for_30_or_90_fans(client, guide):
    for _ in range(30):
        fan = make_fan(store=guide.store, guide=guide)
        change_tags(customer=fan, add=["style:business", "attention:new_arrivals"], by=guide)
    client.force_login(guide.user)
    few = _queries(client, "/fans/?tag=style:business")
    for _ in range(60):
        fan = make_fan(store=guide.store, guide=guide)
        change_tags(customer=fan, add=["style:business", "profession:teacher"], by=guide)
    many = _queries(client, "/fans/?tag=style:business")
    assert few == many


def test_my_fans_skips_the_count_when_the_first_page_holds_every_match(client, guide):
    make_fan(store=guide.store, guide=guide, phone="13912345678")
    for _ in range(30):
        make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/fans/?q=5678")
    assert response.context["page"].paginator.count == 1
    assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries)


def test_my_fans_counts_and_pages_when_there_are_more_than_25(client, guide):
    for _ in range(26):
        make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    first = client.get("/fans/?page=1")
    assert first.context["page"].paginator.count == 26
    assert len(first.context["rows"]) == 25
    assert first.context["page"].has_next()


def test_my_fans_query_count_is_pinned(client, guide, django_assert_max_num_queries):
    for _ in range(30):
        make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    # session + user + staff, taxonomy (2), count, page, tags (3), tag names = 12
    with django_assert_max_num_queries(12):
        client.get("/fans/?apple=green&q=1")


def test_hq_store_switcher_narrows_my_fans_to_one_store(client, hq, store, other_store):
    make_fan(store=store, name="甲店粉丝")
    make_fan(store=other_store, name="乙店粉丝")
    client.force_login(hq.user)
    body = client.get(f"/fans/?store={store.code}").content.decode()
    assert "甲店粉丝" in body
    assert "乙店粉丝" not in body


def test_hq_store_switcher_with_an_unknown_store_is_404(client, hq):
    client.force_login(hq.user)
    assert client.get("/fans/?store=NOPE").status_code == 404


# --- Fan card ---------------------------------------------------------------------------------


def test_fan_card_of_another_stores_fan_is_404(client, guide, other_store_guide):
    other = make_fan(store=other_store_guide.store, guide=other_store_guide)
    client.force_login(guide.user)
    assert client.get(f"/fans/{other.pk}/").status_code == 404


def test_fan_card_shows_the_five_required_fields_and_completeness(client, guide):
    fan = make_fan(
        store=guide.store,
        guide=guide,
        consumption_notes="爱买连衣裙",
        body_shape="梨形",
        height_cm=162,
    )
    client.force_login(guide.user)
    response = client.get(f"/fans/{fan.pk}/")
    assert response.context["percent"] == 60
    assert response.context["missing"] == ["birthday", "skin_tone"]
    assert "爱买连衣裙" in response.content.decode()


def test_fan_card_shows_remark_names_with_copy_buttons(client, guide):
    fan = make_fan(
        store=guide.store,
        guide=guide,
        remark_store="WXL-张三-VIP-20240315",
        remark_personal="张三-青苹果",
    )
    client.force_login(guide.user)
    body = client.get(f"/fans/{fan.pk}/").content.decode()
    assert 'data-copy="WXL-张三-VIP-20240315"' in body
    assert 'data-copy="张三-青苹果"' in body


def test_fan_card_shows_orders_label_history_and_tag_history(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    make_order(customer=fan, amount="888.00")
    make_run(changes=[(fan, "apple", "blossom", "green")])
    change_tags(customer=fan, add=["style:business"], by=guide)
    client.force_login(guide.user)
    response = client.get(f"/fans/{fan.pk}/")
    body = response.content.decode()
    assert "888.00" in body
    assert len(response.context["label_changes"]) == 1
    assert len(response.context["tag_changes"]) == 1


def test_fan_card_runs_the_same_number_of_queries_however_much_history(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    make_order(customer=fan)
    change_tags(customer=fan, add=["style:business"], by=guide)
    client.force_login(guide.user)
    few = _queries(client, f"/fans/{fan.pk}/")
    for _ in range(25):
        make_order(customer=fan)
        make_fan(store=guide.store, guide=guide)
    change_tags(customer=fan, add=["style:avant_garde", "profession:teacher"], by=guide)
    make_run(changes=[(fan, "apple", "blossom", "green"), (fan, "r_stage", "", "active")])
    many = _queries(client, f"/fans/{fan.pk}/")
    assert few == many


def test_fan_card_escapes_html_in_the_name(client, guide):
    fan = make_fan(store=guide.store, guide=guide, name="<b>坏</b>")
    client.force_login(guide.user)
    body = client.get(f"/fans/{fan.pk}/").content.decode()
    assert "<b>坏</b>" not in body
    assert "&lt;b&gt;坏&lt;/b&gt;" in body


# --- Tag chips --------------------------------------------------------------------------------


def test_tapping_a_style_chip_adds_the_tag(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(
        f"/fans/{fan.pk}/tags/",
        {"tag": "style:business", "action": "add"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert CustomerTag.objects.filter(customer=fan, tag__code="business").exists()
    assert 'data-tag="style:business"' in response.content.decode()


def test_tapping_a_profession_chip_switches_the_single_choice(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    change_tags(customer=fan, add=["profession:teacher"], by=guide)
    client.force_login(guide.user)
    client.post(f"/fans/{fan.pk}/tags/", {"tag": "profession:bank", "action": "add"})
    codes = set(CustomerTag.objects.filter(customer=fan).values_list("tag__code", flat=True))
    assert codes == {"bank"}


def test_tapping_an_active_chip_removes_the_tag(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    change_tags(customer=fan, add=["style:business"], by=guide)
    client.force_login(guide.user)
    client.post(f"/fans/{fan.pk}/tags/", {"tag": "style:business", "action": "remove"})
    assert not CustomerTag.objects.filter(customer=fan).exists()
    assert TagChange.objects.filter(customer=fan, added=False).count() == 1


def test_a_computed_tag_cannot_be_set_from_the_card(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(
        f"/fans/{fan.pk}/tags/",
        {"tag": "apple:red", "action": "add"},
        headers={"HX-Request": "true"},
    )
    assert 'role="alert"' in response.content.decode()
    assert not CustomerTag.objects.filter(customer=fan).exists()


def test_tagging_another_stores_fan_is_404(client, guide, other_store_guide):
    other = make_fan(store=other_store_guide.store)
    client.force_login(guide.user)
    response = client.post(f"/fans/{other.pk}/tags/", {"tag": "style:business"})
    assert response.status_code == 404
    assert not CustomerTag.objects.exists()


# --- Profile form -----------------------------------------------------------------------------


def _profile(fan: Customer, **changes) -> dict:
    data = {
        "name": fan.name,
        "phone": fan.phone,
        "consumption_notes": "",
        "birth_calendar": "",
        "body_shape": "",
        "skin_tone": "",
    }
    return {**data, **changes}


def test_profile_form_saves_a_valid_change(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(
        f"/fans/{fan.pk}/edit/",
        _profile(
            fan,
            height_cm="165",
            skin_tone="白皙",
            birth_calendar="gregorian",
            birth_month="3",
            birth_day="15",
        ),
    )
    assert response.status_code == 302
    fan.refresh_from_db()
    assert (fan.height_cm, fan.skin_tone, fan.birth_month, fan.birth_day) == (165, "白皙", 3, 15)


@pytest.mark.parametrize("phone", ["12345", "23800138000", "1380013800"])
def test_profile_form_refuses_a_phone_that_is_not_a_mainland_mobile(client, guide, phone):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(f"/fans/{fan.pk}/edit/", _profile(fan, phone=phone, skin_tone="白皙"))
    assert response.status_code == 400
    assert response.context["form"].errors["phone"]
    fan.refresh_from_db()
    assert fan.skin_tone == ""


@pytest.mark.parametrize(
    "birthday",
    [
        {"birth_calendar": "gregorian", "birth_month": "2", "birth_day": "30"},
        {"birth_calendar": "lunar", "birth_month": "13", "birth_day": "1"},
    ],
)
def test_profile_form_refuses_a_birthday_that_does_not_exist(client, guide, birthday):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(f"/fans/{fan.pk}/edit/", _profile(fan, skin_tone="白皙", **birthday))
    assert response.status_code == 400
    assert response.context["form"].birthday_errors
    assert 'data-testid="birthday-errors"' in response.content.decode()
    fan.refresh_from_db()
    assert (fan.birth_calendar, fan.skin_tone) == ("", "")


@pytest.mark.parametrize("height", ["0", "300", "49", "251"])
def test_profile_form_refuses_a_height_outside_50_to_250(client, guide, height):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(f"/fans/{fan.pk}/edit/", _profile(fan, height_cm=height))
    assert response.status_code == 400
    assert response.context["form"].errors["height_cm"]
    fan.refresh_from_db()
    assert fan.height_cm is None


@pytest.mark.parametrize("height", ["50", "250"])
def test_profile_form_accepts_the_height_bounds(client, guide, height):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    assert client.post(f"/fans/{fan.pk}/edit/", _profile(fan, height_cm=height)).status_code == 302


def test_a_guide_cannot_mark_an_opinion_leader_from_the_form(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    client.post(f"/fans/{fan.pk}/edit/", _profile(fan, is_opinion_leader="on"))
    fan.refresh_from_db()
    assert fan.is_opinion_leader is False


def test_a_manager_can_mark_an_opinion_leader_from_the_form(client, manager):
    fan = make_fan(store=manager.store)
    client.force_login(manager.user)
    client.post(f"/fans/{fan.pk}/edit/", _profile(fan, is_opinion_leader="on"))
    fan.refresh_from_db()
    assert fan.is_opinion_leader is True


def test_editing_another_stores_fan_is_404(client, guide, other_store_guide):
    other = make_fan(store=other_store_guide.store)
    client.force_login(guide.user)
    assert client.get(f"/fans/{other.pk}/edit/").status_code == 404
    assert client.post(f"/fans/{other.pk}/edit/", _profile(other, skin_tone="x")).status_code == 404


def test_pages_switch_to_english(client, guide):
    make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    client.post(reverse("set_language"), {"language": "en", "next": "/fans/"})
    body = client.get("/fans/").content.decode()
    assert "My fans" in body


def test_pages_are_in_chinese_by_default(client, guide):
    client.force_login(guide.user)
    body = client.get("/fans/").content.decode()
    assert "我的粉丝" in body


def test_profile_form_refuses_a_latitude_outside_the_globe(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    client.force_login(guide.user)
    response = client.post(
        f"/fans/{fan.pk}/edit/", _profile(fan, latitude="95", longitude="120", skin_tone="白皙")
    )
    assert response.status_code == 400
    assert response.context["form"].errors["latitude"]
    fan.refresh_from_db()
    assert (fan.latitude, fan.skin_tone) == (None, "")


def test_a_manager_filters_my_fans_by_guide(client, manager, guide):
    make_fan(store=manager.store, guide=guide, name="小丽的粉丝")
    make_fan(store=manager.store, name="别人的粉丝")
    client.force_login(manager.user)
    body = client.get(f"/fans/?guide={guide.work_number}").content.decode()
    assert "小丽的粉丝" in body
    assert "别人的粉丝" not in body


# --- Search: q is the name or the phone tail; a full phone only by POST ------------------------


def test_my_fans_q_of_four_digits_matches_the_phone_tail_not_a_name(client, guide):
    make_fan(store=guide.store, guide=guide, phone="13812345678", name="尾号")
    make_fan(store=guide.store, guide=guide, phone="13800000000", name="店铺5678号")
    make_fan(store=guide.store, guide=guide, phone="13800001111", name="别的")
    client.force_login(guide.user)
    names = {row.name for row in client.get("/fans/?q=5678").context["rows"]}
    assert names == {"尾号"}


@pytest.mark.parametrize("q", ["678", "45678", "13812345678"])
def test_my_fans_q_of_other_than_four_digits_matches_no_phone(client, guide, q):
    make_fan(store=guide.store, guide=guide, phone="13812345678", name="要找的")
    client.force_login(guide.user)
    assert client.get("/fans/", {"q": q}).context["rows"] == []


@pytest.mark.parametrize("q", ["5678", "张", "678", "13812345678", ""])
def test_my_fans_and_the_fan_api_match_the_same_fans_for_q(client, guide, q):
    make_fan(store=guide.store, guide=guide, phone="13812345678", name="张三")
    make_fan(store=guide.store, guide=guide, phone="13800005678", name="李四")
    make_fan(store=guide.store, guide=guide, phone="13800001111", name="王678")
    client.force_login(guide.user)
    page = {row.pk for row in client.get("/fans/", {"q": q}).context["rows"]}
    api = {row["id"] for row in client.get("/api/v1/customers/", {"q": q}).json()["results"]}
    assert page == api


def test_searching_a_full_phone_by_post_finds_the_fan_without_the_number_in_any_link(client, guide):
    wanted = make_fan(store=guide.store, guide=guide, phone="13812345678", name="要找的")
    make_fan(store=guide.store, guide=guide, phone="13800005678", name="同尾号")
    client.force_login(guide.user)
    response = client.post(reverse("customers:search"), {"q": "138 1234 5678", "apple": "green"})
    assert response.status_code == 200
    assert [row.pk for row in response.context["rows"]] == [wanted.pk]
    body = response.content.decode()
    assert "13812345678" not in body
    assert "12345678" not in body
    assert "138****5678" in body


def test_a_full_phone_search_by_htmx_pushes_a_url_without_the_number(client, guide):
    make_fan(store=guide.store, guide=guide, phone="13812345678")
    client.force_login(guide.user)
    response = client.post(
        reverse("customers:search"),
        {"q": "13812345678", "apple": "green"},
        headers={"HX-Request": "true"},
    )
    assert response["HX-Push-Url"] == "/fans/?apple=green"
    assert len(response.context["rows"]) == 1


def test_a_full_phone_search_does_not_find_another_stores_fan(client, guide, other_store_guide):
    make_fan(store=other_store_guide.store, guide=other_store_guide, phone="13812345678")
    client.force_login(guide.user)
    response = client.post(reverse("customers:search"), {"q": "13812345678", "all": "1"})
    assert response.context["rows"] == []


def test_a_name_search_by_post_goes_to_the_get_url(client, guide):
    client.force_login(guide.user)
    response = client.post(reverse("customers:search"), {"q": "张三", "apple": "red"})
    assert response.status_code == 302
    assert response.url == "/fans/?q=%E5%BC%A0%E4%B8%89&apple=red"


def test_a_tail_search_by_htmx_shows_the_get_url(client, guide):
    make_fan(store=guide.store, guide=guide, phone="13812345678")
    client.force_login(guide.user)
    response = client.post(
        reverse("customers:search"), {"q": "5678"}, headers={"HX-Request": "true"}
    )
    assert response["HX-Push-Url"] == "/fans/?q=5678"
    assert len(response.context["rows"]) == 1


def test_a_partly_typed_phone_is_left_out_of_the_pushed_url(client, guide):
    client.force_login(guide.user)
    response = client.post(
        reverse("customers:search"), {"q": "1381234"}, headers={"HX-Request": "true"}
    )
    assert response["HX-Push-Url"] == "/fans/?"


def test_the_search_box_posts_so_a_typed_phone_never_enters_a_url(client, guide):
    client.force_login(guide.user)
    body = client.get("/fans/").content.decode()
    assert f'method="post" action="{reverse("customers:search")}"' in body
    assert f'hx-post="{reverse("customers:search")}"' in body


def test_a_get_on_the_search_url_goes_back_to_my_fans(client, hq, store):
    client.force_login(hq.user)
    response = client.get(reverse("customers:search"), {"store": store.code})
    assert response.url == f"/fans/?store={store.code}"


def test_the_fan_card_lists_tag_changes_newest_first_as_tag_history_does(client, guide):
    fan = make_fan(store=guide.store, guide=guide)
    change_tags(customer=fan, add=["style:business"], by=guide)
    change_tags(customer=fan, add=["profession:teacher"], by=guide)
    client.force_login(guide.user)
    changes = client.get(f"/fans/{fan.pk}/").context["tag_changes"]
    assert [c.tag.code for c in changes] == ["teacher", "business"]


def test_a_full_phone_search_query_count_is_pinned(client, guide, django_assert_max_num_queries):
    for _ in range(30):
        make_fan(store=guide.store, guide=guide)
    make_fan(store=guide.store, guide=guide, phone="13812345678")
    client.force_login(guide.user)
    # session + user + staff, taxonomy (2), page, tags (3), tag names = 11 (no count: one match)
    with django_assert_max_num_queries(11):
        client.post(reverse("customers:search"), {"q": "13812345678"})
