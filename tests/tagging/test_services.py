"""Manual tagging: one fan and in bulk, single-choice groups, computed groups refused, history."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer
from tagging.models import CustomerTag, Tag, TagChange
from tagging.services import add_event_tag, bulk_change_tags, change_tags, event_tags
from tests.factories import make_customer


def refs_of(customer) -> set[str]:
    return {
        f"{ct.tag.group.code}:{ct.tag.code}"
        for ct in CustomerTag.objects.filter(customer=customer).select_related("tag__group")
    }


def history_of(customer) -> list[tuple[str, bool, int | None]]:
    return [
        (f"{c.tag.group.code}:{c.tag.code}", c.added, c.changed_by_id)
        for c in TagChange.objects.filter(customer=customer)
        .select_related("tag__group")
        .order_by("id")
    ]


def test_change_tags_adds_tags_and_records_who(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["style:business", "attention:new_arrivals"], by=guide)
    assert refs_of(fan) == {"style:business", "attention:new_arrivals"}
    assert sorted(history_of(fan)) == [
        ("attention:new_arrivals", True, guide.pk),
        ("style:business", True, guide.pk),
    ]


def test_change_tags_removes_a_tag_and_records_it(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["style:business"], by=guide)
    change_tags(customer=fan, remove=["style:business"], by=guide)
    assert refs_of(fan) == set()
    assert history_of(fan) == [
        ("style:business", True, guide.pk),
        ("style:business", False, guide.pk),
    ]


def test_adding_a_tag_the_fan_has_changes_nothing(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["style:business"], by=guide)
    change_tags(customer=fan, add=["style:business"], by=guide)
    assert history_of(fan) == [("style:business", True, guide.pk)]


def test_single_choice_group_replaces_the_fans_tag(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["profession:teacher", "style:business"], by=guide)
    change_tags(customer=fan, add=["profession:it"], by=guide)
    assert refs_of(fan) == {"profession:it", "style:business"}
    assert history_of(fan)[-2:] == [
        ("profession:teacher", False, guide.pk),
        ("profession:it", True, guide.pk),
    ]


def test_two_tags_of_a_single_choice_group_at_once_are_refused(guide, store):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError, match="profession"):
        change_tags(customer=fan, add=["profession:it", "profession:bank"], by=guide)
    assert refs_of(fan) == set()


def test_multi_choice_group_keeps_every_tag(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["style:business"], by=guide)
    change_tags(customer=fan, add=["style:sport_fashion"], by=guide)
    assert refs_of(fan) == {"style:business", "style:sport_fashion"}


def test_computed_group_is_refused_naming_the_tag(guide, store):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError, match="apple:red"):
        change_tags(customer=fan, add=["style:business", "apple:red"], by=guide)
    assert refs_of(fan) == set()
    assert history_of(fan) == []


def test_event_tags_cannot_be_set_by_hand(guide, store):
    fan = make_customer(store=store)
    event_tags(event_code="spring-sale", event_name="春季特卖")
    with pytest.raises(ValidationError, match="participated:spring-sale"):
        change_tags(customer=fan, add=["participated:spring-sale"], by=guide)


def test_unknown_tag_is_refused_naming_it(guide, store):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError, match="style:punk"):
        change_tags(customer=fan, add=["style:punk"], by=guide)


def test_retired_tag_cannot_be_added_but_can_be_removed(guide, store):
    fan = make_customer(store=store)
    change_tags(customer=fan, add=["style:avant_garde"], by=guide)
    Tag.objects.filter(group__code="style", code="avant_garde").update(is_active=False)
    other = make_customer(store=store)
    with pytest.raises(ValidationError, match="style:avant_garde") as caught:
        change_tags(customer=other, add=["style:avant_garde"], by=guide)
    assert caught.value.code == "retired_tag"
    change_tags(customer=fan, remove=["style:avant_garde"], by=guide)
    assert refs_of(fan) == set()


def test_bulk_tagging_more_fans_than_allowed_is_refused(guide, store, settings):
    settings.API_BULK_TAG_MAX_CUSTOMERS = 2
    fans = [make_customer(store=store).pk for _ in range(3)]
    with pytest.raises(ValidationError, match="2"):
        bulk_change_tags(customer_ids=fans, add=["style:business"], by=guide)


def test_bulk_tagging_10000_fans_takes_as_many_queries_as_10(
    guide, store, django_assert_num_queries
):
    Customer.objects.bulk_create(
        Customer(store=store, phone=f"137{i:08d}", name=f"粉{i}") for i in range(10_000)
    )
    fans = list(Customer.objects.filter(store=store).order_by("id").values_list("id", flat=True))
    assert (
        bulk_change_tags(customer_ids=fans, add=["style:business", "profession:teacher"], by=guide)
        == 10_000
    )
    with CaptureQueriesContext(connection) as few_queries:
        bulk_change_tags(
            customer_ids=fans[:10], add=["profession:it"], remove=["style:business"], by=guide
        )
    assert len(few_queries) <= 10
    with django_assert_num_queries(len(few_queries)):
        changed = bulk_change_tags(
            customer_ids=fans, add=["profession:it"], remove=["style:business"], by=guide
        )
    assert changed == 10_000 - 10
    assert CustomerTag.objects.filter(tag__code="it").count() == 10_000
    assert CustomerTag.objects.filter(tag__code__in=["teacher", "business"]).count() == 0
    # 20,000 adds, then 10 fans × 3 changes, then 9,990 fans × 3 changes
    assert TagChange.objects.count() == 20_000 + 3 * 10_000


def test_bulk_tagging_returns_how_many_fans_changed(guide, store):
    tagged, untagged = make_customer(store=store), make_customer(store=store)
    change_tags(customer=tagged, add=["style:business"], by=guide)
    assert (
        bulk_change_tags(customer_ids=[tagged.pk, untagged.pk], add=["style:business"], by=guide)
        == 1
    )


def test_bulk_tagging_an_unknown_fan_is_refused(guide, store):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError, match="999999"):
        bulk_change_tags(customer_ids=[fan.pk, 999_999], add=["style:business"], by=guide)
    assert refs_of(fan) == set()


def test_event_tags_are_created_once_per_event(db):
    participated, transacted = event_tags(event_code="spring-sale", event_name="春季特卖")
    again = event_tags(event_code="spring-sale", event_name="春季特卖")
    assert (participated.group.code, participated.code, transacted.group.code) == (
        "participated",
        "spring-sale",
        "transacted",
    )
    assert again == (participated, transacted)
    assert participated.name_zh == "春季特卖"


def test_add_event_tag_is_idempotent_and_recorded(store):
    fans = [make_customer(store=store) for _ in range(3)]
    participated, _ = event_tags(event_code="spring-sale", event_name="春季特卖")
    assert add_event_tag(tag=participated, customer_ids=[f.pk for f in fans[:2]]) == 2
    assert add_event_tag(tag=participated, customer_ids=[f.pk for f in fans]) == 1
    assert CustomerTag.objects.filter(tag=participated).count() == 3
    assert TagChange.objects.filter(tag=participated, added=True).count() == 3


def test_add_event_tag_refuses_a_manual_tag(store):
    fan = make_customer(store=store)
    with pytest.raises(ValidationError):
        add_event_tag(
            tag=Tag.objects.get(group__code="style", code="business"), customer_ids=[fan.pk]
        )
