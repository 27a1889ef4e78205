"""Reads of follow-ups: scoping, a guide's worklist, what the follow-ups earned, the leaderboard.

Scoping (`follow_ups_visible_to`): a guide sees her own follow-ups, a manager her store's, HQ
all of them; hold-out follow-ups are HQ's only (to everyone else they do not exist: 404).

Attribution (docs/follow-ups.md): a sale by the fan within FOLLOW_UP_ATTRIBUTION_DAYS days after
a completed follow-up is credited to it (to the latest one when several are in reach), net of the
sale's refunds; a sale refunded in full earns nothing. A hold-out follow-up "converts" when she
bought within the same number of days after it was generated.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from campaigns.models import Contact
from campaigns.selectors import conversion_difference
from customers.models import Customer, Order, Staff
from customers.selectors import Actor
from followups.models import FollowUp

CENTS = Decimal("0.01")
WORKLIST_MAX = 30  # rows per list on the phone; the counts give the rest
UPCOMING_DAYS = 7
LEADERBOARD_DAYS = 30


# --- scoping ------------------------------------------------------------------------------------


def follow_ups_visible_to(actor: Actor) -> QuerySet[FollowUp]:
    """Her own (guide), her store's (manager), every one with the hold-outs (HQ); POS: none."""
    follow_ups = FollowUp.objects.all()
    if not isinstance(actor, Staff):
        return follow_ups.none()
    if actor.is_hq:
        return follow_ups
    follow_ups = follow_ups.filter(store_id=actor.store_id, is_holdout=False)
    if actor.role == Staff.Role.GUIDE:
        follow_ups = follow_ups.filter(guide=actor)
    return follow_ups


def actionable(actor: Actor) -> QuerySet[FollowUp]:
    """What the actor may complete, snooze or skip: visible and shown (never a hold-out)."""
    return follow_ups_visible_to(actor).filter(is_holdout=False)


# --- the worklist -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worklist:
    today: date
    overdue: list[FollowUp]
    due_today: list[FollowUp]
    upcoming: list[FollowUp]  # due later, or snoozed until a later day
    counts: dict[str, int]


def worklist(*, follow_ups: QuerySet[FollowUp], today: date) -> Worklist:
    """Overdue / Today / Upcoming of `follow_ups` (already scoped), oldest first, at most
    WORKLIST_MAX rows each; hold-outs never appear. Four queries."""
    shown = follow_ups.filter(is_holdout=False).select_related("customer", "guide")
    shown = shown.only(
        "id", "reason", "due_on", "status", "snoozed_until", "message", "customer_id",
        "customer__name", "guide_id", "guide__name",
    )  # fmt: skip
    open_ = shown.filter(status=FollowUp.Status.OPEN)
    later = today + timedelta(days=UPCOMING_DAYS)
    buckets = {
        "overdue": open_.filter(due_on__lt=today).order_by("due_on", "id"),
        "due_today": open_.filter(due_on=today).order_by("id"),
        "upcoming": shown.filter(
            Q(status=FollowUp.Status.OPEN, due_on__gt=today, due_on__lte=later)
            | Q(status=FollowUp.Status.SNOOZED)
        ).order_by("due_on", "id"),
    }
    counts = follow_ups.filter(is_holdout=False).aggregate(
        overdue=Count("id", filter=Q(status=FollowUp.Status.OPEN, due_on__lt=today)),
        due_today=Count("id", filter=Q(status=FollowUp.Status.OPEN, due_on=today)),
        upcoming=Count(
            "id",
            filter=Q(status=FollowUp.Status.OPEN, due_on__gt=today, due_on__lte=later)
            | Q(status=FollowUp.Status.SNOOZED),
        ),
    )
    rows = {name: list(query[:WORKLIST_MAX]) for name, query in buckets.items()}
    return Worklist(today=today, counts=counts, **rows)


def open_follow_ups_of(customer: Customer, *, actor: Actor) -> QuerySet[FollowUp]:
    """The fan card's pending follow-ups (the actor's view of them)."""
    return (
        follow_ups_visible_to(actor)
        .filter(customer=customer, status__in=FollowUp.PENDING, is_holdout=False)
        .select_related("guide")
        .order_by("due_on", "id")
    )


