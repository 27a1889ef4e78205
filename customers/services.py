"""Writes for fans, orders and staff: one function per use case.

- `register_customer`: a new fan (member card) at a store; a duplicate phone raises `CustomerExists`.
- `update_customer`: a profile change by staff, validated field by field.
- `record_order`: an idempotent sale or refund from a POS, the API, a batch or the CSV import.
- `deactivate_staff`: a leaving guide; their tokens and sessions die with the profile.

The order rules (`parse_order_in`) and the fan rules (`clean_customer_fields`) are pure
functions shared by the API serializers, the batch endpoint and the CSV importers, so the POS, the
API and the spreadsheets are held to one set of rules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Order, OrderItem, Staff, Store
from customers.phones import mask_phone, normalize_phone

logger = logging.getLogger(__name__)

MAX_AMOUNT = Decimal("1000000")
MAX_FUTURE = timedelta(minutes=5)
_DECIMAL_TEXT = re.compile(r"-?\d+(?:\.\d+)?")


# --- Errors ------------------------------------------------------------------------------------


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


# --- Fans --------------------------------------------------------------------------------------

PROFILE_TEXT_FIELDS = {
    "name": 50,
    "city": 50,
    "consumption_notes": 2000,
    "body_shape": 30,
    "skin_tone": 30,
    "top_size": 10,
    "bottom_size": 10,
    "shoe_size": 10,
    "favourite_colours": 100,
    "notes": 4000,
    "wechat_id": 64,
    "wechat_remark": 64,
}
BIRTHDAY_FIELDS = (
    "birth_calendar",
    "birth_year",
    "birth_month",
    "birth_day",
    "birth_is_leap_month",
)


def _fact_labels(customer: Customer) -> dict[str, str]:
    """Zodiac, birthday month and distance of a fan (tagging's rules)."""
    from customers.facts import fact_labels_for

    return fact_labels_for(customer)


def _apply_fact_labels(customer: Customer) -> None:
    for key, value in _fact_labels(customer).items():
        setattr(customer, key, value or "")


def _validate_birthday(values: dict[str, Any]) -> dict[str, list[str]]:
    """Errors of a birthday (`birth_*` fields), by tagging's rule (lunar dates via lunardate)."""
    from customers.facts import validate_birthday

    try:
        validate_birthday(
            calendar=values.get("birth_calendar") or "",
            year=values.get("birth_year"),
            month=values.get("birth_month"),
            day=values.get("birth_day"),
            is_leap_month=bool(values.get("birth_is_leap_month")),
        )
    except ValidationError as exc:
        return exc.message_dict
    return {}


def _as_int(value: Any, key: str, errors: dict[str, list[str]]) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        errors.setdefault(key, []).append(str(_("Enter a whole number.")))
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        errors.setdefault(key, []).append(str(_("Enter a whole number.")))
        return None
    return number


def _as_decimal(value: Any, key: str, errors: dict[str, list[str]]) -> Decimal | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not _DECIMAL_TEXT.fullmatch(text):
        errors.setdefault(key, []).append(str(_("Enter a number.")))
        return None
    return Decimal(text)


def _as_bool(value: Any, key: str, errors: dict[str, list[str]]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no", ""):
        return False
    errors.setdefault(key, []).append(str(_("Enter true or false (1 or 0).")))
    return False


def _as_date(value: Any, key: str, errors: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        errors.setdefault(key, []).append(str(_("Enter a date as YYYY-MM-DD.")))
        return None


def clean_customer_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate fan fields given as JSON or CSV text; return model values or raise ValidationError.

    Accepts model field names, plus `birthday` as `{calendar, year, month, day, is_leap_month}`
    (or null to clear it). Keys not given are not returned. Errors are keyed by field name.
    """
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    data = dict(raw)
    if "birthday" in data:
        birthday = data.pop("birthday")
        if birthday is None:
            data.update(birth_calendar="", birth_year=None, birth_month=None, birth_day=None)
            data["birth_is_leap_month"] = False
        elif isinstance(birthday, Mapping):
            unknown = set(birthday) - {"calendar", "year", "month", "day", "is_leap_month"}
            if unknown:
                errors["birthday"] = [
                    str(
                        _("Unknown birthday keys: %(keys)s.") % {"keys": ", ".join(sorted(unknown))}
                    )
                ]
            data["birth_calendar"] = birthday.get("calendar") or ""
            data["birth_year"] = birthday.get("year")
            data["birth_month"] = birthday.get("month")
            data["birth_day"] = birthday.get("day")
            data["birth_is_leap_month"] = birthday.get("is_leap_month") or False
        else:
            errors["birthday"] = [str(_("Give the birthday as an object or null."))]
    for key, value in data.items():
        if key in PROFILE_TEXT_FIELDS:
            if value is None:
                value = ""
            if not isinstance(value, str):
                errors.setdefault(key, []).append(str(_("Enter text.")))
                continue
            value = value.strip()
            if len(value) > PROFILE_TEXT_FIELDS[key]:
                errors.setdefault(key, []).append(
                    str(_("Use at most %(n)d characters.") % {"n": PROFILE_TEXT_FIELDS[key]})
                )
                continue
            if key == "name" and not value:
                errors.setdefault(key, []).append(str(_("The name cannot be empty.")))
                continue
            out[key] = value
        elif key == "phone":
            try:
                out["phone"] = normalize_phone(value)
            except ValidationError as exc:
                errors["phone"] = exc.messages
        elif key == "gender":
            value = value or ""
            if value not in ("", *Customer.Gender.values):
                errors["gender"] = [str(_("The gender must be f, m or empty."))]
            else:
                out["gender"] = value
        elif key in ("birth_year", "birth_month", "birth_day", "height_cm"):
            out[key] = _as_int(value, key, errors)
        elif key in ("latitude", "longitude", "weight_kg"):
            out[key] = _as_decimal(value, key, errors)
        elif key in ("birth_is_leap_month", "is_opinion_leader", "do_not_contact"):
            out[key] = _as_bool(value, key, errors)
        elif key == "birth_calendar":
            out[key] = value or ""
        elif key == "member_since":
            out[key] = _as_date(value, key, errors)
        elif key in ("guide", "referrer", "store"):
            out[key] = value  # resolved by the caller (objects, not text)
        else:
            errors.setdefault(key, []).append(str(_("This field cannot be changed.")))
    if "height_cm" in out and out["height_cm"] is not None and not 50 <= out["height_cm"] <= 250:
        errors["height_cm"] = [str(_("Enter a height between 50 and 250 cm."))]
    if "weight_kg" in out and out["weight_kg"] is not None:
        weight = out["weight_kg"]
        if not Decimal(20) <= weight <= Decimal(300) or weight.as_tuple().exponent < -1:
            errors["weight_kg"] = [str(_("Enter a weight between 20 and 300 kg with one decimal."))]
    for key, bound in (("latitude", 90), ("longitude", 180)):
        value = out.get(key)
        if value is not None and (not -bound <= value <= bound or value.as_tuple().exponent < -6):
            errors[key] = [
                str(
                    _("Enter a coordinate between -%(b)d and %(b)d (6 decimals at most).")
                    % {"b": bound}
                )
            ]
    if errors:
        raise ValidationError(errors)
    return out


def _check_coordinates_pair(customer: Customer) -> dict[str, list[str]]:
    if (customer.latitude is None) != (customer.longitude is None):
        return {"latitude": [str(_("Give both latitude and longitude, or neither."))]}
    return {}


def _starting_apple(customer: Customer) -> str:
    from fanops.vocabulary import Apple

    return Apple.GOLDEN if customer.is_opinion_leader else Apple.BLOSSOM


@transaction.atomic
def register_customer(
    *,
    store: Store,
    phone: str,
    name: str = "",
    guide: Staff | None = None,
    by: Staff | None = None,
    **fields,
) -> Customer:
    """Register a fan at `store`. Raises `CustomerExists` when the phone is taken (even concurrently).

    Fact labels are computed at once, and the fan gets a labels row (golden for an opinion
    leader, else blossom) so lists show them before the next relabel.
    """
    from customers.models import CustomerLabels

    values = clean_customer_fields({"phone": phone, **fields})
    values["name"] = _text(name, "name", errors := {}, max_length=50)
    if errors:
        raise ValidationError(errors)
    if guide is not None and (guide.store_id != store.pk or not guide.is_active):
        raise ValidationError({"guide": [str(_("The guide does not work at this store."))]})
    existing = Customer.objects.filter(phone=values["phone"]).first()
    if existing is not None:
        raise CustomerExists(existing)
    customer = Customer(store=store, guide=guide, **values)
    errors = {**_validate_birthday(vars(customer)), **_check_coordinates_pair(customer)}
    if errors:
        raise ValidationError(errors)
    _apply_fact_labels(customer)
    try:
        with transaction.atomic():  # savepoint: a concurrent registration meets the unique phone
            customer.save(force_insert=True)
    except IntegrityError:
        existing = Customer.objects.filter(phone=values["phone"]).first()
        if existing is None:
            raise
        raise CustomerExists(existing) from None
    CustomerLabels.objects.create(customer=customer, apple=_starting_apple(customer))
    logger.info("registered fan %s at %s", customer.pk, store.code)
    return customer


def _apple_from_metrics(labels) -> str:
    """SPEC §3 apple from the last relabel's metrics (used when the opinion-leader mark changes)."""
    from fanops.vocabulary import Apple

    if labels.customer.is_opinion_leader:
        return Apple.GOLDEN
    if not labels.lifetime_sales:
        return Apple.BLOSSOM
    if labels.frequency >= 2 and labels.monetary >= settings.APPLE_RED_MIN_SPEND:
        return Apple.RED
    if labels.frequency >= 2:
        return Apple.YELLOW
    return Apple.GREEN


def can_mark_opinion_leader(by: Staff | None) -> bool:
    return by is not None and by.role in (Staff.Role.MANAGER, Staff.Role.HQ)


@transaction.atomic
def update_customer(*, customer: Customer, changes: dict, by: Staff | None) -> Customer:
    """Apply a profile change. Raises ValidationError keyed by field; nothing is saved then.

    `is_opinion_leader` may change only by a manager or HQ (then the apple follows at once).
    Fact labels (zodiac, birthday month, distance) are recomputed.
    """
    from customers.models import CustomerLabels

    values = clean_customer_fields(changes)
    errors: dict[str, list[str]] = {}
    leader_changes = (
        values.get("is_opinion_leader", customer.is_opinion_leader) != customer.is_opinion_leader
    )
    if leader_changes and not can_mark_opinion_leader(by):
        errors["is_opinion_leader"] = [
            str(_("Only a store manager or HQ can mark an opinion leader."))
        ]
    if "store" in values:
        errors["store"] = [str(_("A fan's store changes by a guide transfer, not here."))]
    guide = values.pop("guide", customer.guide) if "guide" in values else customer.guide
    if (
        "guide" in changes
        and guide is not None
        and (guide.store_id != customer.store_id or not guide.is_active)
    ):
        errors["guide"] = [str(_("The guide does not work at this store."))]
    if (
        "referrer" in values
        and values["referrer"] is not None
        and values["referrer"].pk == customer.pk
    ):
        errors["referrer"] = [str(_("A fan cannot refer herself."))]
    if (
        "phone" in values
        and Customer.objects.filter(phone=values["phone"]).exclude(pk=customer.pk).exists()
    ):
        errors["phone"] = [str(_("Another fan has this phone number."))]
    if errors:
        raise ValidationError(errors)
    was_leader = customer.is_opinion_leader
    for key, value in values.items():
        setattr(customer, key, value)
    customer.guide = guide
    errors = {**_validate_birthday(vars(customer)), **_check_coordinates_pair(customer)}
    if errors:
        customer.refresh_from_db()
        raise ValidationError(errors)
    _apply_fact_labels(customer)
    customer.save()
    if customer.is_opinion_leader != was_leader:
        labels, _created = CustomerLabels.objects.select_related("customer").get_or_create(
            customer=customer
        )
        labels.customer = customer
        labels.apple = _apple_from_metrics(labels)
        labels.save(update_fields=["apple"])
    return customer


# --- Orders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemIn:
    sku: str
    name: str = ""
    category: str = ""
    quantity: int = 1
    unit_price: Decimal = Decimal("0.00")
    is_new_arrival: bool = False

    def key(self) -> tuple:
        return (
            self.sku,
            self.name,
            self.category,
            self.quantity,
            self.unit_price,
            self.is_new_arrival,
        )


@dataclass(frozen=True)
class OrderIn:
    """A validated order as it came in (from JSON or a CSV row), before the store is applied."""

    external_id: str
    phone: str
    paid_at: datetime
    amount: Decimal
    name: str = ""
    store_code: str = ""
    guide: str = ""  # work number
    kind: str = Order.Kind.SALE
    refund_of: str = ""
    payment_method: str = Order.PaymentMethod.OTHER
    items: tuple[ItemIn, ...] = field(default_factory=tuple)
    has_items: bool = False  # items given (CSV rows never carry items)

    def matches(self, order: Order) -> bool:
        """Is `order` what this body describes? (A replay, not a reused external id.)"""
        if (
            order.customer.phone != self.phone
            or order.amount != self.amount
            or order.paid_at != self.paid_at
            or order.kind != self.kind
            or order.payment_method != self.payment_method
            or (order.guide.work_number if order.guide_id else "") != self.guide
            or (order.refund_of.external_id if order.refund_of_id else "") != self.refund_of
        ):
            return False
        if self.has_items:
            stored = sorted(
                (i.sku, i.name, i.category, i.quantity, i.unit_price, i.is_new_arrival)
                for i in order.items.all()
            )
            return stored == sorted(item.key() for item in self.items)
        return True


def _text(value: Any, key: str, errors: dict, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.setdefault(key, []).append(str(_("Enter text.")))
        return ""
    value = value.strip()
    if required and not value:
        errors.setdefault(key, []).append(str(_("This field is required.")))
    elif len(value) > max_length:
        errors.setdefault(key, []).append(
            str(_("Use at most %(n)d characters.") % {"n": max_length})
        )
    return value


def parse_money(
    value: Any, key: str, errors: dict, *, maximum: Decimal = MAX_AMOUNT
) -> Decimal | None:
    """A decimal string (or JSON number) with at most two places, 0 ≤ value ≤ maximum."""
    if value is None or value == "":
        errors.setdefault(key, []).append(str(_("This field is required.")))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.setdefault(key, []).append(
            str(_('Enter the amount as a decimal string, e.g. "599.00".'))
        )
        return None
    text = str(value).strip() if not isinstance(value, float) else repr(value)
    if not _DECIMAL_TEXT.fullmatch(text):
        errors.setdefault(key, []).append(
            str(_('Enter the amount as a decimal string, e.g. "599.00".'))
        )
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already excludes it
        errors.setdefault(key, []).append(str(_("Enter a number.")))
        return None
    if amount.as_tuple().exponent < -2:
        errors.setdefault(key, []).append(str(_("Use at most 2 decimal places.")))
        return None
    if amount < 0:
        errors.setdefault(key, []).append(str(_("The amount cannot be negative.")))
        return None
    if amount > maximum:
        errors.setdefault(key, []).append(
            str(_("The amount cannot exceed %(max)s.") % {"max": f"{maximum:,}"})
        )
        return None
    return amount.quantize(Decimal("0.01"))


def parse_paid_at(value: Any, key: str, errors: dict, *, now: datetime) -> datetime | None:
    """ISO 8601 with an offset (or Z), not more than 5 minutes in the future."""
    if value is None or value == "":
        errors.setdefault(key, []).append(str(_("This field is required.")))
        return None
    if not isinstance(value, str):
        errors.setdefault(key, []).append(str(_("Enter the time as ISO 8601 with an offset.")))
        return None
    try:
        paid_at = datetime.fromisoformat(value.strip())
    except ValueError:
        errors.setdefault(key, []).append(
            str(_("Enter the time as ISO 8601 with an offset, e.g. 2026-01-15T14:30:00+08:00."))
        )
        return None
    if paid_at.tzinfo is None or paid_at.utcoffset() is None:
        errors.setdefault(key, []).append(str(_("Give the time with its UTC offset, e.g. +08:00.")))
        return None
    if paid_at.year < 1990:
        errors.setdefault(key, []).append(str(_("The time is too far in the past.")))
        return None
    if paid_at > now + MAX_FUTURE:
        errors.setdefault(key, []).append(
            str(_("The time cannot be more than 5 minutes in the future."))
        )
        return None
    return paid_at


def _parse_items(value: Any, errors: dict) -> tuple[ItemIn, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.setdefault("items", []).append(str(_("Give the items as a list.")))
        return ()
    if len(value) > 200:
        errors.setdefault("items", []).append(str(_("At most 200 items per order.")))
        return ()
    items = []
    for n, raw in enumerate(value):
        prefix = f"items[{n}]"
        if not isinstance(raw, Mapping):
            errors.setdefault(prefix, []).append(str(_("Give each item as an object.")))
            continue
        unknown = set(raw) - {"sku", "name", "category", "quantity", "unit_price", "is_new_arrival"}
        if unknown:
            errors.setdefault(prefix, []).append(
                str(_("Unknown fields: %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
            )
        sku = _text(raw.get("sku"), f"{prefix}.sku", errors, max_length=64, required=True)
        name = _text(raw.get("name"), f"{prefix}.name", errors, max_length=200)
        category = _text(raw.get("category"), f"{prefix}.category", errors, max_length=50)
        quantity = raw.get("quantity", 1)
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 1 <= quantity <= 100_000
        ):
            errors.setdefault(f"{prefix}.quantity", []).append(
                str(_("Enter a whole number of at least 1."))
            )
            quantity = 1
        unit_price = parse_money(raw.get("unit_price", "0.00"), f"{prefix}.unit_price", errors)
        is_new = raw.get("is_new_arrival", False)
        if not isinstance(is_new, bool):
            errors.setdefault(f"{prefix}.is_new_arrival", []).append(str(_("Enter true or false.")))
            is_new = False
        items.append(ItemIn(sku, name, category, quantity, unit_price or Decimal("0.00"), is_new))
    return tuple(items)


ORDER_FIELDS = {
    "external_id", "store", "customer", "guide", "paid_at", "amount", "kind", "refund_of",
    "payment_method", "items",
}  # fmt: skip


def parse_order_in(raw: Any, *, now: datetime | None = None) -> OrderIn:
    """SPEC §5's order body rules, shared by `POST /orders/`, the batch and `import_orders`.

    Raises ValidationError keyed by field (`customer.phone`, `items[0].quantity` for nested ones).
    Store and guide codes are only shape-checked here; `record_order` resolves them.
    """
    now = now or timezone.now()
    if not isinstance(raw, Mapping):
        raise ValidationError({"detail": [str(_("Send the order as a JSON object."))]})
    errors: dict[str, list[str]] = {}
    unknown = set(raw) - ORDER_FIELDS
    if unknown:
        errors["detail"] = [
            str(_("Unknown fields: %(keys)s.") % {"keys": ", ".join(sorted(map(str, unknown)))})
        ]
    if raw.get("external_id") is None:
        errors["external_id"] = [str(_("This field is required."))]
        external_id = ""
    else:
        external_id = _text(
            raw.get("external_id"), "external_id", errors, max_length=64, required=True
        )
    store_code = _text(raw.get("store"), "store", errors, max_length=16)
    guide = _text(raw.get("guide"), "guide", errors, max_length=32)
    phone, name = "", ""
    customer = raw.get("customer")
    if customer is None:
        errors["customer"] = [str(_("This field is required."))]
    elif not isinstance(customer, Mapping):
        errors["customer"] = [str(_('Give the customer as {"phone", "name"}.'))]
    else:
        extra = set(customer) - {"phone", "name"}
        if extra:
            errors["customer"] = [
                str(_("Unknown fields: %(keys)s.") % {"keys": ", ".join(sorted(map(str, extra)))})
            ]
        raw_phone = customer.get("phone")
        if raw_phone in (None, ""):
            errors["customer.phone"] = [str(_("This field is required."))]
        elif not isinstance(raw_phone, str | int) or isinstance(raw_phone, bool):
            errors["customer.phone"] = [
                str(_("Enter a mainland mobile number: 11 digits starting with 1."))
            ]
        else:
            try:
                phone = normalize_phone(str(raw_phone))
            except ValidationError as exc:
                errors["customer.phone"] = exc.messages
        name = _text(customer.get("name"), "customer.name", errors, max_length=50)
    paid_at = parse_paid_at(raw.get("paid_at"), "paid_at", errors, now=now)
    amount = parse_money(raw.get("amount"), "amount", errors)
    kind = raw.get("kind") or Order.Kind.SALE
    if kind not in Order.Kind.values:
        errors["kind"] = [str(_("The kind must be sale or refund."))]
    refund_of = _text(raw.get("refund_of"), "refund_of", errors, max_length=64)
    if refund_of and kind != Order.Kind.REFUND:
        errors["refund_of"] = [str(_("Only a refund refers to a sale."))]
    payment_method = raw.get("payment_method") or Order.PaymentMethod.OTHER
    if payment_method not in Order.PaymentMethod.values:
        errors["payment_method"] = [
            str(
                _("The payment method must be one of: %(m)s.")
                % {"m": ", ".join(Order.PaymentMethod.values)}
            )
        ]
    items = _parse_items(raw.get("items"), errors)
    if errors:
        raise ValidationError(errors)
    return OrderIn(
        external_id=external_id, phone=phone, name=name, paid_at=paid_at, amount=amount,
        store_code=store_code, guide=guide, kind=kind, refund_of=refund_of,
        payment_method=payment_method, items=items, has_items="items" in raw,
    )  # fmt: skip


def resolve_order_store(*, actor, code: str) -> Store:
    """The store an order is for: a POS token's own; staff name one of the stores they see.

    An unknown code and another store's code are answered alike (400 on `store`), so a
    caller cannot learn which codes exist elsewhere.
    """
    from customers.selectors import store_id_scope, stores_visible_to

    scope = store_id_scope(actor)
    if not code:
        if scope is None:
            raise ValidationError({"store": [str(_("This field is required."))]})
        return stores_visible_to(actor).get(pk=scope)
    store = stores_visible_to(actor).filter(code=code, is_active=True).first()
    if store is None:
        raise ValidationError({"store": [str(_("Unknown store code, or not one of yours."))]})
    return store


def _guide_of(store: Store, work_number: str) -> Staff | None:
    if not work_number:
        return None
    guide = Staff.objects.filter(work_number=work_number, store=store, is_active=True).first()
    if guide is None:
        raise ValidationError(
            {"guide": [str(_("No active guide with this work number at this store."))]}
        )
    return guide


def _existing_order(store: Store, external_id: str) -> Order | None:
    return (
        Order.objects.select_related("customer", "guide", "refund_of")
        .filter(store=store, external_id=external_id)
        .first()
    )


def _replay(existing: Order, order_in: OrderIn) -> tuple[Order, bool]:
    if not order_in.matches(existing):
        raise OrderConflict(existing)
    return existing, False


def _customer_for_order(*, store: Store, order_in: OrderIn, guide: Staff | None) -> Customer:
    customer = Customer.objects.filter(phone=order_in.phone).first()
    if customer is not None:
        return customer
    try:
        return register_customer(store=store, phone=order_in.phone, name=order_in.name, guide=guide)
    except CustomerExists as exc:  # registered concurrently by another request
        return exc.customer


def _check_refund(*, store: Store, customer: Customer, order_in: OrderIn) -> Order | None:
    if order_in.kind != Order.Kind.REFUND or not order_in.refund_of:
        return None
    sale = (
        Order.objects.select_for_update()
        .filter(
            store=store, external_id=order_in.refund_of, kind=Order.Kind.SALE, customer=customer
        )
        .first()
    )
    if sale is None:
        raise ValidationError(
            {"refund_of": [str(_("No sale with this external id for this fan at this store."))]}
        )
    refunded = sale.refunds.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    if refunded + order_in.amount > sale.amount:
        raise ValidationError(
            {
                "amount": [
                    str(
                        _("Refunds cannot exceed the sale (%(left)s left to refund).")
                        % {"left": sale.amount - refunded}
                    )
                ]
            }
        )
    return sale


def record_order(
    *, store: Store, order_in: OrderIn, channel: str = Order.Channel.POS
) -> tuple[Order, bool]:
    """Record a sale or refund at `store`. Returns (order, created).

    Idempotent per (store, external_id): a replay of the same body returns the stored order
    (created False); a different body raises `OrderConflict`. Concurrent duplicates meet the
    database's unique constraint inside a savepoint, so exactly one order is written. A new
    phone registers the fan at `store` in the same transaction. Refunds lock their sale so
    concurrent refunds cannot exceed it.
    """
    existing = _existing_order(store, order_in.external_id)
    if existing is not None:
        return _replay(existing, order_in)
    with transaction.atomic():
        guide = _guide_of(store, order_in.guide)
        customer = _customer_for_order(store=store, order_in=order_in, guide=guide)
        sale = _check_refund(store=store, customer=customer, order_in=order_in)
        order = Order(
            store=store, customer=customer, guide=guide, external_id=order_in.external_id,
            kind=order_in.kind, refund_of=sale, amount=order_in.amount, paid_at=order_in.paid_at,
            payment_method=order_in.payment_method, channel=channel,
        )  # fmt: skip
        try:
            with (
                transaction.atomic()
            ):  # savepoint: a concurrent duplicate hits the unique constraint
                order.save(force_insert=True)
        except IntegrityError:
            existing = _existing_order(store, order_in.external_id)
            if existing is None:
                raise
            return _replay(existing, order_in)
        if order_in.items:
            OrderItem.objects.bulk_create(
                OrderItem(order=order, **{k: getattr(i, k) for k in ItemIn.__dataclass_fields__})
                for i in order_in.items
            )
    logger.info("recorded %s %s at %s for fan %s", order.kind, order.pk, store.code, customer.pk)
    return order, True


# --- Staff -------------------------------------------------------------------------------------


def revoke_credentials(user) -> int:
    """Delete a user's API tokens and every session signed in as them. Returns sessions ended."""
    from django.contrib.sessions.models import Session
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
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
