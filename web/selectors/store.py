"""Reads behind the store dashboard, the HQ page and the HQ fan export.

Scoped through `customers.selectors`; the numbers come from `segmentation.selectors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from customers.models import Customer, GuideTransfer, Staff, Store
from customers.selectors import customers_visible_to, staff_visible_to, stores_visible_to
from fanops.vocabulary import Apple, Membership, RfmSegment, RStage
from followups.selectors import actionable, escalations, leaderboard_for
from segmentation.models import RelabelRun
from segmentation.selectors import (
    apple_quota_for_store,
    company_apple_quota,
    forecast_summary,
    repurchase_stats,
    segment_summary,
)
from tagging.models import TagGroup
from tagging.selectors import tags_by_customer
from web.selectors.common import manual_taxonomy
from web.selectors.fans import FanFilterOptions, FanFilters, filter_fans

RECENT_TRANSFERS = 10
RECENT_RUNS = 10
FAN_EXPORT_COLUMNS = [
    "id",
    "name",
    "phone",
    "store",
    "guide",
    "apple",
    "rfm_segment",
    "r_stage",
    "membership",
    "tags",
]
EXPORT_CHUNK = 2000


def _labelled(counts: dict, choices) -> list[dict]:
    return [
        {"code": value, "label": str(label), "n": counts.get(value, 0)} for value, label in choices
    ]


def _percent(part: int, whole: int) -> int:
    return min(100, round(100 * part / whole)) if whole else 100


# --- Store dashboard --------------------------------------------------------------------------


def store_staff(*, staff: Staff, store: Store) -> QuerySet[Staff]:
    """The store's guides and managers (who fans can move between)."""
    return staff_visible_to(staff).filter(store=store).exclude(role=Staff.Role.HQ)


def fans_to_move(
    *, staff: Staff, store: Store, from_guide: Staff, ids: list[int]
) -> QuerySet[Customer]:
    """The fans of `from_guide` in `store` (only `ids` among them when given)."""
    fans = customers_visible_to(staff).filter(store=store, guide=from_guide)
    return fans.filter(pk__in=ids) if ids else fans


@dataclass(frozen=True)
class DashboardPage:
    quota: dict
    tiers: list[dict]
    summary: dict
    segments: list[dict]
    stages: list[dict]
    memberships: list[dict]
    repurchase: dict
    repurchase_percent: float | None
    guides: list[Staff]  # with `fans` annotated
    transfers: list[GuideTransfer]
    chart: dict
    leaderboard: list[dict]  # follow-ups of the last 30 days per guide, by converted sales
    forecast: dict  # segmentation.selectors.forecast_summary of the store's fans
    escalations: list[dict]  # follow-ups open FOLLOW_UP_ESCALATION_DAYS past due, by guide


def _chart(tiers: list[dict], summary: dict) -> dict:
    return {
        "quota": {
            "labels": [t["label"] for t in tiers],
            "target": [t["target"] for t in tiers],
            "actual": [t["actual"] for t in tiers],
            "colors": {"target": "#9e9e9e", "actual": "#c0392b"},
            "names": {"target": _("target"), "actual": _("actual")},
        },
        "segments": {
            "labels": [str(label) for _v, label in RfmSegment.choices],
            "values": [summary["rfm_segment"].get(v, 0) for v, _l in RfmSegment.choices],
        },
        "stages": {
            "labels": [str(label) for _v, label in RStage.choices],
            "values": [summary["r_stage"].get(v, 0) for v, _l in RStage.choices],
        },
    }


def dashboard_page(*, staff: Staff, store: Store, today: date) -> DashboardPage:
    """The store's apple quota, segments, stages, repurchase, fans per guide, recent transfers,
    and the follow-ups: the guides' leaderboard and what is late."""
    fans = customers_visible_to(staff).filter(store=store)
    quota = apple_quota_for_store(store=store)
    apple_names = dict(Apple.choices)
    tiers = [
        {
            **tier,
            "label": str(apple_names.get(tier["apple"], tier["apple"])),
            "percent": _percent(tier["actual"], tier["target"]),
        }
        for tier in quota["tiers"]
    ]
    summary = segment_summary(customers=fans)
    repurchase = repurchase_stats(customers=fans)
    rate = repurchase["repurchase_rate"]
    guides = store_staff(staff=staff, store=store).annotate(
        fans=Count("customers", filter=Q(customers__store=store))
    )
    board = leaderboard_for(actor=staff, store_id=store.pk, today=today)
    forecast = forecast_summary(customers=fans)
    # Who moved whom and when (the 90-day rule counts these rows).
    transfers = (
        GuideTransfer.objects.filter(customer__in=fans)
        .select_related("customer", "from_guide", "to_guide", "moved_by")
        .order_by("-moved_at", "-id")
    )
    return DashboardPage(
        quota=quota,
        tiers=tiers,
        summary=summary,
        segments=_labelled(summary["rfm_segment"], RfmSegment.choices),
        stages=_labelled(summary["r_stage"], RStage.choices),
        memberships=_labelled(summary["membership"], Membership.choices),
        repurchase=repurchase,
        repurchase_percent=round(100 * rate, 1) if rate is not None else None,
        guides=list(guides.order_by("-is_active", "name")),
        transfers=list(transfers[:RECENT_TRANSFERS]),
        chart={
            **_chart(tiers, summary),
            "leaderboard": _leaderboard_chart(board),
            "at_risk": _at_risk_chart(forecast),
        },
        leaderboard=board,
        forecast=forecast,
        escalations=escalations(follow_ups=actionable(staff).filter(store=store), today=today),
    )


