"""Writes for orders, fans, stores and staff: one set-based path per write, whatever the door.

- `record_orders`: sales and refunds, many at once. `POST /orders/` is a batch of one, the batch
  endpoint and `import_orders` (chunks of 5,000, COPY on PostgreSQL) call it as they are, and so
  does the admin. Idempotency, the guide check, the registration of a new phone, the refund cap:
  here and nowhere else.
- `register_customers`: new fans (the API, the check-in page, the admin, `import_customers`).
- `update_customers`: profile changes (PATCH, the fan edit page, the admin, `import_customers`).
- `register_customer` / `update_customer`: the one-fan forms of the two above.
- `save_store`, `save_staff`, `deactivate_staff`: onboarding files and the admin.

Input arrives validated, as the data objects of `customers.schemas`. Every fan write ends in
`_settle_labels`: her fact labels (zodiac, birthday month, distance) and, when she is new or her
opinion-leader mark changed, her apple (`apple_between_relabels`) — so an opinion leader is golden
at once, whichever door marked her. Rule violations are Django `ValidationError`s keyed by field;
a row that fails writes nothing, the others of its call are written.

`actor` says who writes: a `Staff` or a POS (`customers.auth.PosDevice`) is held to the stores it
sees; `SYSTEM` is a trusted door (an import command, the Django admin, a shell) that sees every
store and may do everything.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from customers.auth import revoke_staff_tokens
from customers.facts import refresh_fact_labels
from customers.models import Customer, CustomerLabels, Order, OrderItem, Staff, Store
from customers.phones import mask_phone
from customers.schemas import (
    KEEP,
    FanIn,
    FanRegistrationSchema,
    FanSchema,
    OrderIn,
    StaffIn,
    StoreIn,
    validate_input,
)
from customers.selectors import (
    customers_visible_to,
    staff_visible_to,
    store_id_scope,
    stores_visible_to,
)
from customers.signals import orders_recorded
from fanops.vocabulary import Apple

logger = logging.getLogger(__name__)

COPY_FROM_ROWS = 200  # below this, a multi-row INSERT (ids returned) beats COPY + a lookup


class SystemActor:
    """A trusted door (an import command, the Django admin, a shell): every store, every right."""

    def __repr__(self) -> str:
        return "SYSTEM"


SYSTEM = SystemActor()


def _stores_of(actor) -> QuerySet[Store]:
    return Store.objects.all() if actor is SYSTEM else stores_visible_to(actor)


def _staff_of(actor) -> QuerySet[Staff]:
    return Staff.objects.all() if actor is SYSTEM else staff_visible_to(actor)


def _fans_of(actor) -> QuerySet[Customer]:
    return Customer.objects.all() if actor is SYSTEM else customers_visible_to(actor)


def _home_store_id(actor) -> int | None:
    """The store an actor bound to one store writes for when none is named (HQ, SYSTEM: none)."""
    return None if actor is SYSTEM else store_id_scope(actor)


def can_mark_opinion_leader(actor) -> bool:
    """Managers, HQ and the trusted doors mark opinion leaders; guides and POS devices do not."""
    return actor is SYSTEM or (
        isinstance(actor, Staff) and actor.role in (Staff.Role.MANAGER, Staff.Role.HQ)
    )


# --- errors --------------------------------------------------------------------------------------


class CustomerExists(Exception):
    """A fan with this phone is already registered (the API answers 409 with its id)."""

    def __init__(self, customer: Customer):
        super().__init__(f"customer {customer.pk} already has phone {mask_phone(customer.phone)}")
        self.customer = customer


class OrderConflict(Exception):
    """The external id was already used for a different order at this store (409)."""

    def __init__(self, order: Order):
        super().__init__(f"order {order.pk} already uses external id {order.external_id!r}")
        self.order = order


def _error(key: str, message: str) -> ValidationError:
    return ValidationError({key: [message]})


def unknown_store_error() -> ValidationError:
    """An unknown code and another store's are answered alike: a caller learns no codes."""
    return _error("store", _("Unknown store code, or not one of yours."))


def unknown_guide_error() -> ValidationError:
    return _error("guide", _("No active guide with this work number at this store."))


def conflict_message() -> str:
    return _("This external_id was already used for a different order.")


# --- bulk inserts --------------------------------------------------------------------------------


