"""Filtering fans by tags, a fan's tags, the taxonomy, upcoming birthdays, remark worklist."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, CustomerLabels
from tagging.models import Tag
from tagging.selectors import (
    filter_customers_by_tags,
    remark_mismatches,
    tag_groups,
    tags_by_customer,
    upcoming_birthdays,
)
from tagging.services import change_tags
from tests.factories import make_customer


def _fan(store, guide, *, tags=(), apple="blossom", zodiac="", r_stage="", **fields):
    fan = make_customer(store=store, zodiac=zodiac, **fields)
    CustomerLabels.objects.create(customer=fan, apple=apple, r_stage=r_stage)
    if tags:
        change_tags(customer=fan, add=tags, by=guide)
    return fan


def _ids(queryset) -> set[int]:
    return set(queryset.values_list("id", flat=True))


def test_all_of_needs_every_manual_and_computed_tag(store, guide):
    both = _fan(store, guide, tags=["style:business"], apple="red", zodiac="leo")
    _fan(store, guide, tags=["style:business"], apple="red", zodiac="virgo")
    _fan(store, guide, apple="red", zodiac="leo")
    found = filter_customers_by_tags(
        Customer.objects.all(), all_of=["style:business", "apple:red", "zodiac:leo"]
    )
    assert _ids(found) == {both.pk}


def test_any_of_needs_one_of_the_tags(store, guide):
    teacher = _fan(store, guide, tags=["profession:teacher"])
    green = _fan(store, guide, apple="green")
    _fan(store, guide, tags=["profession:it"])
    found = filter_customers_by_tags(
        Customer.objects.all(), any_of=["profession:teacher", "apple:green"]
    )
    assert _ids(found) == {teacher.pk, green.pk}


def test_none_of_excludes_fans_with_any_of_the_tags(store, guide):
    _fan(store, guide, tags=["attention:activities"])
    _fan(store, guide, r_stage="active")
    keep = _fan(store, guide, r_stage="sleeping")
    no_labels = make_customer(store=store)
    found = filter_customers_by_tags(
        Customer.objects.all(), none_of=["attention:activities", "r_stage:active"]
    )
    assert _ids(found) == {keep.pk, no_labels.pk}


def test_all_any_and_none_combine(store, guide):
    match = _fan(store, guide, tags=["style:business", "profession:teacher"], apple="red")
    _fan(
        store,
        guide,
        tags=["style:business", "profession:teacher", "attention:activities"],
        apple="red",
    )
    _fan(store, guide, tags=["style:business"], apple="red")
    found = filter_customers_by_tags(
        Customer.objects.all(),
        all_of=["apple:red"],
        any_of=["profession:teacher", "profession:it"],
        none_of=["attention:activities"],
    )
    assert _ids(found) == {match.pk}


def test_filter_by_event_tag(store, guide):
    from tagging.services import add_event_tag, event_tags

    came = _fan(store, guide)
    _fan(store, guide)
    participated, _ = event_tags(event_code="spring", event_name="春")
    add_event_tag(tag=participated, customer_ids=[came.pk])
    assert _ids(
        filter_customers_by_tags(Customer.objects.all(), all_of=["participated:spring"])
    ) == {came.pk}


def test_unknown_tags_are_refused_naming_them(db):
    with pytest.raises(ValidationError) as caught:
        filter_customers_by_tags(
            Customer.objects.all(), all_of=["style:punk", "apple:red"], none_of=["color:blue"]
        )
    assert "style:punk" in str(caught.value) and "color:blue" in str(caught.value)
    assert "apple:red" not in str(caught.value)


def test_malformed_reference_is_refused(db):
    with pytest.raises(ValidationError, match="group:code"):
        filter_customers_by_tags(Customer.objects.all(), all_of=["business"])


def test_tags_by_customer_lists_manual_event_and_computed_in_three_queries(
    store, guide, django_assert_max_num_queries
):
    fan = _fan(
        store,
        guide,
        tags=["style:business", "profession:teacher"],
        apple="red",
        zodiac="leo",
        r_stage="active",
    )
    bare = make_customer(store=store)
    with django_assert_max_num_queries(3):
        tags = tags_by_customer([fan.pk, bare.pk])
    assert tags == {
        fan.pk: [
            "apple:red",
            "r_stage:active",
            "zodiac:leo",
            "style:business",
            "profession:teacher",
        ],
        bare.pk: [],
    }


def test_tag_groups_hides_retired_tags(db, django_assert_max_num_queries):
    Tag.objects.filter(group__code="style", code="avant_garde").update(is_active=False)
    with django_assert_max_num_queries(2):
        groups = {g.code: [t.code for t in g.tags.all()] for g in tag_groups()}
    assert "avant_garde" not in groups["style"]
    assert groups["attention"] == ["new_arrivals", "activities"]
    assert "apple" in groups


def test_tag_groups_by_kind(db):
    assert {g.code for g in tag_groups(kinds=["manual"])} == {
        "style",
        "profession",
        "attention",
        "promo_code",
    }


# -- upcoming birthdays -----------------------------------------------------------------------


def _born(store, calendar, month, day, leap=False, year=None):
    return make_customer(
        store=store,
        birth_calendar=calendar,
        birth_month=month,
        birth_day=day,
        birth_is_leap_month=leap,
        birth_year=year,
    )


def _upcoming(store, today, days):
    return [
        (f.pk, f.next_birthday)
        for f in upcoming_birthdays(
            customers=Customer.objects.filter(store=store), today=today, within_days=days
        )
    ]


def test_upcoming_birthdays_across_the_year_end(store):
    today_fan = _born(store, "gregorian", 12, 25)
    new_year = _born(store, "gregorian", 1, 4)
    _born(store, "gregorian", 12, 24)
    _born(store, "gregorian", 1, 5)
    lunar_first = _born(store, "lunar", 11, 6)  # 2025-12-25
    lunar_last = _born(store, "lunar", 11, 16)  # 2026-01-04
    _born(store, "lunar", 11, 17)
    assert _upcoming(store, date(2025, 12, 25), 10) == [
        (today_fan.pk, date(2025, 12, 25)),
        (lunar_first.pk, date(2025, 12, 25)),
        (new_year.pk, date(2026, 1, 4)),
        (lunar_last.pk, date(2026, 1, 4)),
    ]


def test_upcoming_birthdays_include_lunar_day_30_in_a_short_month_and_new_year(store):
    day_30 = _born(store, "lunar", 12, 30)  # lunar 12 of 2025 has 29 days: 2026-02-16
    new_year = _born(store, "lunar", 1, 1)  # 2026-02-17
    _born(store, "lunar", 1, 2)
    assert _upcoming(store, date(2026, 2, 10), 7) == [
        (day_30.pk, date(2026, 2, 16)),
        (new_year.pk, date(2026, 2, 17)),
    ]


def test_upcoming_leap_month_birthday_falls_in_the_ordinary_month_without_it(store):
    leap_born = _born(
        store, "lunar", 2, 1, leap=True, year=2023
    )  # 2024 has no leap month 2: 2024-03-10
    assert _upcoming(store, date(2024, 3, 8), 3) == [(leap_born.pk, date(2024, 3, 10))]
    # In 2023 the leap month exists: not on ordinary 2/1 (2023-02-20) but on 2023-03-22.
    assert _upcoming(store, date(2023, 2, 18), 5) == []
    assert _upcoming(store, date(2023, 3, 20), 5) == [(leap_born.pk, date(2023, 3, 22))]


def test_upcoming_feb_29_birthday_on_feb_28_of_a_common_year(store):
    leapling = _born(store, "gregorian", 2, 29)
    assert _upcoming(store, date(2025, 2, 27), 1) == [(leapling.pk, date(2025, 2, 28))]
    assert _upcoming(store, date(2028, 2, 27), 1) == []


def test_upcoming_birthdays_only_of_the_given_fans(store, other_store):
    _born(other_store, "gregorian", 3, 1)
    mine = _born(store, "gregorian", 3, 1)
    assert _upcoming(store, date(2025, 3, 1), 0) == [(mine.pk, date(2025, 3, 1))]


# -- remark worklist --------------------------------------------------------------------------


def test_remark_mismatches_lists_fans_whose_remark_is_not_standard(store):
    def fan(recorded, standard_store="WXL-张三-VIP", standard_personal="张三-青苹果"):
        customer = make_customer(store=store, wechat_remark=recorded)
        CustomerLabels.objects.create(
            customer=customer,
            remark_store_account=standard_store,
            remark_personal_account=standard_personal,
        )
        return customer

    wrong = fan("张三 老客户")
    fan("WXL-张三-VIP")
    fan("张三-青苹果")
    fan("")  # not recorded yet
    fan("whatever", standard_store="", standard_personal="")  # no standard computed yet
    found = list(remark_mismatches(customers=Customer.objects.all()))
    assert [c.pk for c in found] == [wrong.pk]
    assert found[0].standard_store_remark == "WXL-张三-VIP"


def test_tag_history_is_newest_first_with_who(store, guide, manager):
    from tagging.selectors import tag_history

    fan = make_customer(store=store)
    change_tags(customer=fan, add=["profession:teacher"], by=guide)
    change_tags(customer=fan, add=["profession:it"], by=manager)
    history = [(c.tag.code, c.added, c.changed_by.name) for c in tag_history(customer=fan)]
    assert history == [
        ("it", True, "李店长"),
        ("teacher", False, "李店长"),
        ("teacher", True, "王小丽"),
    ]
