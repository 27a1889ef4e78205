"""Store scoping: every read for a guide, a manager or a POS starts from one of these.

An actor is a `Staff` (guide/manager: their store; HQ: every store) or a `PosDevice`
(exactly its token's store). Anything outside the scope is simply not in the queryset, so a
lookup of another store's object is a 404, never a 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Union

from django.db import connection, models
from django.db.models import QuerySet

from customers.models import (
    Customer,
    CustomerLabels,
    CustomerPrediction,
    Order,
    PosToken,
    Staff,
    Store,
)
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


def brand_member(phone: str, *, related: Sequence[str] = ("labels",)) -> Customer | None:
    """The brand's fan with this (normalised) phone, whichever store owns her (`related` read
    along). Answer a caller who does not `own` her with her `member_card` only."""
    return Customer.objects.select_related(*related).filter(phone=phone).first()


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


def _select_list(model: type[models.Model], alias: str) -> tuple[list[str], str]:
    """A model's attnames and the SQL select list of its concrete columns under `alias`."""
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    return [f.attname for f in fields], ", ".join(f"{alias}.{quote(f.column)}" for f in fields)


@cache
def _pos_token_sql() -> tuple[list[str], list[str], str]:
    token_names, token_columns = _select_list(PosToken, "t")
    store_names, store_columns = _select_list(Store, "s")
    sql = (
        f"SELECT {token_columns}, {store_columns} FROM {PosToken._meta.db_table} t"
        f" JOIN {Store._meta.db_table} s ON s.id = t.store_id WHERE t.key_hash = %s"
    )
    return token_names, store_names, sql


def pos_token_by_hash(key_hash: str) -> PosToken | None:
    """The POS token with this key hash, its store loaded: one precompiled query.

    Every POS request asks this first; the ORM's compilation of the same query cost more than
    the query itself. Revocation stays immediate (nothing is cached between requests)."""
    if connection.vendor != "postgresql":  # raw rows there are text (no converters applied)
        return PosToken.objects.select_related("store").filter(key_hash=key_hash).first()
    token_names, store_names, sql = _pos_token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token = PosToken.from_db(connection.alias, token_names, row[: len(token_names)])
    token.store = Store.from_db(connection.alias, store_names, row[len(token_names) :])
    return token


def prediction_of(customer: Customer) -> CustomerPrediction | None:
    """The fan's forecast row (select it along: `prediction`), or None: no sale yet, or no
    model fitted yet."""
    try:
        return customer.prediction
    except CustomerPrediction.DoesNotExist:
        return None


LIVE_LABEL_FIELDS = ("apple", "rfm_segment", "r_stage", "membership", "live_since")


def live_labels(customer_id: int) -> dict | None:
    """A fan's labels as the order answer carries them (`LIVE_LABEL_FIELDS`), or None."""
    return CustomerLabels.objects.filter(customer_id=customer_id).values(*LIVE_LABEL_FIELDS).first()