def _insert_dicts(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int] | None:
    """Insert `rows` (attname → value; the model's defaults fill the rest) in one statement.

    PostgreSQL and many rows: COPY, no ids back (None). Else a multi-row INSERT; the new ids.
    Raises IntegrityError when a row breaks a constraint (nothing is inserted then).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql" or len(rows) < COPY_FROM_ROWS:
        objs = model.objects.bulk_create(model(**row) for row in rows)
        return [obj.pk for obj in objs]
    now = timezone.now()
    fields = [
        f
        for f in model._meta.concrete_fields
        if not (f.primary_key and isinstance(f, models.AutoField))
    ]
    defaults = [
        now
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        else f.get_default()
        for f in fields
    ]
    names = [f.attname for f in fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([row.get(n, d) for n, d in zip(names, defaults, strict=True)] for row in rows)
    buffer.seek(0)
    # In COPY's CSV an unquoted empty field is NULL; in a NOT NULL text column it is ''.
    quote = connection.ops.quote_name
    texts = ", ".join(quote(f.column) for f in fields if f.empty_strings_allowed and not f.null)
    options = f"FORMAT csv, FORCE_NOT_NULL ({texts})" if texts else "FORMAT csv"
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN WITH ({options})"
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)
    return None


# --- labels: the one place for what every fan write leaves right --------------------------------


def apple_between_relabels(
    *,
    is_opinion_leader: bool,
    lifetime_sales: int = 0,
    frequency: int = 0,
    monetary: Decimal | int = 0,
) -> str:
    """SPEC §3's apple from a fan's last relabelled metrics: golden for an opinion leader, else
    blossom without a sale, red / yellow for repeat buyers, green.

    Applied when a fan is registered or her opinion-leader mark changes (at once, whatever the
    door); the nightly relabel recomputes every apple from fresh metrics."""
    if is_opinion_leader:
        return Apple.GOLDEN
    if not lifetime_sales:
        return Apple.BLOSSOM
    if frequency >= 2 and monetary >= settings.APPLE_RED_MIN_SPEND:
        return Apple.RED
    if frequency >= 2:
        return Apple.YELLOW
    return Apple.GREEN


def _settle_labels(
    *,
    written: Iterable[int],
    new: Iterable[int] = (),
    leaders: Iterable[int] = (),
    new_leaders: Iterable[int] | None = None,
):
    """After fans were written: fact labels of every `written` fan (set-based), a labels row for
    each `new` one, and the apple of the new ones and of those whose leader mark changed.

    `new_leaders`: which of the `new` fans are opinion leaders, when the caller knows it (and no
    mark changed): a fan inserted a moment ago has no labels row, so nothing needs reading."""
    written, new = list(written), set(new)
    recompute = new | set(leaders)
    if recompute:
        if new_leaders is not None and not leaders:
            rows, leader_ids = {}, set(new_leaders)
        else:
            rows = {
                labels.customer_id: labels
                for labels in CustomerLabels.objects.filter(customer_id__in=recompute)
            }
            leader_ids = set(
                Customer.objects.filter(pk__in=recompute, is_opinion_leader=True).values_list(
                    "pk", flat=True
                )
            )
        create, change = [], []
        for customer_id in recompute:
            labels = rows.get(customer_id)
            metrics = (
                {}
                if labels is None
                else {
                    "lifetime_sales": labels.lifetime_sales,
                    "frequency": labels.frequency,
                    "monetary": labels.monetary,
                }
            )
            apple = apple_between_relabels(is_opinion_leader=customer_id in leader_ids, **metrics)
            if labels is None:
                create.append({"customer_id": customer_id, "apple": apple})
            elif labels.apple != apple:
                labels.apple, labels.labels_key = apple, None  # a write outside the relabel
                change.append(labels)
        _insert_dicts(CustomerLabels, create)
        CustomerLabels.objects.bulk_update(change, ["apple", "labels_key"], batch_size=2000)
    if written:
        refresh_fact_labels(customer_ids=written)


# --- fans ----------------------------------------------------------------------------------------


@dataclass
class FanResult:
    """What became of one fan of a call: written, unchanged, refused (`error`), or a
    registration of a phone that is already a fan's (`existing`)."""

    customer_id: int | None = None
    outcome: str = ""  # "created", "updated", "unchanged"
    error: ValidationError | None = None
    existing: Customer | None = None


@dataclass
class _NewFan:
    """A fan to insert: model values and resolved references."""

    phone: str
    values: dict[str, Any]
    store_id: int
    guide_id: int | None = None
    referrer_id: int | None = None


def _create_fans(new: Sequence[_NewFan]) -> tuple[dict[str, int], dict[str, Customer]]:
    """Insert fans (phone → id of each created) and report phones someone else took meanwhile
    (phone → that fan). The labels are the caller's to settle."""
    if not new:
        return {}, {}
    rows = [
        {
            **fan.values,
            "phone": fan.phone,
            "store_id": fan.store_id,
            "guide_id": fan.guide_id,
            "referrer_id": fan.referrer_id,
        }
        for fan in new
    ]
    try:
        with transaction.atomic():  # savepoint: a concurrent registration meets the unique phone
            ids = _insert_dicts(Customer, rows)
    except IntegrityError:
        if len(new) == 1:
            existing = Customer.objects.filter(phone=new[0].phone).first()
            if existing is None:
                raise
            return {}, {existing.phone: existing}
        created, taken = {}, {}
        for fan in new:
            one_created, one_taken = _create_fans([fan])
            created.update(one_created)
            taken.update(one_taken)
        return created, taken
    if ids is None:
        phones = [fan.phone for fan in new]
        return dict(Customer.objects.filter(phone__in=phones).values_list("phone", "pk")), {}
    return {fan.phone: pk for fan, pk in zip(new, ids, strict=True)}, {}


