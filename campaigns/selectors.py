"""Reads for campaigns: scoping, the audience a filter matches (with the do-not-disturb rules),
the contact list for WeChat group messaging, and the measured result against the hold-out.

Do-not-disturb rules, applied in this order (a fan removed by several is counted under the first):
1. `out_of_town`: an offline event never invites a fan whose distance label is `out_of_town`;
2. `contact_cap`: a fan with CAMPAIGN_CONTACT_CAP contacts in the contact ledger (any source:
   campaigns, follow-ups, contacts recorded by hand) in the CAMPAIGN_CONTACT_WINDOW_DAYS days
   before the freeze is left out;
3. `opted_out`: a fan marked `do_not_contact` is never included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils.translation import gettext as _

from campaigns.models import AudienceMember, Campaign, CheckIn, Contact, Playbook
from customers.models import Customer, Order, Staff
from customers.selectors import Actor, store_id_scope
from tagging.selectors import filter_customers_by_tags

FILTER_KEYS = ("all", "any", "none")
OUT_OF_TOWN = "out_of_town"
CENTS = Decimal("0.01")
Z_95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


# --- scoping ----------------------------------------------------------------------------------


def campaigns_visible_to(actor: Actor) -> QuerySet[Campaign]:
    """Campaigns that include the actor's store (HQ: every campaign)."""
    store_id = store_id_scope(actor)
    campaigns = Campaign.objects.all()
    if store_id is None:
        return campaigns
    return campaigns.filter(
        Exists(
            Campaign.stores.through.objects.filter(campaign_id=OuterRef("pk"), store_id=store_id)
        )
    )


def can_manage_campaigns(actor: Actor) -> bool:
    """Managers and HQ plan events; guides and POS devices only check fans in."""
    return isinstance(actor, Staff) and actor.role in (Staff.Role.MANAGER, Staff.Role.HQ)


def can_change_campaign(*, actor: Actor, campaign: Campaign) -> bool:
    """HQ changes any event; a manager only an event of their own store alone."""
    if not can_manage_campaigns(actor):
        return False
    if actor.is_hq:
        return True
    store_ids = {store.pk for store in campaign.stores.all()}
    return store_ids == {actor.store_id}


# --- audience ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceFilter:
    all: list[str] = field(default_factory=list)
    any: list[str] = field(default_factory=list)
    none: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"all": list(self.all), "any": list(self.any), "none": list(self.none)}

    @property
    def is_empty(self) -> bool:
        return not (self.all or self.any or self.none)


def clean_audience_filter(raw: dict | None) -> AudienceFilter:
    """Check the filter's shape and every tag reference; errors are keyed `all`/`any`/`none`."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ValidationError({"audience": [_("Expected an object with all, any and none.")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, list[str]] = {}
    for key in FILTER_KEYS:
        refs = raw.get(key) or []
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list | tuple) or not all(isinstance(ref, str) for ref in refs):
            errors[key] = [_("Expected a list of tags written group:code.")]
            continue
        refs = list(dict.fromkeys(ref.strip() for ref in refs if ref.strip()))
        try:
            filter_customers_by_tags(Customer.objects.none(), **{f"{key}_of": refs})
        except ValidationError as exc:
            errors[key] = exc.messages
            continue
        cleaned[key] = refs
    if errors:
        raise ValidationError(errors)
    return AudienceFilter(**cleaned)


def matched_customers(*, store_ids: list[int], audience: AudienceFilter) -> QuerySet[Customer]:
    """Fans of the event's stores that the tag filter matches (before the do-not-disturb rules)."""
    customers = Customer.objects.filter(store_id__in=store_ids)
    return filter_customers_by_tags(
        customers, all_of=audience.all, any_of=audience.any, none_of=audience.none
    )


def contacts_within(*, since: datetime, until: datetime) -> QuerySet[Contact]:
    """The ledger's contacts in (since, until]: what every contact cap counts."""
    return Contact.objects.filter(contacted_at__gt=since, contacted_at__lte=until)