def contact_history(customer: Customer, *, limit: int = 50) -> QuerySet[Contact]:
    """The fan's contacts, newest first, with who made them."""
    return (
        Contact.objects.filter(customer=customer)
        .select_related("staff", "campaign")
        .order_by("-contacted_at", "-id")[:limit]
    )


# --- attribution and results --------------------------------------------------------------------


def _window() -> timedelta:
    return timedelta(days=settings.FOLLOW_UP_ATTRIBUTION_DAYS)


def _refunded(sale_ref: str = "pk") -> Subquery:
    refunds = (
        Order.objects.filter(kind=Order.Kind.REFUND, refund_of=OuterRef(sale_ref))
        .order_by()
        .values("refund_of")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(refunds), Value(Decimal("0")), output_field=DecimalField())


def credited_sales(follow_ups: QuerySet[FollowUp]) -> dict[int, Decimal]:
    """Net sales credited to each done follow-up of `follow_ups`: {follow-up id: amount}. One
    query: every sale in reach of one of them, each credited to the latest in reach."""
    done = follow_ups.filter(status=FollowUp.Status.DONE)
    in_reach = FollowUp.objects.filter(
        status=FollowUp.Status.DONE,
        customer_id=OuterRef("customer_id"),
        completed_at__lt=OuterRef("paid_at"),
        completed_at__gte=OuterRef("paid_at") - _window(),
    ).order_by("-completed_at", "-id")
    sales = (
        Order.objects.filter(kind=Order.Kind.SALE, customer_id__in=done.values("customer_id"))
        .annotate(credited_to=Subquery(in_reach.values("pk")[:1]))
        .filter(credited_to__in=done.values("pk"))
        .annotate(net=F("amount") - _refunded())
        .filter(net__gt=0)
        .values_list("credited_to", "net")
    )
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for follow_up_id, net in sales:
        credited[follow_up_id] += Decimal(net)
    return dict(credited)


def _bought_after_generation() -> Exists:
    """A hold-out's conversion: she bought within the attribution window after it was made."""
    return Exists(
        Order.objects.filter(
            kind=Order.Kind.SALE,
            customer_id=OuterRef("customer_id"),
            paid_at__gt=OuterRef("created_at"),
            paid_at__lte=OuterRef("created_at") + _window(),
        )
    )


def _counts_by(follow_ups: QuerySet[FollowUp], key: str | None, *, today: date) -> dict:
    """{key value: counts} in one query (`key` None: one row for all, keyed None)."""
    pending = Q(status__in=FollowUp.PENDING)
    shown = Q(is_holdout=False)
    follow_ups = follow_ups.annotate(bought=_bought_after_generation(), everything=Value(1))
    return {
        (row[key] if key else None): row
        for row in follow_ups.order_by()
        .values(key or "everything")
        .annotate(
            generated=Count("id", filter=shown),
            held_out=Count("id", filter=~shown),
            holdout_buyers=Count("id", filter=~shown & Q(bought=True)),
            done=Count("id", filter=Q(status=FollowUp.Status.DONE)),
            overdue=Count("id", filter=shown & pending & Q(due_on__lt=today)),
            reached=Count("id", filter=Q(status=FollowUp.Status.DONE, reached=True)),
        )
    }


def _summary(counts: dict, converted: list[Decimal]) -> dict:
    done = counts.get("done", 0)
    return {
        "generated": counts.get("generated", 0),
        "held_out": counts.get("held_out", 0),
        "done": done,
        "overdue": counts.get("overdue", 0),
        "reached": counts.get("reached", 0),
        "converted": len(converted),
        "sales": str(sum(converted, Decimal("0")).quantize(CENTS)),
        "conversion_difference": conversion_difference(
            buyers_a=len(converted),
            size_a=done,
            buyers_b=counts.get("holdout_buyers", 0),
            size_b=counts.get("held_out", 0),
        ),
    }