def _at_risk_chart(forecast: dict) -> dict | None:
    """Fans at risk and due soon per guide as bars; None when the model flags nobody."""
    rows = forecast["by_guide"]
    if not rows:
        return None
    return {
        "labels": [row["customer__guide__name"] or str(_("no guide")) for row in rows],
        "at_risk": [row["at_risk"] for row in rows],
        "due_soon": [row["due_soon"] for row in rows],
        "names": {"at_risk": _("at risk"), "due_soon": _("due soon")},
    }


def _leaderboard_chart(board: list[dict]) -> dict | None:
    """The guides' converted sales as bars; None until a follow-up converted (an empty chart)."""
    if not any(row["converted_sales"] for row in board):
        return None
    return {
        "labels": [row["guide__name"] for row in board],
        "values": [float(row["converted_sales"]) for row in board],
        "name": _("converted sales (yuan)"),
    }


# --- HQ ---------------------------------------------------------------------------------------


def fan_stats_by_store(*, staff: Staff) -> dict[int, dict]:
    """Per store id: fans, active, sleeping, pre-churn, churned and important-segment fans (1 query)."""
    rows = (
        customers_visible_to(staff)
        .values("store_id")
        .annotate(
            fans=Count("pk"),
            active=Count("pk", filter=Q(labels__r_stage=RStage.ACTIVE)),
            sleeping=Count("pk", filter=Q(labels__r_stage=RStage.SLEEPING)),
            pre_churn=Count("pk", filter=Q(labels__r_stage=RStage.PRE_CHURN)),
            churned=Count("pk", filter=Q(labels__r_stage=RStage.CHURNED)),
            important=Count("pk", filter=Q(labels__rfm_segment__startswith="important_")),
        )
        .order_by()
    )
    return {row["store_id"]: row for row in rows}


@dataclass(frozen=True)
class HqPage:
    company: dict
    tier_names: list[tuple[str, str]]
    company_tiers: list[dict]
    rows: list[dict]  # per active store: quota tiers, attainment, fan stats
    runs: list[RelabelRun]
    running: bool
    taxonomy: list[TagGroup]
    stores: list[Store]
    today: date  # the default `as of` of a relabel started here
    apple_choices: list = field(default_factory=lambda: Apple.choices)
    stage_choices: list = field(default_factory=lambda: RStage.choices)
    segment_choices: list = field(default_factory=lambda: RfmSegment.choices)


def _attainment(tiers: list[dict]) -> int | None:
    """Share of the quota met, each tier counted up to its target."""
    target = sum(t["target"] for t in tiers)
    met = sum(min(t["actual"], t["target"]) for t in tiers)
    return round(100 * met / target) if target else None


def hq_page(*, staff: Staff, today: date) -> HqPage:
    """All stores side by side (quota attainment, stages, segments), relabel runs, export choices."""
    company = company_apple_quota()
    apple_names = dict(Apple.choices)
    stats = fan_stats_by_store(staff=staff)
    stores = list(stores_visible_to(staff).filter(is_active=True).order_by("code"))
    store_ids = {s.code: s.pk for s in stores}
    runs = list(RelabelRun.objects.order_by("-started_at", "-id")[:RECENT_RUNS])
    return HqPage(
        company=company,
        tier_names=[
            (t["apple"], str(apple_names.get(t["apple"], t["apple"]))) for t in company["tiers"]
        ],
        company_tiers=[
            {**t, "label": str(apple_names.get(t["apple"], t["apple"]))} for t in company["tiers"]
        ],
        rows=[
            {
                **row,
                "attainment": _attainment(row["tiers"]),
                "stats": stats.get(store_ids.get(row["store"]), {}),
            }
            for row in company["stores"]
        ],
        runs=runs,
        running=any(r.status == RelabelRun.Status.RUNNING for r in runs),
        taxonomy=manual_taxonomy(),
        stores=stores,
        today=today,
    )


# --- HQ export --------------------------------------------------------------------------------


def export_filter_options() -> FanFilterOptions:
    """What the HQ export filters by besides apple, stage and segment: the manual tags."""
    return FanFilterOptions(taxonomy=manual_taxonomy())


def fan_export_rows(
    *, staff: Staff, filters: FanFilters, store_code: str = ""
) -> Iterator[list[object]]:
    """The filtered fans as rows of FAN_EXPORT_COLUMNS, by id (chunked: a constant number of
    queries per EXPORT_CHUNK fans, memory flat whatever the brand's size)."""
    queryset = customers_visible_to(staff)
    if store_code:
        queryset = queryset.filter(store__code=store_code)
    queryset = (
        filter_fans(queryset, staff=staff, filters=filters)
        .values_list(
            "id",
            "name",
            "phone",
            "store__code",
            "guide__work_number",
            "labels__apple",
            "labels__rfm_segment",
            "labels__r_stage",
            "labels__membership",
        )
        .order_by("id")
    )
    last_id = 0
    while True:
        chunk = list(queryset.filter(id__gt=last_id)[:EXPORT_CHUNK])
        if not chunk:
            return
        tags = tags_by_customer([row[0] for row in chunk])
        for row in chunk:
            yield [*("" if v is None else str(v) for v in row), " ".join(tags.get(row[0], []))]
        last_id = chunk[-1][0]
