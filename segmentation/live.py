"""Live labels: a fan's labels recomputed in the transaction of her sale (issue 16).

Between two nightly runs a sale, a refund or a late upload moves the fan at once: her aggregates
are read again from her own orders (an index range per fan), and she is classified for today
against the last run's brand-wide thresholds (`rules.Thresholds`: the R/F/M means and the
membership cut-offs of that night's population). The next nightly run recomputes the thresholds
and every fan as SPEC §3 says; it can differ from the live labels only where the thresholds
moved (docs/labels.md, "Intraday").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import pandas as pd
from django.utils import timezone

from customers.models import CustomerLabels
from segmentation import rules, selectors
from segmentation.job import Timer
from segmentation.models import LabelChange
from segmentation.services import compute_labels

WRITTEN = [
    "frequency",
    "monetary",
    "lifetime_sales",
    "first_sale",
    "last_sale",
    "window_first_sale",
    "window_sales_cents",
    "window_refund_cents",
    "apple",
    "rfm_segment",
    "r_stage",
    "membership",
    "rhythm",
    "remark_key",
    "remark_store_account",
    "remark_personal_account",
    "labels_key",
    "live_since",
]
CHANGE_GROUPS = ["apple", "rfm_segment", "r_stage"]


def _date(value):
    return None if pd.isna(value) else pd.Timestamp(value).date()


def relabel_fans(*, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute the labels rows of `customer_ids` for the local date of `now`; returns how many.

    Called inside the writer's transaction (`customers.signals.orders_recorded`): the fans'
    labels rows are locked first, so of two concurrent sales of one fan the second reads the
    first's order. Nothing happens before the first nightly run (there are no thresholds yet).
    Set-based: the same few queries for one fan or a batch of them.
    """
    ids = sorted({int(i) for i in customer_ids})
    run = selectors.last_run()
    thresholds = rules.Thresholds.from_json(run.thresholds) if run else None
    if not ids or thresholds is None:
        return 0
    as_of = max(timezone.localdate(now), run.as_of)
    old = {
        row.customer_id: row
        for row in CustomerLabels.objects.select_for_update()
        .filter(customer_id__in=ids)
        .order_by("customer_id")
        .only("customer_id", *CHANGE_GROUPS, "remark_store_account", "remark_personal_account")
    }
    inputs = selectors.combine(
        selectors.fan_rows(customer_ids=ids),
        selectors.buyer_aggregates(as_of=as_of, customer_ids=ids),
    )
    labels = compute_labels(
        as_of=as_of, inputs=inputs, store_ids=None, timer=Timer(), thresholds=thresholds
    )
    rows, changes = [], []
    for fan in labels.itertuples(index=False):
        before = old.get(fan.customer_id)
        row = CustomerLabels(
            customer_id=fan.customer_id,
            frequency=int(fan.frequency),
            monetary=Decimal(int(fan.monetary_cents)) / 100,
            lifetime_sales=int(fan.lifetime_sales),
            first_sale=_date(fan.first_sale),
            last_sale=_date(fan.last_sale),
            window_first_sale=_date(fan.window_first_sale),
            window_sales_cents=int(fan.window_sales_cents),
            window_refund_cents=int(fan.window_refund_cents),
            apple=fan.apple,
            rfm_segment=fan.rfm_segment,
            r_stage=fan.r_stage,
            membership=fan.membership,
            rhythm=fan.rhythm,
            remark_key=int(fan.remark_key),
            remark_store_account=fan.remark_store_account,
            remark_personal_account=fan.remark_personal_account,
            labels_key=None,  # not the nightly run's values: the next run rewrites the row
            live_since=now,
        )
        if before is not None:
            if not fan.remarks_recomputed:
                row.remark_store_account = before.remark_store_account
                row.remark_personal_account = before.remark_personal_account
            changes += [
                LabelChange(
                    run=run,
                    customer_id=fan.customer_id,
                    group=group,
                    from_code=getattr(before, group),
                    to_code=getattr(row, group),
                )
                for group in CHANGE_GROUPS
                if getattr(before, group) != getattr(row, group)
            ]
        rows.append(row)
    CustomerLabels.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["customer"], update_fields=WRITTEN
    )
    LabelChange.objects.bulk_create(changes)
    return len(rows)


def relabel_fans_of_orders(sender, *, customer_ids, now, **kwargs) -> None:
    """`customers.signals.orders_recorded`'s receiver."""
    relabel_fans(customer_ids=customer_ids, now=now)
