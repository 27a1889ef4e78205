"""Reads behind My fans and the fan card.

Every read starts from `customers_visible_to(staff)`: another store's fan is not in the queryset,
so the page is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, CustomerLabels, CustomerPrediction, Order, Staff, Store
from customers.selectors import (
    customers_visible_to,
    mask_name,
    owns,
    prediction_of,
    staff_visible_to,
)
from followups.selectors import contact_history, open_follow_ups_of
from segmentation.models import LabelChange
from tagging.models import TagChange, TagGroup
from tagging.selectors import filter_customers_by_tags, tag_history, tags_by_customer
from web.filters import match_name_or_phone_tail
from web.selectors.common import manual_taxonomy, tag_names

PAGE_SIZE = 25
# Groups shown on their own in a fan row (dot, stage badge), not among the row's tags.
ROW_HIDDEN_GROUPS = {"apple", "r_stage", "rfm_segment", "membership", "rhythm", "birthday_month"}
ROW_TAGS = 3
REQUIRED_PROFILE = ("consumption_notes", "birthday", "body_shape", "height_cm", "skin_tone")
CARD_HISTORY = 20


# --- My fans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FanFilters:
    """What My fans (and the HQ export) narrow the fans by; empty values filter nothing."""

    q: str = ""
    phone: str = ""  # a full, normalised phone: only from the POST search
    apple: str = ""
    stage: str = ""
    segment: str = ""
    forecast: str = ""  # due_soon / at_risk (issue 14)
    tags: tuple[str, ...] = ()
    guide: str = ""  # a work number
    whole_store: bool = False
    by_value: bool = False  # highest 12-month value first (else newest fans first)


@dataclass(frozen=True)
class FanFilterOptions:
    """The manual tags and the guides My fans offers as filters."""

    taxonomy: list[TagGroup] = field(default_factory=list)
    guides: list[Staff] = field(default_factory=list)

    def tag_choices(self) -> list[tuple[str, str]]:
        return [(f"{g.code}:{t.code}", t.name) for g in self.taxonomy for t in g.tags.all()]

    def guide_ids(self) -> dict[str, int]:
        return {g.work_number: g.pk for g in self.guides}


def fan_filter_options(*, staff: Staff, store: Store | None) -> FanFilterOptions:
    """Manual taxonomy (2 queries) and, for managers and HQ, the store's guides (1 query)."""
    guides: list[Staff] = []
    if staff.role != Staff.Role.GUIDE and (store or staff.store):
        guides = list(
            staff_visible_to(staff)
            .filter(store=store or staff.store)
            .exclude(role=Staff.Role.HQ)
            .only("id", "work_number", "name", "is_active")
        )
    return FanFilterOptions(taxonomy=manual_taxonomy(), guides=guides)


def scoped_fans(*, staff: Staff, store: Store | None) -> QuerySet[Customer]:
    """The actor's fans; HQ narrowed to the store chosen in the switcher, if any."""
    queryset = customers_visible_to(staff)
    if store is not None and staff.is_hq:
        queryset = queryset.filter(store=store)
    return queryset


def filter_fans(
    queryset: QuerySet[Customer],
    *,
    staff: Staff,
    filters: FanFilters,
    guide_ids: dict[str, int] | None = None,
) -> QuerySet[Customer]:
    """Narrow `queryset` (already scoped to the actor) by `filters`.

    A guide sees her own fans unless she asks for the whole store; a manager's guide filter uses
    the (store, guide) index when the guide's id is known.
    """
    guide_ids = guide_ids or {}
    queryset = match_name_or_phone_tail(queryset, filters.q)
    if filters.phone:
        queryset = queryset.filter(phone=filters.phone)
    if filters.apple:
        queryset = queryset.filter(labels__apple=filters.apple)
    if filters.stage:
        queryset = queryset.filter(labels__r_stage=filters.stage)
    if filters.segment:
        queryset = queryset.filter(labels__rfm_segment=filters.segment)
    if filters.forecast:
        queryset = queryset.filter(prediction__forecast=filters.forecast)
    if filters.guide in guide_ids:
        queryset = queryset.filter(guide_id=guide_ids[filters.guide])
    elif filters.guide:
        queryset = queryset.filter(guide__work_number=filters.guide)
    elif staff.role == Staff.Role.GUIDE and not filters.whole_store:
        queryset = queryset.filter(guide=staff)
    if filters.tags:
        queryset = filter_customers_by_tags(queryset, all_of=filters.tags)
    return queryset