def follow_up_results(
    *, actor: Actor, since: date, until: date, today: date, store_id: int | None = None
) -> dict:
    """Follow-ups due in [since, until] (the actor's; one store's when given): per reason and
    per guide — generated, held out, done, overdue, reached, converted, credited sales, and the
    conversion of done against hold-out with a 95 % interval. Six queries whatever the size."""
    follow_ups = follow_ups_visible_to(actor).filter(due_on__gte=since, due_on__lte=until)
    if store_id is not None:
        follow_ups = follow_ups.filter(store_id=store_id)
    credited = credited_sales(follow_ups)
    converted: dict[str, dict] = {"reason": defaultdict(list), "guide_id": defaultdict(list)}
    for pk, reason, guide_id in follow_ups.filter(pk__in=list(credited)).values_list(
        "pk", "reason", "guide_id"
    ):
        converted["reason"][reason].append(credited[pk])
        converted["guide_id"][guide_id].append(credited[pk])
    by_reason = _counts_by(follow_ups, "reason", today=today)
    by_guide = _counts_by(follow_ups, "guide_id", today=today)
    guides = Staff.objects.filter(pk__in=[g for g in by_guide if g is not None])
    names = {pk: (work, name) for pk, work, name in guides.values_list("pk", "work_number", "name")}
    return {
        "since": since,
        "until": until,
        "attribution_days": settings.FOLLOW_UP_ATTRIBUTION_DAYS,
        "total": _summary(
            _counts_by(follow_ups, None, today=today).get(None, {}), list(credited.values())
        ),
        "by_reason": [
            {"reason": reason, **_summary(by_reason[reason], converted["reason"][reason])}
            for reason in sorted(by_reason)
        ],
        "by_guide": [
            {
                "guide": names.get(guide, ("", ""))[0],
                "guide_name": names.get(guide, ("", ""))[1],
                **_summary(by_guide[guide], converted["guide_id"][guide]),
            }
            for guide in sorted(by_guide, key=lambda g: names.get(g, ("~", ""))[0])
        ],
    }


# --- the manager's dashboard --------------------------------------------------------------------


def escalations(*, follow_ups: QuerySet[FollowUp], today: date) -> list[dict]:
    """Follow-ups open FOLLOW_UP_ESCALATION_DAYS days or more past due, counted by guide (most
    first), with the oldest due date."""
    late = today - timedelta(days=settings.FOLLOW_UP_ESCALATION_DAYS)
    rows = (
        follow_ups.filter(is_holdout=False, status=FollowUp.Status.OPEN, due_on__lte=late)
        .values("guide_id", "guide__name")
        .annotate(count=Count("id"), oldest=Min("due_on"))
        .order_by("-count", "guide__name")
    )
    return list(rows)


def leaderboard(*, follow_ups: QuerySet[FollowUp], today: date) -> list[dict]:
    """Each guide's last LEADERBOARD_DAYS days: follow-ups due, done, completion rate and the
    sales her follow-ups converted; sorted by converted sales, then completion rate; `rank`
    from 1."""
    since = today - timedelta(days=LEADERBOARD_DAYS - 1)
    recent = follow_ups.filter(is_holdout=False, due_on__gte=since, due_on__lte=today)
    credited = credited_sales(recent)
    by_guide: dict[int, Decimal] = defaultdict(Decimal)
    for pk, guide_id in recent.filter(pk__in=list(credited)).values_list("pk", "guide_id"):
        by_guide[guide_id] += credited[pk]
    rows = []
    for row in (
        recent.exclude(guide=None)
        .order_by()
        .values("guide_id", "guide__name")
        .annotate(due=Count("id"), done=Count("id", filter=Q(status=FollowUp.Status.DONE)))
    ):
        rate = row["done"] / row["due"] if row["due"] else 0.0
        sales = by_guide.get(row["guide_id"], Decimal("0")).quantize(CENTS)
        rows.append(
            {
                **row,
                "completion_rate": round(rate, 4),
                "completion_percent": round(100 * rate),
                "converted_sales": sales,
            }
        )
    rows.sort(key=lambda r: (-r["converted_sales"], -r["completion_rate"], r["guide__name"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def leaderboard_for(*, actor: Staff, store_id: int, today: date) -> list[dict]:
    """The store's leaderboard as `actor` may see it: a guide only her own row (with her rank)."""
    rows = leaderboard(follow_ups=FollowUp.objects.filter(store_id=store_id), today=today)
    for row in rows:
        row["of"] = len(rows)
    if actor.role == Staff.Role.GUIDE:
        return [row for row in rows if row["guide_id"] == actor.pk]
    return rows