def capped_customer_ids(contacts: QuerySet[Contact], *, cap: int) -> QuerySet:
    """The fans with at least `cap` of `contacts` (a values queryset, for `pk__in`)."""
    return (
        contacts.values("customer_id")
        .annotate(contacts=Count("id"))
        .filter(contacts__gte=cap)
        .values("customer_id")
    )


def _capped_customer_ids(*, now: datetime, exclude_campaign_id: int | None) -> QuerySet:
    """Fans already contacted CAMPAIGN_CONTACT_CAP times, by any source, in the rolling window
    before `now`; a refreeze does not count the event's own earlier list."""
    since = now - timedelta(days=settings.CAMPAIGN_CONTACT_WINDOW_DAYS)
    contacts = contacts_within(since=since, until=now)
    if exclude_campaign_id is not None:
        contacts = contacts.exclude(campaign_id=exclude_campaign_id)
    return capped_customer_ids(contacts, cap=settings.CAMPAIGN_CONTACT_CAP)


def _rule_conditions(*, kind: str, now: datetime, campaign_id: int | None) -> tuple[Q, Q, Q]:
    out_of_town = Q(distance=OUT_OF_TOWN) if kind == Campaign.Kind.OFFLINE else Q(pk__in=[])
    capped = Q(pk__in=_capped_customer_ids(now=now, exclude_campaign_id=campaign_id))
    opted_out = Q(do_not_contact=True)
    return out_of_town, capped, opted_out


def holdout_size(eligible: int, percent: int) -> int:
    """round(percent · eligible / 100), halves rounded up, in integers."""
    return (2 * eligible * percent + 100) // 200


def audience_counts(
    *,
    store_ids: list[int],
    kind: str,
    audience: AudienceFilter,
    holdout_percent: int,
    now: datetime,
    campaign_id: int | None = None,
) -> dict:
    """The live count: matched fans, the fans each rule removes, the hold-out and contact sizes.

    One aggregate query, whatever the number of fans.
    """
    matched = matched_customers(store_ids=store_ids, audience=audience)
    out_of_town, capped, opted_out = _rule_conditions(kind=kind, now=now, campaign_id=campaign_id)
    totals = matched.aggregate(
        matched=Count("id"),
        out_of_town=Count("id", filter=out_of_town),
        contact_cap=Count("id", filter=~out_of_town & capped),
        opted_out=Count("id", filter=~out_of_town & ~capped & opted_out),
    )
    removed = {key: totals[key] for key in ("out_of_town", "contact_cap", "opted_out")}
    eligible = totals["matched"] - sum(removed.values())
    holdout = holdout_size(eligible, holdout_percent)
    return {
        "matched": totals["matched"],
        "removed": removed,
        "holdout": holdout,
        "contacts": eligible - holdout,
    }


def _flag(condition: Q | None) -> Case | Value:
    if condition is None:
        return Value(False)
    return Case(
        When(condition, then=Value(True)), default=Value(False), output_field=BooleanField()
    )


def matched_with_rule_flags(
    *,
    store_ids: list[int],
    kind: str,
    audience: AudienceFilter,
    now: datetime,
    campaign_id: int | None,
) -> list[tuple]:
    """Every matched fan once, in one query, as (id, guide_id, apple, rfm_segment, out_of_town,
    capped, opted_out): the freeze applies the rules to these flags in memory."""
    out_of_town, capped, _opted_out = _rule_conditions(kind=kind, now=now, campaign_id=campaign_id)
    matched = matched_customers(store_ids=store_ids, audience=audience)
    return list(
        matched.annotate(
            rule_out_of_town=_flag(out_of_town if kind == Campaign.Kind.OFFLINE else None),
            rule_capped=_flag(capped),
        )
        .order_by()
        .values_list(
            "id",
            "guide_id",
            "labels__apple",
            "labels__rfm_segment",
            "rule_out_of_town",
            "rule_capped",
            "do_not_contact",
        )
    )