@dataclass(frozen=True)
class FanRow:
    pk: int
    name: str
    phone_masked: str
    apple_code: str
    apple_label: str
    stage_code: str
    stage_label: str
    row_tags: list[str]
    more_tags: int


@dataclass(frozen=True)
class FanListPage:
    page: Page
    rows: list[FanRow]
    # Managers looking at one guide's fans can hand the ticked ones (or all) to a colleague.
    transfer_from: Staff | None
    transfer_to: list[Staff]


def _first_page_without_count(queryset: QuerySet, number: str | None) -> tuple[Page, list]:
    """Page `number` of `queryset` and its rows; a first page that holds every match needs no
    COUNT(*) (the usual phone-tail or name search), a longer list counts once."""
    paginator = Paginator(queryset, PAGE_SIZE)
    first = None
    if number in (None, "", "1"):
        first = list(queryset[: PAGE_SIZE + 1])
        if len(first) <= PAGE_SIZE:
            paginator.count = len(first)  # cached_property: set it and COUNT(*) never runs
    page = paginator.get_page(number)
    rows = first[:PAGE_SIZE] if first is not None else list(page.object_list)
    return page, rows


def _labels_of(customer: Customer) -> CustomerLabels | None:
    try:
        return customer.labels
    except CustomerLabels.DoesNotExist:
        return None


def _row(customer: Customer, refs: list[str], names: dict[str, str], manual: set[str]) -> FanRow:
    shown = sorted(
        (r for r in refs if r.split(":", 1)[0] not in ROW_HIDDEN_GROUPS),
        key=lambda r: r.split(":", 1)[0] not in manual,  # the guides' own tags first
    )
    labels = _labels_of(customer)
    return FanRow(
        pk=customer.pk,
        name=customer.name,
        phone_masked=customer.phone_masked,
        apple_code=labels.apple if labels else "",
        apple_label=labels.get_apple_display() if labels else "",
        stage_code=labels.r_stage if labels else "",
        stage_label=labels.get_r_stage_display() if labels else "",
        row_tags=[names.get(ref, ref) for ref in shown[:ROW_TAGS]],
        more_tags=max(0, len(shown) - ROW_TAGS),
    )


def _fan_order(filters: FanFilters) -> tuple:
    if filters.by_value:
        return (F("prediction__clv_12m").desc(nulls_last=True), "-id")
    return ("-id",)


def fan_list(
    *,
    staff: Staff,
    store: Store | None,
    filters: FanFilters,
    options: FanFilterOptions,
    page_number: str | None,
) -> FanListPage:
    """One page of My fans: rows with apple, stage and up to three tags (5 queries, 6 with the
    count), newest fans first."""
    queryset = (
        filter_fans(
            scoped_fans(staff=staff, store=store),
            staff=staff,
            filters=filters,
            guide_ids=options.guide_ids(),
        )
        .select_related("labels")
        .only(
            "id",
            "name",
            "phone",
            "store_id",
            "guide_id",
            "labels__apple",
            "labels__r_stage",
            "labels__rfm_segment",
        )
        .order_by(*_fan_order(filters))
    )
    page, customers = _first_page_without_count(queryset, page_number)
    names = tag_names()
    manual = {group.code for group in options.taxonomy}
    tags = tags_by_customer([c.pk for c in customers])
    return FanListPage(
        page=page,
        rows=[_row(c, tags.get(c.pk, []), names, manual) for c in customers],
        transfer_from=next((g for g in options.guides if g.work_number == filters.guide), None),
        transfer_to=[g for g in options.guides if g.is_active and g.work_number != filters.guide],
    )


# --- Fan card ---------------------------------------------------------------------------------


def fans_for_card(staff: Staff) -> QuerySet[Customer]:
    """The actor's fans with what the card shows beside the profile (one query per fan)."""
    return customers_visible_to(staff).select_related(
        "labels", "guide", "store__labelling", "referrer", "prediction"
    )


@dataclass(frozen=True)
class TagPanel:
    """The card's tags: manual groups as chips (with the fan's current tags), computed read-only."""

    customer: Customer
    tag_groups: list[dict]
    computed_tags: list[dict]


