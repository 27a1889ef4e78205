"""Guide transfers: a store manager hands fans from one guide to another.

- `transfer_customers`: move fans to another guide of the same store, recorded as `GuideTransfer`
  rows. WeChat Work lets a fan move between two working guides at most twice in 90 days; the
  fans of a leaving (inactive) guide can always be moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from customers.models import Customer, GuideTransfer, Staff
from customers.signals import customers_transferred

WORKING_MOVES_LIMIT = 2
WORKING_MOVES_WINDOW = timedelta(days=90)


def _chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@transaction.atomic
def transfer_customers(
    *,
    customers: QuerySet[Customer] | Iterable[Customer | int],
    to_guide: Staff,
    by: Staff,
    now: datetime,
) -> int:
    """Move `customers` to `to_guide`; returns how many fans changed guide.

    All or nothing: raises ValidationError (keyed `to_guide` or `customers`) and writes nothing
    when the target is not an active guide of the fans' store, when `by` may not manage that
    store, or when a fan of a working guide was already moved twice in the last 90 days between
    working guides. Fans already with `to_guide` are left alone.
    """
    if not to_guide.is_active or to_guide.role == Staff.Role.HQ or to_guide.store_id is None:
        raise ValidationError({"to_guide": [_("Choose an active guide of the store.")]})
    if not by.is_hq and by.store_id != to_guide.store_id:
        raise ValidationError({"to_guide": [_("Choose a guide of your own store.")]})
    if isinstance(customers, QuerySet):
        selected = Customer.objects.filter(pk__in=customers.values("pk"))
    else:
        selected = Customer.objects.filter(
            pk__in=[c if isinstance(c, int) else c.pk for c in customers]
        )
    # Lock the rows: two managers moving the same fans at once must not both pass the 90-day rule.
    rows = list(
        selected.select_for_update(of=("self",))
        .exclude(guide=to_guide)
        .order_by("pk")
        .values_list("pk", "store_id", "guide_id", "guide__is_active")
    )
    if any(store_id != to_guide.store_id for _pk, store_id, _g, _a in rows):
        raise ValidationError(
            {"to_guide": [_("Fans can only move to a guide of their own store.")]}
        )
    if not rows:
        return 0
    working = [pk for pk, _store, guide_id, active in rows if guide_id is not None and active]
    too_often: list[int] = []
    for chunk in _chunks(working):
        too_often += list(
            GuideTransfer.objects.filter(
                customer_id__in=chunk,
                moved_at__gt=now - WORKING_MOVES_WINDOW,
                from_guide__isnull=False,
                from_guide_was_leaving=False,
            )
            .values("customer_id")
            .annotate(moves=Count("id"))
            .filter(moves__gte=WORKING_MOVES_LIMIT)
            .values_list("customer_id", flat=True)[:6]
        )
    if too_often:
        names = list(Customer.objects.filter(pk__in=too_often[:5]).values_list("name", flat=True))
        raise ValidationError(
            {
                "customers": [
                    _(
                        "Already moved twice in 90 days between working guides: %(names)s. "
                        "Leave them out or wait."
                    )
                    % {"names": "、".join(names) + ("…" if len(too_often) > 5 else "")}
                ]
            }
        )
    moved = [pk for pk, *_rest in rows]
    for chunk in _chunks(moved):
        Customer.objects.filter(pk__in=chunk).update(guide=to_guide, updated_at=now)
    GuideTransfer.objects.bulk_create(
        [
            GuideTransfer(
                customer_id=pk,
                from_guide_id=guide_id,
                to_guide=to_guide,
                moved_by=by,
                moved_at=now,
                from_guide_was_leaving=guide_id is not None and not active,
            )
            for pk, _store, guide_id, active in rows
        ],
        batch_size=1000,
    )
    customers_transferred.send(sender=Customer, customer_ids=moved, to_guide=to_guide)
    return len(moved)