_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed, well-mixed 64-bit hash (wraps modulo 2**64 on purpose)."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def holdout_mask(customer_ids: np.ndarray, *, seed: int, size: int) -> np.ndarray:
    """True for the `size` fans whose hash of (seed, id) ranks lowest: reproducible, order-free.

    The rank depends only on the seed and each fan's own id, so the same seed over the same
    eligible fans always holds out the same fans, whatever order the database returns them in.
    """
    ids = np.asarray(customer_ids, dtype=np.uint64)
    mask = np.zeros(len(ids), dtype=bool)
    if size <= 0 or len(ids) == 0:
        return mask
    keys = _splitmix64(ids ^ _splitmix64(np.full(len(ids), seed, dtype=np.uint64)))
    order = np.lexsort((ids, keys))  # hash first, id breaks (astronomically rare) ties
    mask[order[:size]] = True
    return mask


# --- event window, participation, results -----------------------------------------------------


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


def event_sales(campaign: Campaign) -> QuerySet[Order]:
    """Sales at the event's stores on the event's local dates [starts_on, ends_on]."""
    return Order.objects.filter(
        kind=Order.Kind.SALE,
        store_id__in=campaign.stores.values("pk"),
        paid_at__gte=local_day_start(campaign.starts_on),
        paid_at__lt=local_day_start(campaign.ends_on + timedelta(days=1)),
    )


def conversion_difference(
    *, buyers_a: int, size_a: int, buyers_b: int, size_b: int, z: float = Z_95
) -> dict:
    """Conversion of group A (contacted) minus group B (hold-out) with a normal-approximation interval.

    p_a = buyers_a / size_a, p_b = buyers_b / size_b, d = p_a − p_b,
    SE = sqrt(p_a (1 − p_a) / size_a + p_b (1 − p_b) / size_b), interval d ± z · SE (z = 1.96 for
    95 %). A group of size 0 has no rate, so neither the difference nor the interval exists (None).
    """
    rate_a = buyers_a / size_a if size_a else None
    rate_b = buyers_b / size_b if size_b else None
    if rate_a is None or rate_b is None:
        return {
            "rate_contact": rate_a,
            "rate_holdout": rate_b,
            "difference": None,
            "ci_low": None,
            "ci_high": None,
        }
    difference = rate_a - rate_b
    se = math.sqrt(rate_a * (1 - rate_a) / size_a + rate_b * (1 - rate_b) / size_b)
    return {
        "rate_contact": round(rate_a, 6),
        "rate_holdout": round(rate_b, 6),
        "difference": round(difference, 6),
        "ci_low": round(difference - z * se, 6),
        "ci_high": round(difference + z * se, 6),
    }


def campaign_results(*, campaign: Campaign, actor: Actor) -> dict:
    """Audience, contacted, hold-out, participants, buyers and sales per group (the actor's fans).

    A buyer is an audience member with a sale at one of the event's stores inside the event's
    local dates; sales are the sum of those sales. A fixed number of queries.
    """
    store_id = store_id_scope(actor)
    members = AudienceMember.objects.filter(campaign=campaign)
    check_ins = CheckIn.objects.filter(campaign=campaign)
    if store_id is not None:
        members = members.filter(customer__store_id=store_id)
        check_ins = check_ins.filter(customer__store_id=store_id)
    sales = event_sales(campaign)
    bought = Exists(sales.filter(customer_id=OuterRef("customer_id")))
    came = Exists(CheckIn.objects.filter(campaign=campaign, customer_id=OuterRef("customer_id")))
    per_group = {
        row["group"]: row
        for row in members.values("group").annotate(
            size=Count("id"),
            buyers=Count("id", filter=bought),
            participated=Count("id", filter=came),
        )
    }
    member_sales = sales.filter(customer__campaign_memberships__campaign=campaign)
    if store_id is not None:
        member_sales = member_sales.filter(customer__store_id=store_id)
    sales_by_group = {
        row["customer__campaign_memberships__group"]: row
        for row in member_sales.values("customer__campaign_memberships__group").annotate(
            total=Sum("amount"), orders=Count("id")
        )
    }
    groups = {}
    for group in (AudienceMember.Group.CONTACT, AudienceMember.Group.HOLDOUT):
        row = per_group.get(group, {})
        money = sales_by_group.get(group, {})
        size = row.get("size", 0)
        buyers = row.get("buyers", 0)
        groups[group.value] = {
            "size": size,
            "participated": row.get("participated", 0),
            "buyers": buyers,
            "orders": money.get("orders", 0),
            "sales": str(Decimal(str(money.get("total") or 0)).quantize(CENTS)),
            "conversion": round(buyers / size, 6) if size else None,
        }
    contact, holdout = groups["contact"], groups["holdout"]
    participated = check_ins.count()
    return {
        "campaign": campaign.code,
        "frozen_at": campaign.frozen_at,
        "audience": contact["size"] + holdout["size"],
        "contacted": contact["size"],
        "holdout": holdout["size"],
        "participated": participated,
        "participated_outside_audience": participated
        - contact["participated"]
        - holdout["participated"],
        "groups": groups,
        "conversion_difference": conversion_difference(
            buyers_a=contact["buyers"],
            size_a=contact["size"],
            buyers_b=holdout["buyers"],
            size_b=holdout["size"],
        ),
    }