def tag_panel(customer: Customer) -> TagPanel:
    current = set(tags_by_customer([customer.pk]).get(customer.pk, []))
    names = tag_names()
    groups = [
        {
            "group": group,
            "chips": [
                {"ref": ref, "name": t.name, "on": ref in current}
                for t in group.tags.all()
                for ref in [f"{group.code}:{t.code}"]
            ],
        }
        for group in manual_taxonomy()
    ]
    manual = {g["group"].code for g in groups}
    computed = [
        {"ref": ref, "name": names.get(ref, ref), "group": ref.split(":", 1)[0]}
        for ref in sorted(current)
        if ref.split(":", 1)[0] not in manual
    ]
    return TagPanel(customer=customer, tag_groups=groups, computed_tags=computed)


@dataclass(frozen=True)
class LabelChangeRow:
    as_of: object
    group_label: str
    from_name: str
    to_name: str


@dataclass(frozen=True)
class FanCard:
    labels: CustomerLabels | None
    prediction: CustomerPrediction | None  # her purchase forecast (none before a sale)
    percent: int
    missing: list[str]
    birthday: str
    referrer_name: str  # masked when another store owns the referrer
    orders: list  # at every store of the brand: her sales all count in her labels
    label_changes: list[LabelChangeRow]
    tag_changes: list[TagChange]


def _completeness(customer: Customer) -> tuple[int, list[str]]:
    filled = {
        "consumption_notes": bool(customer.consumption_notes.strip()),
        "birthday": bool(customer.birth_calendar and customer.birth_month and customer.birth_day),
        "body_shape": bool(customer.body_shape.strip()),
        "height_cm": customer.height_cm is not None,
        "skin_tone": bool(customer.skin_tone.strip()),
    }
    missing = [key for key in REQUIRED_PROFILE if not filled[key]]
    return round(100 * (len(REQUIRED_PROFILE) - len(missing)) / len(REQUIRED_PROFILE)), missing


def _birthday_text(customer: Customer) -> str:
    if not (customer.birth_calendar and customer.birth_month and customer.birth_day):
        return ""
    if customer.birth_calendar == Customer.Calendar.LUNAR:
        leap = _("leap ") if customer.birth_is_leap_month else ""
        text = _("lunar %(leap)smonth %(m)d day %(d)d") % {
            "leap": leap,
            "m": customer.birth_month,
            "d": customer.birth_day,
        }
    else:
        text = _("%(m)d/%(d)d") % {"m": customer.birth_month, "d": customer.birth_day}
    if customer.birth_year:
        text = f"{customer.birth_year} · {text}"
    return text


def _label_changes(customer: Customer, names: dict[str, str]) -> list[LabelChangeRow]:
    changes = LabelChange.objects.filter(customer=customer).select_related("run")
    return [
        LabelChangeRow(
            as_of=change.run.as_of,
            group_label=change.get_group_display(),
            from_name=names.get(f"{change.group}:{change.from_code}", change.from_code),
            to_name=names.get(f"{change.group}:{change.to_code}", change.to_code),
        )
        for change in changes.order_by("-run_id", "group")[:CARD_HISTORY]
    ]


def fan_card(*, staff: Staff, customer: Customer) -> FanCard:
    """The card of a fan fetched through `fans_for_card(staff)`: completeness, her orders at every
    store (the guide named at her own store only), label and tag history (a constant number of queries, whatever the history; the chips: `tag_panel`)."""
    percent, missing = _completeness(customer)
    orders = Order.objects.filter(customer=customer).select_related("guide", "store")
    referrer = customer.referrer
    if referrer is None:
        referrer_name = ""
    else:
        referrer_name = referrer.name if owns(staff, referrer) else mask_name(referrer.name)
    return FanCard(
        labels=_labels_of(customer),
        prediction=prediction_of(customer),
        percent=percent,
        missing=missing,
        birthday=_birthday_text(customer),
        referrer_name=referrer_name,
        orders=list(orders[:CARD_HISTORY]),
        label_changes=_label_changes(customer, tag_names()),
        tag_changes=list(tag_history(customer=customer, limit=CARD_HISTORY)),
    )


@dataclass(frozen=True)
class FollowUpPanel:
    follow_ups: list  # her pending follow-ups, as the staff member sees them
    contacts: list  # the contact ledger, newest first
    days_since_contact: int | None


def follow_up_panel(*, staff: Staff, customer: Customer, today) -> FollowUpPanel:
    """The fan card's follow-ups and contact history (three queries)."""
    contacts = list(contact_history(customer, limit=CARD_HISTORY))
    last = timezone.localtime(contacts[0].contacted_at).date() if contacts else None
    return FollowUpPanel(
        follow_ups=list(open_follow_ups_of(customer, actor=staff)),
        contacts=contacts,
        days_since_contact=(today - last).days if last else None,
    )
