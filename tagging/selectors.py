"""Reads on the tag vocabulary: filtering fans by tags, a fan's tags, the taxonomy, birthdays."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _
from lunardate import LunarDate

from customers.facts import GREGORIAN, LUNAR, lunar_month_length, next_birthday
from customers.models import Customer
from tagging.models import CustomerTag, Tag, TagChange, TagGroup
from tagging.schemas import split_ref

# Computed groups and the column that holds each (lookups from Customer).
COMPUTED_COLUMNS: dict[str, str] = {
    "apple": "labels__apple",
    "rfm_segment": "labels__rfm_segment",
    "r_stage": "labels__r_stage",
    "membership": "labels__membership",
    "rhythm": "labels__rhythm",
    "forecast": "prediction__forecast",
    "zodiac": "zodiac",
    "birthday_month": "birthday_month",
    "distance": "distance",
}


def _resolve_for_filter(refs: Iterable[str]) -> dict[str, Tag]:
    refs = list(dict.fromkeys(refs))
    if not refs:
        return {}
    pairs = {ref: split_ref(ref) for ref in refs}
    condition = Q()
    for group, code in pairs.values():
        condition |= Q(group__code=group, code=code)
    found = {
        (t.group.code, t.code): t for t in Tag.objects.select_related("group").filter(condition)
    }
    unknown = [ref for ref, pair in pairs.items() if pair not in found]
    if unknown:
        raise ValidationError(
            _("Unknown tag: %(tags)s.") % {"tags": ", ".join(unknown)}, code="unknown_tag"
        )
    return {ref: found[pair] for ref, pair in pairs.items()}


def _condition(tag: Tag) -> Q:
    column = COMPUTED_COLUMNS.get(tag.group.code)
    if column is not None:
        return Q(**{column: tag.code})
    return Q(Exists(CustomerTag.objects.filter(tag_id=tag.id, customer_id=OuterRef("pk"))))


def filter_customers_by_tags(
    queryset: QuerySet[Customer],
    *,
    all_of: Iterable[str] = (),
    any_of: Iterable[str] = (),
    none_of: Iterable[str] = (),
) -> QuerySet[Customer]:
    """Fans carrying every tag of `all_of`, at least one of `any_of` and none of `none_of`.

    Tags are "group:code" across manual, event and computed groups. Manual/event tags become
    EXISTS subqueries on CustomerTag (index tag, customer); computed groups compare the label
    columns (CustomerLabels or Customer). Unknown references raise ValidationError naming them.
    """
    all_of, any_of, none_of = list(all_of), list(any_of), list(none_of)
    tags = _resolve_for_filter([*all_of, *any_of, *none_of])
    for ref in all_of:
        queryset = queryset.filter(_condition(tags[ref]))
    if any_of:
        either = Q()
        manual_ids = [tags[r].id for r in any_of if tags[r].group.code not in COMPUTED_COLUMNS]
        if manual_ids:
            either |= Q(
                Exists(
                    CustomerTag.objects.filter(tag_id__in=manual_ids, customer_id=OuterRef("pk"))
                )
            )
        for ref in any_of:
            if tags[ref].group.code in COMPUTED_COLUMNS:
                either |= _condition(tags[ref])
        queryset = queryset.filter(either)
    for ref in none_of:
        tag = tags[ref]
        column = COMPUTED_COLUMNS.get(tag.group.code)
        if column is None:
            queryset = queryset.filter(~_condition(tag))
        elif column.startswith(("labels__", "prediction__")):
            # A fan without a labels (prediction) row does not carry the label: keep her.
            row = column.partition("__")[0]
            queryset = queryset.filter(Q(**{f"{row}__isnull": True}) | ~Q(**{column: tag.code}))
        else:
            queryset = queryset.exclude(**{column: tag.code})
    return queryset


def _computed_values(customer: Customer) -> list:
    """The computed groups' values of a fan read with her labels and prediction rows (select
    them along: none without a row)."""
    values = []
    for column in COMPUTED_COLUMNS.values():
        row_name, _, field = column.rpartition("__")
        try:
            row = getattr(customer, row_name) if row_name else customer
        except ObjectDoesNotExist:
            row = None
        values.append(getattr(row, field) if row is not None else None)
    return values


def tags_by_customer(
    customer_ids: Iterable[int], *, loaded: Iterable[Customer] = ()
) -> dict[int, list[str]]:
    """Every fan's tags as "group:code" (manual + event + computed), in taxonomy order; 3 queries,
    2 when every fan is in `loaded` (read with her labels: her computed tags need no query)."""
    ids = list(dict.fromkeys(int(i) for i in customer_ids))
    if not ids:
        return {}
    known = {customer.pk: customer for customer in loaded}
    group_order = dict(TagGroup.objects.values_list("code", "order"))
    result: dict[int, list[tuple[tuple, str]]] = {i: [] for i in ids}
    for cid, gcode, gorder, tcode, torder in (
        CustomerTag.objects.filter(customer_id__in=ids)
        .values_list(
            "customer_id", "tag__group__code", "tag__group__order", "tag__code", "tag__order"
        )
        .order_by()
    ):
        result[cid].append(((gorder, torder, tcode), f"{gcode}:{tcode}"))
    columns = list(COMPUTED_COLUMNS.values())
    rows = [(pk, *_computed_values(known[pk])) for pk in ids if pk in known]
    if len(rows) < len(ids):
        rows += Customer.objects.filter(id__in=[i for i in ids if i not in known]).values_list(
            "id", *columns
        )
    for row in rows:
        cid, values = row[0], row[1:]
        for group, value in zip(COMPUTED_COLUMNS, values, strict=True):
            if value:
                result[cid].append(((group_order.get(group, 0), 0, value), f"{group}:{value}"))
    return {cid: [ref for _key, ref in sorted(items)] for cid, items in result.items()}


def tag_groups(*, kinds: Iterable[str] | None = None) -> QuerySet[TagGroup]:
    """Active groups with their active tags prefetched (pickers, the API); optionally by kind."""
    groups = TagGroup.objects.filter(is_active=True)
    if kinds is not None:
        groups = groups.filter(kind__in=list(kinds))
    return groups.order_by("order", "code").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.filter(is_active=True).order_by("order", "code"))
    )


def _birthday_keys(today: date, within_days: int) -> Q:
    """A Q matching fans whose birthday falls on a day of [today, today + within_days]."""
    greg: dict[int, set[int]] = defaultdict(set)
    lunar: dict[tuple[int, bool], set[int]] = defaultdict(set)
    for offset in range(within_days + 1):
        d = today + timedelta(days=offset)
        greg[d.month].add(d.day)
        if d.month == 2 and d.day == 28 and not _is_leap_year(d.year):
            greg[2].add(29)  # Feb 29 fans celebrate on Feb 28 in common years
        try:
            ld = LunarDate.fromSolarDate(d.year, d.month, d.day)
        except (ValueError, IndexError):
            continue
        is_leap = bool(ld.isLeapMonth)
        year_has_leap_here = LunarDate.leapMonthForYear(ld.year) == ld.month
        days = {ld.day}
        if ld.day == 29 and lunar_month_length(ld.year, ld.month, is_leap) == 29:
            days.add(30)  # day-30 birthdays fall on day 29 of a short month
        lunar[(ld.month, is_leap)] |= days
        if not is_leap and not year_has_leap_here:
            # Leap-month birthdays fall in the ordinary month when the year lacks that leap month.
            lunar[(ld.month, True)] |= days
    condition = Q()
    for month, day_set in greg.items():
        condition |= Q(birth_calendar=GREGORIAN, birth_month=month, birth_day__in=sorted(day_set))
    for (month, leap), day_set in lunar.items():
        condition |= Q(
            birth_calendar=LUNAR,
            birth_month=month,
            birth_is_leap_month=leap,
            birth_day__in=sorted(day_set),
        )
    return condition


def birthdays_on(day: date) -> Q:
    """A Q matching fans whose birthday (lunar ones converted, SPEC §3) falls on `day`."""
    return _birthday_keys(day, 0)


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def upcoming_birthdays(
    *, customers: QuerySet[Customer], today: date, within_days: int
) -> list[Customer]:
    """Fans of `customers` whose next birthday is within `within_days` days of `today`.

    Filters in SQL on (calendar, month, day, leap) keys of the dates in the window (index
    customer_birthday_idx); only the matched fans get their date computed in Python. Each fan
    comes back with `next_birthday` set, ordered by that date then id.
    """
    if within_days < 0:
        return []
    matched = []
    for fan in customers.filter(_birthday_keys(today, within_days)):
        when = next_birthday(
            calendar=fan.birth_calendar,
            year=fan.birth_year,
            month=fan.birth_month,
            day=fan.birth_day,
            is_leap_month=fan.birth_is_leap_month,
            today=today,
        )
        if when is not None and (when - today).days <= within_days:
            fan.next_birthday = when
            matched.append(fan)
    matched.sort(key=lambda f: (f.next_birthday, f.pk))
    return matched


def remark_mismatches(*, customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Fans whose WeChat remark (as last recorded) is neither standard remark name.

    Only fans with a recorded remark and a computed standard are listed; the standards are
    annotated as `standard_store_remark` and `standard_personal_remark`.
    """
    return (
        customers.exclude(wechat_remark="")
        .filter(labels__isnull=False)
        .annotate(
            standard_store_remark=F("labels__remark_store_account"),
            standard_personal_remark=F("labels__remark_personal_account"),
        )
        .exclude(Q(standard_store_remark="") & Q(standard_personal_remark=""))
        .exclude(wechat_remark=F("standard_store_remark"))
        .exclude(wechat_remark=F("standard_personal_remark"))
    )


def tag_history(*, customer: Customer, limit: int = 100) -> QuerySet:
    """A fan's tag changes, newest first, with tag, group and who (for the manager's view)."""
    return (
        TagChange.objects.filter(customer=customer)
        .select_related("tag__group", "changed_by")
        .order_by("-changed_at", "-id")[:limit]
    )
