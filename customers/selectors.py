"""Store scoping: every read for a guide, a manager or a POS starts from one of these.

An actor is a `Staff` (guide/manager: their store; HQ: every store) or a `PosDevice`
(exactly its token's store). Anything outside the scope is simply not in the queryset, so a
lookup of another store's object is a 404, never a 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from django.db.models import QuerySet

from customers.models import Customer, Order, Staff, Store

if TYPE_CHECKING:
    from customers.auth import PosDevice

Actor = Union[Staff, "PosDevice"]


def store_id_scope(actor: Actor) -> int | None:
    """The one store the actor is bound to, or None for HQ (all stores)."""
    if isinstance(actor, Staff):
        return None if actor.is_hq else actor.store_id
    return actor.token.store_id


def _scoped(queryset: QuerySet, actor: Actor, field: str = "store_id") -> QuerySet:
    store_id = store_id_scope(actor)
    return queryset if store_id is None else queryset.filter(**{field: store_id})


def stores_visible_to(actor: Actor) -> QuerySet[Store]:
    return _scoped(Store.objects.all(), actor, "pk")


def customers_visible_to(actor: Actor) -> QuerySet[Customer]:
    """Fans of the actor's store (HQ: all fans)."""
    return _scoped(Customer.objects.all(), actor)


def orders_visible_to(actor: Actor) -> QuerySet[Order]:
    return _scoped(Order.objects.all(), actor)


def staff_visible_to(actor: Actor) -> QuerySet[Staff]:
    return _scoped(Staff.objects.all(), actor)


def staff_of(user) -> Staff | None:
    """The active staff profile of a signed-in user, or None (e.g. a superuser without one)."""
    staff = getattr(user, "staff", None) if getattr(user, "is_authenticated", False) else None
    return staff if staff is not None and staff.is_active else None
