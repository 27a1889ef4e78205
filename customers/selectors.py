"""Store scoping: every read for a guide, a manager or a POS starts from one of these.

An actor is a `Staff` (guide/manager: their store; HQ: every store) or a `PosDevice`
(exactly its token's store). Anything outside the scope is simply not in the queryset, so a
lookup of another store's object is a 404, never a 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from django.db.models import QuerySet

from customers.models import Customer, CustomerLabels, Order, Staff, Store
from customers.phones import mask_phone

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


def owns(actor: Actor, customer: Customer) -> bool:
    """Whether the actor's store owns the fan (her home store; HQ owns every fan). A fan is a
    member of the brand, so other stores meet her at the till, but only as her `member_card`."""
    return store_id_scope(actor) in (None, customer.store_id)


def brand_member(phone: str) -> Customer | None:
    """The brand's fan with this (normalised) phone, whichever store owns her. Answer a caller
    who does not `own` her with her `member_card` only."""
    return Customer.objects.select_related("labels", "prediction").filter(phone=phone).first()


def member_card(customer: Customer) -> dict:
    """What any store of the brand may know of a member at the till (SPEC §8, brand-wide
    members): a masked name and phone and her membership tier; never her id, tags or profile."""
    try:
        membership = customer.labels.membership or None
    except CustomerLabels.DoesNotExist:  # registered since the last relabel
        membership = None
    return {
        "name_masked": mask_name(customer.name),
        "phone_masked": mask_phone(customer.phone),
        "membership": membership,
    }


def mask_name(name: str) -> str:
    """The first character and a star for each other one, three at most: 张** (as receipts
    print a member)."""
    return name[:1] + "*" * min(len(name) - 1, 3) if name else ""


def orders_visible_to(actor: Actor) -> QuerySet[Order]:
    return _scoped(Order.objects.all(), actor)


def staff_visible_to(actor: Actor) -> QuerySet[Staff]:
    return _scoped(Staff.objects.all(), actor)


def staff_of(user) -> Staff | None:
    """The active staff profile of a signed-in user, or None (e.g. a superuser without one)."""
    staff = getattr(user, "staff", None) if getattr(user, "is_authenticated", False) else None
    return staff if staff is not None and staff.is_active else None
