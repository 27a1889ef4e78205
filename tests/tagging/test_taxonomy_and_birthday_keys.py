"""The seeded vocabulary (SPEC §2) and the SQL birthday keys checked against next_birthday."""

import random
from datetime import date, timedelta

from customers.facts import next_birthday
from customers.models import Customer
from tagging.models import Tag, TagGroup
from tagging.selectors import upcoming_birthdays
from tests.factories import make_store


def test_fresh_database_has_every_group_of_spec_section_2(db):
    groups = {g.code: (g.kind, g.is_multi) for g in TagGroup.objects.all()}
    assert groups == {
        "apple": ("computed", False),
        "rfm_segment": ("computed", False),
        "r_stage": ("computed", False),
        "membership": ("computed", False),
        "rhythm": ("computed", False),
        "forecast": ("computed", False),  # SPEC §8, issue 14
        "zodiac": ("computed", False),
        "birthday_month": ("computed", False),
        "distance": ("computed", False),
        "participated": ("event", True),
        "transacted": ("event", True),
        "style": ("manual", True),
        "profession": ("manual", False),
        "attention": ("manual", True),
        "promo_code": ("manual", True),
    }


def test_fresh_database_has_every_tag_of_spec_section_2(db):
    def codes(group):
        return {t.code for t in Tag.objects.filter(group__code=group)}

    assert codes("apple") == {"blossom", "green", "yellow", "red", "golden"}
    assert len(codes("rfm_segment")) == 8
    assert codes("r_stage") == {"active", "sleeping", "pre_churn", "churned"}
    assert codes("membership") == {"supreme_vip", "vip", "senior", "regular"}
    assert codes("rhythm") == {"monthly", "quarterly", "half_yearly", "yearly", "single"}
    assert codes("forecast") == {"due_soon", "at_risk"}
    assert len(codes("zodiac")) == 12
    assert codes("birthday_month") == {f"m{m:02d}" for m in range(1, 13)}
    assert codes("distance") == {"within_3km", "beyond_3km", "same_city", "out_of_town"}
    assert codes("style") == {
        "business", "sport_fashion", "cotton_linen_art", "urban_nature", "avant_garde", "haute_couture"
    }  # fmt: skip
    assert len(codes("profession")) == 14
    assert codes("attention") == {"new_arrivals", "activities"}
    assert codes("promo_code") == set()
    assert Tag.objects.get(group__code="apple", code="red").name_zh == "红苹果"
    assert not Tag.objects.filter(name_en="").exists()


def test_seeding_again_changes_nothing(db):
    from importlib import import_module

    from django.apps import apps

    seed = import_module("tagging.migrations.0002_seed_taxonomy").seed
    before = (TagGroup.objects.count(), Tag.objects.count())
    seed(apps, None)
    assert (TagGroup.objects.count(), Tag.objects.count()) == before


def test_upcoming_birthdays_agree_with_next_birthday_for_every_possible_birthday(db):
    store = make_store()
    fans = [
        Customer(
            store=store,
            phone=f"136{i:08d}",
            name="x",
            birth_calendar="gregorian",
            birth_month=m,
            birth_day=d,
        )
        for i, (m, d) in enumerate(
            (m, d)
            for m in range(1, 13)
            for d in range(1, 32)
            if d <= [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        )
    ]
    fans += [
        Customer(
            store=store,
            phone=f"135{i:08d}",
            name="y",
            birth_calendar="lunar",
            birth_month=m,
            birth_day=d,
            birth_is_leap_month=leap,
        )
        for i, (m, d, leap) in enumerate(
            (m, d, leap) for m in range(1, 13) for d in range(1, 31) for leap in (False, True)
        )
    ]
    Customer.objects.bulk_create(fans)
    everyone = list(Customer.objects.filter(store=store))
    rng = random.Random(20261123)
    todays = [date(2023, 3, 20), date(2024, 2, 27), date(2025, 12, 25), date(2026, 2, 10)]
    todays += [date(2023, 1, 1) + timedelta(days=rng.randrange(5 * 365)) for _ in range(8)]
    for today in todays:
        within = rng.randrange(0, 45)
        expected = {}
        for fan in everyone:
            when = next_birthday(
                calendar=fan.birth_calendar,
                year=None,
                month=fan.birth_month,
                day=fan.birth_day,
                is_leap_month=fan.birth_is_leap_month,
                today=today,
            )
            if when is not None and (when - today).days <= within:
                expected[fan.pk] = when
        found = {
            f.pk: f.next_birthday
            for f in upcoming_birthdays(
                customers=Customer.objects.filter(store=store), today=today, within_days=within
            )
        }
        assert found == expected, (today, within)
