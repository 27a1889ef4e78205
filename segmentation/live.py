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

import numpy as np
from django.conf import settings
from django.utils import timezone

from customers.models import CustomerLabels
from segmentation import rules, selectors
from segmentation.models import LabelChange, RelabelRun
from segmentation.switch import CHANGE_GROUPS

# The row's values the nightly run computes (rules.OUTPUT_COLUMNS, monetary in the row's unit),
# and the two that mark it live. The remark names wait for the night (their key then tells the
# run to rebuild them).
WRITTEN = [
    "monetary" if column == "monetary_cents" else column
    for column in rules.OUTPUT_COLUMNS
    if column not in ("customer_id", "recency_days")
] + ["is_opinion_leader", "labels_key", "live_since"]


GROUPS = [str(group) for group in CHANGE_GROUPS]

# The last succeeded run this process read (id, run, thresholds): every sale needs its
# thresholds, and the run's id, read with the locked rows, says when a new night replaced it.
_last_run: tuple[int, RelabelRun, rules.Thresholds] | None = None


def _run_of(run_id: int | None) -> tuple[RelabelRun | None, rules.Thresholds | None]:
    """The run `run_id` and its thresholds, read once per process and run (None: no run yet)."""
    global _last_run
    if run_id is None:
        return None, None
    if _last_run is None or _last_run[0] != run_id:
        run = RelabelRun.objects.get(pk=run_id)
        _last_run = (run_id, run, rules.Thresholds.from_json(run.thresholds))
    return _last_run[1], _last_run[2]


def forget_last_run(sender, **kwargs) -> None:
    """A RelabelRun was saved or deleted here: read the last run again on the next sale."""
    global _last_run
    _last_run = None


def _day(instant: datetime | None) -> float:
    """The local day number of an instant (NaN for none)."""
    return np.nan if instant is None else rules.day_number(timezone.localdate(instant))


def _cents(amount: Decimal | None) -> int:
    return 0 if amount is None else int(amount * 100)


def relabel_fans(*, customer_ids: Iterable[int], now: datetime) -> int:
    """Recompute the labels rows of `customer_ids` for the local date of `now`; returns how many.

    Called inside the writer's transaction (`customers.signals.orders_recorded`): the fans'
    labels rows are locked first, so of two concurrent sales of one fan the second reads the
    first's order. Nothing happens before the first nightly run (there are no thresholds yet).
    Five queries for one fan or a batch: the run, the locked rows, the aggregates, two writes.
    """
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return 0
    old, run_id = selectors.lock_labels_rows(ids, groups=GROUPS)
    run, thresholds = _run_of(run_id)
    if thresholds is None:
        return 0
    as_of = max(timezone.localdate(now), run.as_of)
    fans = selectors.live_aggregates(customer_ids=ids, as_of=as_of)
    window_start = rules.day_number(as_of) - (rules.WINDOW_DAYS - 1)
    last_day = np.array([_day(f["last_sale_at"]) for f in fans], dtype="float64")
    codes = rules.label_codes(
        ids=np.array([f["pk"] for f in fans], dtype="int64"),
        leader=np.array([f["is_opinion_leader"] for f in fans], dtype=bool),
        lifetime=np.array([f["lifetime_sales"] for f in fans], dtype="int64"),
        frequency=np.array([f["frequency"] for f in fans], dtype="int64"),
        sales=np.array([_cents(f["window_sales"]) for f in fans], dtype="int64"),
        refunds=np.array([_cents(f["window_refunds"]) for f in fans], dtype="int64"),
        last_day=last_day,
        win_first=np.array([_day(f["window_first_sale_at"]) for f in fans], dtype="float64"),
        win_last=np.where(last_day >= window_start, last_day, np.nan),
        as_of_day=rules.day_number(as_of),
        red_floor=rules.cents(settings.APPLE_RED_MIN_SPEND),
        thresholds=thresholds,
    )
    rows, changes = [], []
    for i, fan in enumerate(fans):
        row = CustomerLabels(
            customer_id=fan["pk"],
            frequency=fan["frequency"],
            monetary=Decimal(int(codes.monetary[i])) / 100,
            lifetime_sales=fan["lifetime_sales"],
            first_sale=fan["first_sale_at"] and timezone.localdate(fan["first_sale_at"]),
            last_sale=fan["last_sale_at"] and timezone.localdate(fan["last_sale_at"]),
            window_first_sale=fan["window_first_sale_at"]
            and timezone.localdate(fan["window_first_sale_at"]),
            window_sales_cents=_cents(fan["window_sales"]),
            window_refund_cents=_cents(fan["window_refunds"]),
            **{group: codes.label(group, i) for group in rules.CATEGORIES},
            is_opinion_leader=fan["is_opinion_leader"],
            labels_key=None,  # not the nightly run's values: the next run rewrites the row
            live_since=now,
        )
        rows.append(row)
        before = old.get(fan["pk"])
        changes += [
            LabelChange(
                run=run,
                customer_id=fan["pk"],
                group=group,
                from_code=before[group],
                to_code=getattr(row, group),
            )
            for group in GROUPS
            if before is not None and before[group] != getattr(row, group)
        ]
    CustomerLabels.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["customer"], update_fields=WRITTEN
    )
    LabelChange.objects.bulk_create(changes)
    return len(rows)


def relabel_fans_of_orders(sender, *, customer_ids, now, **kwargs) -> None:
    """`customers.signals.orders_recorded`'s receiver: a till's sale or batch is relabelled
    live; a bulk write of more than LIVE_RELABEL_MAX_FANS fans (an import) waits for the night."""
    if len(customer_ids) <= settings.LIVE_RELABEL_MAX_FANS:
        relabel_fans(customer_ids=customer_ids, now=now)