# --- contact list (WeChat group messaging) ----------------------------------------------------


def playbooks_by_segment() -> dict[str, Playbook]:
    return {playbook.rfm_segment: playbook for playbook in Playbook.objects.all()}


def playbook_for_segment(rfm_segment: str) -> Playbook | None:
    """The suggested action for a fan's RFM segment (for the fan card), or None."""
    if not rfm_segment:
        return None
    return Playbook.objects.filter(rfm_segment=rfm_segment).first()


def playbooks_for_filter(audience_filter: dict) -> list[Playbook]:
    """The playbooks of the RFM segments an audience filter targets (its `all` and `any` tags)."""
    prefix = "rfm_segment:"
    refs = [*(audience_filter or {}).get("all", []), *(audience_filter or {}).get("any", [])]
    segments = [ref[len(prefix) :] for ref in refs if ref.startswith(prefix)]
    return list(Playbook.objects.filter(rfm_segment__in=segments)) if segments else []


def personalise(template: str, *, name: str) -> str:
    """Put the fan's name into a message; `{name}` is the only placeholder (no str.format)."""
    return template.replace("{name}", name)


CONTACT_LIST_COLUMNS = [
    "guide_work_number",
    "guide_name",
    "customer_id",
    "name",
    "phone_masked",
    "remark_store_account",
    "remark_personal_account",
    "apple",
    "rfm_segment",
    "message",
]


def contact_list(*, campaign: Campaign, actor: Actor, guide: Staff | None = None) -> list[dict]:
    """The contacted fans, by guide: remark names and the suggested message with the fan's name.

    The message is the event's own; without one, the playbook default of the fan's segment
    (frozen with the audience). A guide gets only their own fans. Two queries.
    """
    store_id = store_id_scope(actor)
    members = AudienceMember.objects.filter(campaign=campaign, group=AudienceMember.Group.CONTACT)
    if store_id is not None:
        members = members.filter(customer__store_id=store_id)
    if isinstance(actor, Staff) and actor.role == Staff.Role.GUIDE:
        guide = actor
    if guide is not None:
        members = members.filter(guide=guide)
    playbooks = {} if campaign.message_template else playbooks_by_segment()
    rows = []
    for member in members.select_related("customer__labels", "guide").order_by(
        "guide__work_number", "customer__name", "customer_id"
    ):
        customer = member.customer
        labels = getattr(customer, "labels", None)
        playbook = playbooks.get(member.rfm_segment)
        template = campaign.message_template or (playbook.default_message if playbook else "")
        rows.append(
            {
                "guide_work_number": member.guide.work_number if member.guide else "",
                "guide_name": member.guide.name if member.guide else "",
                "customer_id": customer.pk,
                "name": customer.name,
                "phone_masked": customer.phone_masked,
                "remark_store_account": labels.remark_store_account if labels else "",
                "remark_personal_account": labels.remark_personal_account if labels else "",
                "apple": member.apple,
                "rfm_segment": member.rfm_segment,
                "message": personalise(template, name=customer.name),
            }
        )
    return rows


def campaigns_to_refresh(*, today: date, grace: timedelta) -> QuerySet[Campaign]:
    """Events running on `today` or ended within `grace` (late POS uploads still count)."""
    return Campaign.objects.filter(
        starts_on__lte=today, ends_on__gte=today - grace
    ).prefetch_related("stores")
