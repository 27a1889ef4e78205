"""Builders for the follow-up tests: fans with labels, runs with label changes, the generator."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from customers.models import Customer, CustomerLabels, Staff, Store
from followups.models import FollowUp, FollowUpRule, Reason
from followups.services import generate_follow_ups
from segmentation.models import LabelChange, RelabelRun
from tests.factories import make_customer, make_order

AS_OF = date(2026, 6, 30)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(settings.TIME_ZONE))


def only(*reasons: str) -> None:
    """Switch every reason off but `reasons` (each test looks at one rule)."""
    FollowUpRule.objects.exclude(reason__in=reasons).update(is_enabled=False)
    FollowUpRule.objects.filter(reason__in=reasons).update(is_enabled=True)


def fan_with_labels(
    *,
    store: Store,
    guide: Staff | None = None,
    last_sale: date | None = None,
    window_first_sale: date | None = None,
    frequency: int = 0,
    rfm_segment: str = "",
    **fields,
) -> Customer:
    fan = make_customer(store=store, guide=guide, **fields)
    if last_sale is not None:  # the sale the labels row stands for
        make_order(customer=fan, paid_at=noon(last_sale))
    CustomerLabels.objects.create(
        customer=fan,
        last_sale=last_sale,
        first_sale=window_first_sale or last_sale,
        window_first_sale=window_first_sale or last_sale,
        frequency=frequency,
        lifetime_sales=frequency,
        rfm_segment=rfm_segment,
    )
    return fan


def run_with_changes(*changes: tuple[Customer, str, str, str], as_of: date = AS_OF) -> RelabelRun:
    """A succeeded run that moved (fan, group, from, to)."""
    run = RelabelRun.objects.create(
        as_of=as_of, status=RelabelRun.Status.SUCCEEDED, finished_at=noon(as_of)
    )
    LabelChange.objects.bulk_create(
        LabelChange(run=run, customer=fan, group=group, from_code=old, to_code=new)
        for fan, group, old, new in changes
    )
    return run


def generate(as_of: date = AS_OF) -> dict[str, int]:
    return generate_follow_ups(as_of=as_of, now=noon(as_of) - timedelta(hours=10))


def follow_ups(reason: str | None = None, **filters):
    rows = FollowUp.objects.filter(**filters)
    return rows.filter(reason=reason) if reason else rows


__all__ = ["AS_OF", "Reason"]