def _guides_by_number(numbers: Iterable[str], actor) -> dict[str, tuple[int, int | None]]:
    """Active staff by work number → (id, store id), among those the actor sees (one query)."""
    numbers = {n for n in numbers if n}
    if not numbers:
        return {}
    return {
        number: (pk, store_id)
        for number, pk, store_id in _staff_of(actor)
        .filter(work_number__in=numbers, is_active=True)
        .values_list("work_number", "pk", "store_id")
    }


def _stores_by_code(codes: Iterable[str], actor) -> dict[str, int]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return dict(_stores_of(actor).filter(code__in=codes, is_active=True).values_list("code", "pk"))


def _referrers(fans: Sequence[FanIn], actor, *, also: Iterable[str] = ()) -> tuple[set, set]:
    """Fan ids (visible to the actor) and phones (any fan, or one of `also`) that may refer."""
    ids = {f.referrer for f in fans if f.referrer not in (KEEP, None)}
    phones = {f.referrer_phone for f in fans if f.referrer_phone not in (KEEP, None, "")}
    known_ids = (
        set(_fans_of(actor).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    )
    known_phones = set(also) & phones
    if phones - known_phones:
        known_phones |= set(
            Customer.objects.filter(phone__in=phones - known_phones).values_list("phone", flat=True)
        )
    return known_ids, known_phones


def _reference_errors(fan: FanIn, ids: set, phones: set, *, self_id: int | None = None) -> dict:
    errors: dict[str, list[str]] = {}
    if fan.referrer not in (KEEP, None):
        if self_id is not None and fan.referrer == self_id:
            errors["referrer"] = [_("A fan cannot refer herself.")]
        elif fan.referrer not in ids:
            errors["referrer"] = [_("Unknown fan.")]
    if fan.referrer_phone not in (KEEP, None, "") and fan.referrer_phone not in phones:
        errors["referrer_phone"] = [_("No fan with this phone.")]
    return errors


def _pair_error(latitude, longitude) -> dict:
    if (latitude is None) != (longitude is None):
        return {"latitude": [_("Give both latitude and longitude, or neither.")]}
    return {}


def _leader_error(fan: FanIn, current: bool, actor) -> dict:
    wanted = fan.values.get("is_opinion_leader", current)
    if wanted != current and not can_mark_opinion_leader(actor):
        return {"is_opinion_leader": [_("Only a store manager or HQ can mark an opinion leader.")]}
    return {}


def _link_referrer_phones(fans: Sequence[FanIn], results: Sequence[FanResult]) -> None:
    """Second pass of a call naming referrers by phone: every fan of the call exists by now."""
    wanted = {
        r.customer_id: f.referrer_phone
        for f, r in zip(fans, results, strict=True)
        if r.customer_id and r.error is None and f.referrer_phone is not KEEP
    }
    if not wanted:
        return
    phones = {p for p in wanted.values() if p}
    ids = dict(Customer.objects.filter(phone__in=phones).values_list("phone", "pk"))
    current = dict(Customer.objects.filter(pk__in=wanted).values_list("pk", "referrer_id"))
    changed = [
        Customer(pk=pk, referrer_id=ids.get(phone) if phone else None, updated_at=timezone.now())
        for pk, phone in wanted.items()
        if current.get(pk) != (ids.get(phone) if phone else None)
    ]
    Customer.objects.bulk_update(changed, ["referrer", "updated_at"], batch_size=2000)
    moved = {c.pk for c in changed}
    for result in results:
        if result.outcome == "unchanged" and result.customer_id in moved:
            result.outcome = "updated"


@transaction.atomic
def register_customers(*, fans: Sequence[FanIn], actor=SYSTEM) -> list[FanResult]:
    """Register new fans, each at her store (a code, else the actor's own store). Set-based.

    A phone that is already a fan's (in the database, earlier in the call, or registered
    concurrently) is refused with `existing` set: the API answers 409 with her id (another store:
    her member card). A guide
    registering a fan becomes her guide unless another is named. Each fan starts with a labels
    row (golden for an opinion leader, else blossom) and her fact labels, so lists show her
    before the next relabel.
    """
    results = [FanResult() for _ in fans]
    stores = _stores_by_code((f.store for f in fans), actor)
    guides = _guides_by_number((f.guide for f in fans if f.guide not in (KEEP, None)), actor)
    phones = [f.phone for f in fans]
    taken = {c.phone: c for c in Customer.objects.filter(phone__in=phones)}
    ref_ids, ref_phones = _referrers(fans, actor, also=phones)
    home = _home_store_id(actor)
    new: list[_NewFan] = []
    for fan, result in zip(fans, results, strict=True):
        errors: dict[str, list[str]] = {}
        store_id = stores.get(fan.store) if fan.store else home
        if store_id is None:
            errors.update(
                unknown_store_error().message_dict
                if fan.store
                else {"store": [_("This field is required.")]}
            )
        guide_id = None
        if fan.guide not in (KEEP, None):
            guide = guides.get(fan.guide)
            if guide is None or guide[1] != store_id:
                errors.update(unknown_guide_error().message_dict)
            else:
                guide_id = guide[0]
        elif (
            isinstance(actor, Staff)
            and actor.role == Staff.Role.GUIDE
            and actor.store_id == store_id
        ):
            guide_id = actor.pk
        errors.update(_reference_errors(fan, ref_ids, ref_phones))
        errors.update(_leader_error(fan, False, actor))
        errors.update(_pair_error(fan.values.get("latitude"), fan.values.get("longitude")))
        if errors:
            result.error = ValidationError(errors)
            continue
        if fan.phone in taken:
            result.existing = taken[fan.phone]
            continue
        values = {k: v for k, v in fan.values.items() if k != "phone"}
        referrer = fan.referrer if fan.referrer not in (KEEP, None) else None
        new.append(_NewFan(fan.phone, values, store_id, guide_id, referrer))
        taken[fan.phone] = Customer(phone=fan.phone)  # a second row of the call is a repeat
    created, lost = _create_fans(new)
    for fan, result in zip(fans, results, strict=True):
        if result.error is not None or result.existing is not None:
            if result.existing is not None and result.existing.pk is None:
                result.existing = None  # repeated within the call: refused like a taken phone
                result.error = _error("phone", _("Another fan has this phone number."))
            continue
        if fan.phone in lost:
            result.existing = lost[fan.phone]
        else:
            result.customer_id, result.outcome = created[fan.phone], "created"
    _link_referrer_phones(fans, results)
    _settle_labels(written=created.values(), new=created.values())
    if created:
        logger.info("registered %s fans", len(created))
    return results


@transaction.atomic
def update_customers(*, changes: Sequence[tuple[Customer, FanIn]], actor=SYSTEM) -> list[FanResult]:
    """Apply profile changes to fans (set-based); each refused change leaves its fan untouched.

    Only what a change gives is written. `is_opinion_leader` changes only by a manager, HQ or a
    trusted door, and then the apple follows at once. A fan's store changes only through a
    trusted door (staff move fans by a guide transfer); a guide must work at the fan's store.
    """
    results = [FanResult(customer_id=c.pk) for c, _f in changes]
    fans = [f for _c, f in changes]
    guides = _guides_by_number((f.guide for f in fans if f.guide not in (KEEP, None)), actor)
    stores = _stores_by_code((f.store for f in fans), actor)
    new_phones = {f.phone: c.pk for c, f in changes if "phone" in f.values and f.phone != c.phone}
    phone_owners = dict(Customer.objects.filter(phone__in=new_phones).values_list("phone", "pk"))
    ref_ids, ref_phones = _referrers(fans, actor)
    now = timezone.now()
    touched: list[Customer] = []
    update_fields: set[str] = set()
    leaders: list[int] = []
    for (customer, fan), result in zip(changes, results, strict=True):
        errors: dict[str, list[str]] = {}
        values = dict(fan.values)
        if fan.store:
            if actor is not SYSTEM:
                errors["store"] = [_("A fan's store changes by a guide transfer, not here.")]
            elif fan.store not in stores:
                errors.update(unknown_store_error().message_dict)
            else:
                values["store_id"] = stores[fan.store]
        store_id = values.get("store_id", customer.store_id)
        if fan.guide is None:
            values["guide_id"] = None
        elif fan.guide is not KEEP:
            guide = guides.get(fan.guide)
            if guide is None or guide[1] != store_id:
                errors.update(unknown_guide_error().message_dict)
            else:
                values["guide_id"] = guide[0]
        if fan.referrer is not KEEP:
            values["referrer_id"] = fan.referrer
        errors.update(_reference_errors(fan, ref_ids, ref_phones, self_id=customer.pk))
        if phone_owners.get(values.get("phone"), customer.pk) != customer.pk:
            errors["phone"] = [_("Another fan has this phone number.")]
        errors.update(_leader_error(fan, customer.is_opinion_leader, actor))
        errors.update(
            _pair_error(
                values.get("latitude", customer.latitude),
                values.get("longitude", customer.longitude),
            )
        )
        if errors:
            result.error = ValidationError(errors)
            continue
        changed = {k: v for k, v in values.items() if getattr(customer, k) != v}
        if not changed:
            result.outcome = "unchanged"
            continue
        if "is_opinion_leader" in changed:
            leaders.append(customer.pk)
        for key, value in changed.items():
            setattr(customer, key, value)
        customer.updated_at = now
        update_fields.update(changed)
        touched.append(customer)
        result.outcome = "updated"
    if touched:
        fields = [Customer._meta.get_field(name).name for name in update_fields]
        Customer.objects.bulk_update(touched, [*fields, "updated_at"], batch_size=2000)
    _link_referrer_phones(fans, results)
    _settle_labels(written=[c.pk for c in touched], leaders=leaders)
    return results


def register_customer(
    *,
    store: Store,
    phone: str,
    name: str = "",
    guide: Staff | None = None,
    by: Staff | None = None,
    **fields: Any,
) -> Customer:
    """One fan registered at `store` (the check-in page, a shell): the schema's rules, then
    `register_customers`. Raises `CustomerExists` for a taken phone, else ValidationError."""
    data: dict[str, Any] = {"phone": phone, "name": name, "store": store.code, **fields}
    if guide is not None:
        data["guide"] = guide.work_number
    fan = validate_input(FanRegistrationSchema(), data)
    [result] = register_customers(fans=[fan], actor=by if by is not None else SYSTEM)
    if result.existing is not None:
        raise CustomerExists(result.existing)
    if result.error is not None:
        raise result.error
    return Customer.objects.get(pk=result.customer_id)


def update_customer(
    *, customer: Customer, changes: FanIn | Mapping[str, Any], by: Staff | None
) -> Customer:
    """One fan's profile change (the fan edit page, the API): `changes` validated by the fan
    schema unless it already was. Raises ValidationError keyed by field; nothing saved then."""
    fan = (
        changes if isinstance(changes, FanIn) else validate_input(FanSchema(partial=True), changes)
    )
    [result] = update_customers(changes=[(customer, fan)], actor=by if by is not None else SYSTEM)
    if result.error is not None:
        customer.refresh_from_db()
        raise result.error
    return customer


# --- orders --------------------------------------------------------------------------------------


@dataclass
class OrderResult:
    """What became of one order of a call (`status` as the API answers it)."""

    order_id: int | None = None
    created: bool = False
    error: ValidationError | None = None
    conflict: Order | None = None  # the order already using the external id
    registered: bool = False  # this order's phone became a new fan
    customer_id: int | None = None  # the fan of a written order
    customer_store_id: int | None = None  # her home store (another store's for a brand member)

    @property
    def status(self) -> int:
        if self.error is not None:
            return 400
        if self.conflict is not None:
            return 409
        return 201 if self.created else 200


@dataclass
class _Row:
    index: int
    order: OrderIn
    store_id: int | None = None
    guide_id: int | None = None
    customer_id: int | None = None
    refund_of_id: int | None = None
    result: OrderResult = field(default_factory=OrderResult)

    @property
    def key(self) -> tuple[int | None, str]:
        return self.store_id, self.order.external_id


def _stored_replay_keys(rows: Sequence[_Row]) -> dict[tuple, tuple[int, tuple, list | None]]:
    """Orders already stored under the rows' (store, external id): id, replay key, items."""
    by_store: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        by_store[row.store_id].append(row.order.external_id)
    found: dict[tuple, tuple[int, tuple, list | None]] = {}
    with_items: set[int] = set()
    wants_items = {row.key for row in rows if row.order.has_items}
    for store_id, external_ids in by_store.items():
        for pk, ext, phone, amount, paid_at, kind, method, guide, refund_of in Order.objects.filter(
            store_id=store_id, external_id__in=external_ids
        ).values_list(
            "pk",
            "external_id",
            "customer__phone",
            "amount",
            "paid_at",
            "kind",
            "payment_method",
            "guide__work_number",
            "refund_of__external_id",
        ):
            key = (phone, amount, paid_at, kind, method, guide or "", refund_of or "")
            found[(store_id, ext)] = (pk, key, None)
            if (store_id, ext) in wants_items:
                with_items.add(pk)
    if with_items:
        items: dict[int, list] = defaultdict(list)
        for item in OrderItem.objects.filter(order_id__in=with_items):
            items[item.order_id].append(
                (item.sku, item.name, item.category, item.quantity, item.unit_price,
                 item.is_new_arrival)
            )  # fmt: skip
        for key, (pk, replay_key, _none) in list(found.items()):
            if pk in with_items:
                found[key] = (pk, replay_key, sorted(items.get(pk, [])))
    return found


def _is_replay(order: OrderIn, stored: tuple[int, tuple, list | None]) -> bool:
    _pk, replay_key, items = stored
    if replay_key != order.replay_key():
        return False
    return not order.has_items or items == sorted(item.key() for item in order.items)


def _lock_sales(rows: Sequence[_Row]) -> dict[tuple[int, str], list]:
    """The sales the refunds point at, locked (concurrent refunds wait), with what was refunded:
    (store, external id) → [id, customer id, amount, refunded]."""
    wanted: dict[int, set[str]] = defaultdict(set)
    for row in rows:
        wanted[row.store_id].add(row.order.refund_of)
    sales: dict[tuple[int, str], list] = {}
    for store_id, external_ids in wanted.items():
        for pk, ext, customer_id, amount in (
            Order.objects.select_for_update()
            .filter(store_id=store_id, external_id__in=external_ids, kind=Order.Kind.SALE)
            .values_list("pk", "external_id", "customer_id", "amount")
        ):
            sales[(store_id, ext)] = [pk, customer_id, amount, Decimal(0)]
    by_id = {sale[0]: sale for sale in sales.values()}
    for sale_id, total in (
        Order.objects.filter(refund_of_id__in=by_id)
        .values("refund_of_id")
        .annotate(total=Sum("amount"))
        .values_list("refund_of_id", "total")
    ):
        by_id[sale_id][3] = total or Decimal(0)
    return sales


def _check_refunds(rows: Sequence[_Row]) -> list[_Row]:
    """Refunds within their sale (one fan's, at this store); the rows that pass."""
    sales = _lock_sales([r for r in rows if r.order.refund_of])
    ok = []
    for row in rows:
        if row.order.refund_of:
            sale = sales.get((row.store_id, row.order.refund_of))
            if sale is None or sale[1] != row.customer_id:
                row.result.error = _error(
                    "refund_of", _("No sale with this external id for this fan at this store.")
                )
                continue
            if sale[3] + row.order.amount > sale[2]:
                message = _("Refunds cannot exceed the sale (%(left)s left to refund).") % {
                    "left": sale[2] - sale[3]
                }
                row.result.error = _error("amount", message)
                continue
            sale[3] += row.order.amount
            row.refund_of_id = sale[0]
        ok.append(row)
    return ok


def _register_phones(rows: Sequence[_Row], known: dict[str, int], homes: dict[int, int]) -> None:
    """A phone that is not a fan's registers her at the order's store (guide and name of the
    first order naming her). `known` (phone → fan id) and `homes` (fan id → store id) gain the
    new fans."""
    new: dict[str, _NewFan] = {}
    for row in rows:
        phone = row.order.phone
        if phone not in known and phone not in new:
            values = {"name": row.order.name}
            new[phone] = _NewFan(phone, values, row.store_id, row.guide_id)
            row.result.registered = True
    created, lost = _create_fans(list(new.values()))
    if created:
        logger.info("registered %s fans from their orders", len(created))
    known.update(created)
    known.update((phone, customer.pk) for phone, customer in lost.items())
    homes.update((customer.pk, customer.store_id) for customer in lost.values())
    homes.update((created[phone], fan.store_id) for phone, fan in new.items() if phone in created)
    for row in rows:
        if row.result.registered and row.order.phone not in created:
            row.result.registered = False
    # A fan registered by her order has a phone and a name only: no opinion-leader mark, and
    # her fact labels (no birthday, city or coordinates) are the blank defaults.
    _settle_labels(written=(), new=created.values(), new_leaders=())


def _insert_orders(rows: Sequence[_Row], channel: str) -> None:
    if not rows:
        return
    ids = _insert_dicts(
        Order,
        [
            {
                "store_id": row.store_id, "customer_id": row.customer_id,
                "guide_id": row.guide_id, "external_id": row.order.external_id,
                "kind": row.order.kind, "refund_of_id": row.refund_of_id,
                "amount": row.order.amount, "paid_at": row.order.paid_at,
                "payment_method": row.order.payment_method, "channel": channel,
            }
            for row in rows
        ],
    )  # fmt: skip
    if ids is None:  # COPY: look the new ids up by (store, external id)
        by_store: dict[int, list[_Row]] = defaultdict(list)
        for row in rows:
            by_store[row.store_id].append(row)
        for store_id, store_rows in by_store.items():
            found = dict(
                Order.objects.filter(
                    store_id=store_id, external_id__in=[r.order.external_id for r in store_rows]
                ).values_list("external_id", "pk")
            )
            for row in store_rows:
                row.result.order_id = found[row.order.external_id]
    else:
        for row, pk in zip(rows, ids, strict=True):
            row.result.order_id = pk
    for row in rows:
        row.result.created = True
    items = [
        OrderItem(order_id=row.result.order_id, **vars(item))
        for row in rows
        for item in row.order.items
    ]
    OrderItem.objects.bulk_create(items, batch_size=2000)


def _write_orders(rows: Sequence[_Row], channel: str) -> None:
    """Write fresh rows (no order under their external id was seen): sales, their new fans,
    then the refunds checked against their sales. A row that meets a concurrent writer's
    external id (IntegrityError) is answered as a replay or a conflict."""
    try:
        with transaction.atomic():  # savepoint: a concurrent duplicate meets the unique key
            known, homes = {}, {}
            for phone, pk, store_id in Customer.objects.filter(
                phone__in={r.order.phone for r in rows}
            ).values_list("phone", "pk", "store_id"):
                known[phone], homes[pk] = pk, store_id
            sales = [r for r in rows if r.order.kind == Order.Kind.SALE]
            _register_phones(sales, known, homes)
            for row in sales:
                row.customer_id = known[row.order.phone]
            _insert_orders(sales, channel)
            refunds = [r for r in rows if r.order.kind == Order.Kind.REFUND]
            for row in refunds:
                row.customer_id = known.get(row.order.phone)
            refunds = _check_refunds(refunds)
            _register_phones([r for r in refunds if r.customer_id is None], known, homes)
            for row in refunds:
                row.customer_id = known[row.order.phone]
            _insert_orders(refunds, channel)
            for row in rows:
                if row.result.created:
                    row.result.customer_id = row.customer_id
                    row.result.customer_store_id = homes[row.customer_id]
    except IntegrityError:
        for row in rows:
            row.result = OrderResult()
        if len(rows) > 1:
            for row in rows:  # each on its own: the others of the chunk still go in
                _write_orders([row], channel)
            return
        [row] = rows
        stored = _stored_replay_keys(rows).get(row.key)
        if stored is None:
            raise
        _answer_stored(row, stored)


def _answer_stored(row: _Row, stored: tuple[int, tuple, list | None]) -> None:
    row.result.order_id = stored[0]
    if not _is_replay(row.order, stored):
        row.result.conflict = Order.objects.get(pk=stored[0])


def _resolve_refs(rows: Sequence[_Row], actor) -> None:
    """Each row's store (its code, else the actor's own) and guide (active, at that store)."""
    stores = _stores_by_code((r.order.store_code for r in rows), actor)
    guides = _guides_by_number((r.order.guide for r in rows), actor)
    home = _home_store_id(actor)
    for row in rows:
        code = row.order.store_code
        row.store_id = stores.get(code) if code else home
        if row.store_id is None:
            row.result.error = (
                unknown_store_error() if code else _error("store", _("This field is required."))
            )
            continue
        if row.order.guide:
            guide = guides.get(row.order.guide)
            if guide is None or guide[1] != row.store_id:
                row.result.error = unknown_guide_error()
                continue
            row.guide_id = guide[0]


@transaction.atomic
def record_orders(
    *, orders: Sequence[OrderIn], actor=SYSTEM, channel: str = Order.Channel.POS
) -> list[OrderResult]:
    """Record sales and refunds, each on its own: one result per order, in order. Set-based.

    Idempotent per (store, external id): an order stored with the same body is answered with
    the original (created False), another body is a conflict (409). A second order of the call
    with the same key is applied after the first, as if sent after it. Concurrent duplicates
    meet the database's unique key in a savepoint, so exactly one order is written. A new phone
    registers the fan at the order's store; a named guide must be active there. A refund locks
    its sale, so concurrent refunds never exceed it.
    """
    rows = [_Row(index, order) for index, order in enumerate(orders)]
    _resolve_refs(rows, actor)
    pending = [r for r in rows if r.result.error is None]
    while pending:
        seen: set[tuple] = set()
        first, later = [], []
        for row in pending:
            (later if row.key in seen else first).append(row)
            seen.add(row.key)
        stored = _stored_replay_keys(first)
        fresh = []
        for row in first:
            if row.key in stored:
                _answer_stored(row, stored[row.key])
            else:
                fresh.append(row)
        _write_orders(fresh, channel)
        pending = later
    results = [row.result for row in rows]
    moved = {row.customer_id for row in rows if row.result.created}
    if moved:
        orders_recorded.send(sender=Order, customer_ids=moved, now=timezone.now())
    created = sum(1 for r in results if r.created)
    if created:
        logger.info("recorded %s orders (%s new fans)", created, sum(r.registered for r in results))
    return results


def record_order(
    *, store: Store, order_in: OrderIn, channel: str = Order.Channel.POS
) -> tuple[Order, bool]:
    """One order at `store` (a shell, a script): `record_orders` with a batch of one.
    Returns (order, created); raises `OrderConflict` (409) or ValidationError (400)."""
    order_in = dataclasses.replace(order_in, store_code=store.code)
    [result] = record_orders(orders=[order_in], actor=SYSTEM, channel=channel)
    if result.error is not None:
        raise result.error
    if result.conflict is not None:
        raise OrderConflict(result.conflict)
    return Order.objects.get(pk=result.order_id), result.created


# --- stores and staff ----------------------------------------------------------------------------


BY_CODE: Any = object()  # save_store: the store with `store_in.code`, created when there is none


def save_store(*, store_in: StoreIn, store: Store | None = BY_CODE) -> tuple[Store, str]:
    """Write a store: (store, created/updated/unchanged).

    `import_stores` brings the store with the code in line (BY_CODE); the admin creates one
    (`store=None`: a code in use is an error) or changes the one it edits."""
    wanted = {
        "code": store_in.code,
        "name": store_in.name,
        "city": store_in.city,
        "address": store_in.address,
        "latitude": store_in.latitude,
        "longitude": store_in.longitude,
    }
    if store_in.is_active is not None:
        wanted["is_active"] = store_in.is_active
    if store is BY_CODE:
        store = Store.objects.filter(code=store_in.code).first()
    elif Store.objects.filter(code=store_in.code).exclude(pk=getattr(store, "pk", None)).exists():
        raise _error("code", _("A store with this code already exists."))
    if store is None:
        return Store.objects.create(**wanted), "created"
    if all(getattr(store, name) == value for name, value in wanted.items()):
        return store, "unchanged"
    for name, value in wanted.items():
        setattr(store, name, value)
    store.save()
    return store, "updated"


@dataclass
class StaffResult:
    staff: Staff
    outcome: str  # created / updated / unchanged
    new_user: bool = False  # the password given was set on a new user


def check_staff(staff_in: StaffIn) -> ValidationError | None:
    """What `save_staff` refuses: an unknown store, a work number of another user."""
    if staff_in.store and not Store.objects.filter(code=staff_in.store).exists():
        return _error("store", _('unknown store "%(code)s"') % {"code": staff_in.store})
    taken = (
        Staff.objects.filter(work_number=staff_in.work_number)
        .exclude(user__username=staff_in.username)
        .select_related("user")
        .first()
    )
    if taken is not None:
        message = _('"%(value)s" already belongs to %(username)s') % {
            "value": staff_in.work_number,
            "username": taken.user.username,
        }
        return _error("work_number", message)
    return None


@transaction.atomic
def save_staff(*, staff_in: StaffIn, password: str, by: Staff | None = None) -> StaffResult:
    """Create or update a staff member and their sign-in (`import_staff`, the admin).

    A new user gets `password`; an existing one keeps theirs. HQ may sign in to the Django
    admin. Switching a profile off goes through `deactivate_staff` (tokens and sessions end).
    Refused (ValidationError) as `check_staff` says.
    """
    error = check_staff(staff_in)
    if error is not None:
        raise error
    store = Store.objects.get(code=staff_in.store) if staff_in.store else None
    User = get_user_model()
    is_hq = staff_in.role == Staff.Role.HQ
    user = User.objects.filter(username=staff_in.username).first()
    outcome, new_user = "unchanged", False
    if user is None:
        user = User(username=staff_in.username, is_staff=is_hq, is_superuser=is_hq)
        user.set_password(password)
        user.save()
        outcome, new_user = "created", True
    elif is_hq and not user.is_staff:
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
        outcome = "updated"
    wanted = {
        "name": staff_in.name,
        "store": store,
        "role": staff_in.role,
        "work_number": staff_in.work_number,
        "abbreviation": staff_in.abbreviation,
    }
    staff = Staff.objects.filter(user=user).first()
    if staff is None:
        staff = Staff.objects.create(user=user, **wanted)
        outcome = "created" if outcome == "created" else "updated"
    elif not all(getattr(staff, name) == value for name, value in wanted.items()):
        for name, value in wanted.items():
            setattr(staff, name, value)
        staff.save()
        outcome = "updated" if outcome == "unchanged" else outcome
    if staff_in.is_active is False and staff.is_active:
        deactivate_staff(staff=staff, by=by)
        outcome = "updated" if outcome == "unchanged" else outcome
    elif staff_in.is_active and not staff.is_active:
        staff.is_active = True
        staff.save(update_fields=["is_active", "updated_at"])
        if not user.is_active:
            user.is_active = True
            user.save(update_fields=["is_active"])
        outcome = "updated" if outcome == "unchanged" else outcome
    return StaffResult(staff, outcome, new_user)


def revoke_credentials(user) -> int:
    """Delete a user's API tokens and every session signed in as them. Returns sessions ended."""
    Token.objects.filter(user=user).delete()  # DRF keys issued before staff tokens were hashed
    revoke_staff_tokens(user)
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ended.append(session.pk)
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


@transaction.atomic
def deactivate_staff(*, staff: Staff, by: Staff | None) -> Staff:
    """A staff member leaves: profile and sign-in off, tokens and sessions revoked at once."""
    staff.is_active = False
    staff.save(update_fields=["is_active", "updated_at"])
    user = staff.user
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    revoke_credentials(user)
    logger.info(
        "staff %s deactivated by %s", staff.work_number, getattr(by, "work_number", "system")
    )
    return staff
