"""Input schemas: one validation per thing written, whichever door it came through.

An order (with its fan and items), a fan (registration or profile change, birthday included), a
store and a staff member are each checked by one DRF serializer here, and nowhere else: by the API
(single and batch), the CSV imports, the pages' forms and the Django admin. Each schema returns a
frozen data object (`OrderIn`, `FanIn`, `StoreIn`, `StaffIn`) that the set-based services of
`customers.services` write. The OpenAPI schema (`/api/v1/schema/`) is generated from the same
serializers, so what is documented is what is checked.

Input is JSON-shaped. A door whose input is text (a CSV row, a form) maps it to the schema's dict
first, in one small function of its own (`order_row_input`, …), strings and all: the fields take
"599.00", "1"/"0"; an empty cell is "not given". `validate_input` runs a schema and answers the data
object or a Django `ValidationError` keyed by dotted field path (`customer.phone`,
`items[0].quantity`; a fan's birthday by its model fields, `birth_day`). Rules that need the
database (a guide at the store, a taken phone, a refund's sale) belong to the services.

A schema instance can be reused for many rows (`validate_input(schema, row)`): DRF binds its
fields once per instance, which is most of the cost of a serializer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
)
from django.utils import timezone
from django.utils.functional import cached_property, lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import SkipField, empty, get_error_detail
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from customers.facts import validate_birthday
from customers.models import Customer, Order, Staff
from customers.phones import normalize_phone

MAX_AMOUNT = Decimal("1000000")
MAX_FUTURE = timedelta(minutes=5)
MAX_ITEMS = 200
MAX_ID = 2**63 - 1  # BigAutoField
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


def _later(function) -> str:
    """A message built when shown (in the language of the moment), not at import."""
    return lazy(function, str)()


# --- running a schema ----------------------------------------------------------------------------


def flat_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as `{"customer.phone": [...], "items[0].quantity": [...]}`.

    Errors of a whole object (DRF's `non_field_errors`) are keyed by the object's path; at the
    top, by `detail` (SPEC §5's `{"detail": …}`).
    """
    out: dict[str, list[str]] = {}

    def add(key: str, messages: list[str]) -> None:
        out.setdefault(key or "detail", []).extend(messages)

    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if key == NON_FIELD:
                path = prefix
            elif isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for name, messages in flat_errors(value, path).items():
                add(name, messages)
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            add(prefix, [str(item) for item in detail])
        else:
            for index, item in enumerate(detail):
                if item:
                    for name, messages in flat_errors(item, f"{prefix}[{index}]").items():
                        add(name, messages)
    else:
        add(prefix, [str(detail)])
    return out


def validate_input(schema: serializers.Serializer, data: Any) -> Any:
    """Run `schema` (an instance; reuse it for many rows) on `data`: its data object, or a Django
    ValidationError keyed by dotted field path (renamed by the schema's `error_keys`)."""
    try:
        return schema.run_validation(data)
    except serializers.ValidationError as exc:
        errors = flat_errors(exc.detail)
    renames = getattr(schema, "error_keys", {})
    renamed: dict[str, list[str]] = {}
    for key, messages in errors.items():
        renamed.setdefault(renames.get(key, key), []).extend(messages)
    raise ValidationError(renamed)


# --- fields --------------------------------------------------------------------------------------


_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_TEXT_VALIDATORS = (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


class Text(serializers.CharField):
    """Text, trimmed; a string only (JSON must not send a number where text is meant)."""

    default_error_messages = {"invalid": _("Enter text."), "blank": _("This field is required.")}

    @cached_property
    def _plain(self) -> bool:
        """Only DRF's own checks apply (no other validator, no subclass parsing of its own)."""
        return (
            self.trim_whitespace
            and type(self).to_internal_value is Text.to_internal_value
            and all(type(v) in _PLAIN_TEXT_VALIDATORS for v in self.validators)
        )

    def run_validation(self, data: Any = empty) -> Any:
        """A string that passes DRF's checks (blank, length, NUL, surrogates) in one look; any
        other input takes DRF's way, which says what is wrong. A 100,000-row import asks this a
        million times."""
        if type(data) is str and self._plain:
            value = data.strip()
            if (
                value
                and (self.max_length is None or len(value) <= self.max_length)
                and (self.min_length is None or len(value) >= self.min_length)
                and "\x00" not in value
                and not _SURROGATE.search(value)
            ):
                return value
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Phone(serializers.CharField):
    """A mainland mobile in any accepted form (`+86 138 0013 8000`), answered normalised."""

    default_error_messages = {
        "invalid": _("Enter a mainland mobile number: 11 digits starting with 1."),
        "blank": _("This field is required."),
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "A mainland mobile; +86, spaces and dashes accepted.")
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if type(data) is str and data.strip():  # the usual case, without DRF's rounds
            return self.to_internal_value(data)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        try:
            return normalize_phone(str(data))
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


def _money_errors() -> dict[str, Any]:
    too_much = _later(
        lambda: gettext("The amount cannot exceed %(max)s.") % {"max": f"{MAX_AMOUNT:,}"}
    )
    return {
        "invalid": _('Enter the amount as a decimal string, e.g. "599.00".'),
        "max_string_length": _('Enter the amount as a decimal string, e.g. "599.00".'),
        "min_value": _("The amount cannot be negative."),
        "max_value": too_much,
        "max_digits": too_much,
        "max_whole_digits": too_much,
        "max_decimal_places": _("Use at most 2 decimal places."),
    }


_SIMPLE_MONEY = re.compile(r"\d{1,6}(?:\.\d{1,2})?")  # 0 … 999,999.99: always within bounds
_CENT = Decimal("0.01")


class Money(serializers.DecimalField):
    """A decimal string (or JSON number) with at most two places, 0 ≤ value ≤ 1,000,000."""

    def run_validation(self, data: Any = empty) -> Any:
        if type(data) is str and _SIMPLE_MONEY.fullmatch(data):  # the usual case, at once
            return Decimal(data).quantize(_CENT)
        return super().run_validation(data)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_digits=9,
            decimal_places=2,
            min_value=Decimal(0),
            max_value=MAX_AMOUNT,
            error_messages=_money_errors(),
            **kwargs,
        )


class Coordinate(serializers.DecimalField):
    """Degrees within ±`bound`, rounded to 6 places (0.1 m): geocoders give 7 or more."""

    def __init__(self, *, bound: int | None, **kwargs: Any) -> None:
        if bound is None:
            message: Any = _("Enter a number.")
        else:
            message = _later(
                lambda: gettext("Enter a coordinate between -%(b)d and %(b)d.") % {"b": bound}
            )
        keys = ("invalid", "max_string_length", "min_value", "max_value", "max_digits")
        errors = dict.fromkeys((*keys, "max_whole_digits", "max_decimal_places"), message)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("required", False)
        super().__init__(
            max_digits=9,
            decimal_places=6,
            min_value=None if bound is None else Decimal(-bound),
            max_value=None if bound is None else Decimal(bound),
            rounding=ROUND_HALF_UP,
            error_messages=errors,
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        if value.adjusted() < 4:  # below 10,000: rounding cannot overflow; above, too many digits
            value = value.quantize(Decimal("0.000001"), self.rounding)
        return super().validate_precision(value)


class PaidAt(serializers.DateTimeField):
    """ISO 8601 with its UTC offset (or Z), from 1990 to 5 minutes after `context["now"]`."""

    default_error_messages = {
        "invalid": _("Enter the time as ISO 8601 with an offset."),
        "format": _("Enter the time as ISO 8601 with an offset, e.g. 2026-01-15T14:30:00+08:00."),
        "naive": _("Give the time with its UTC offset, e.g. +08:00."),
        "too_old": _("The time is too far in the past."),
        "future": _("The time cannot be more than 5 minutes in the future."),
    }

    def to_internal_value(self, value: Any) -> datetime:
        if not isinstance(value, str):
            self.fail("invalid")
        try:
            paid_at = datetime.fromisoformat(value.strip())
        except ValueError:
            self.fail("format")
        if paid_at.tzinfo is None or paid_at.utcoffset() is None:
            self.fail("naive")
        if paid_at.year < 1990:
            self.fail("too_old")
        if paid_at > (self.context.get("now") or timezone.now()) + MAX_FUTURE:
            self.fail("future")
        return paid_at


class Role(serializers.ChoiceField):
    """A staff role, in any case (`Guide` is `guide`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Staff.Role.choices, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = data.strip().lower() if isinstance(data, str) else data
        if value not in Staff.Role.values:
            raise serializers.ValidationError(
                gettext('"%(value)s" is not one of %(choices)s')
                % {"value": data, "choices": ", ".join(Staff.Role.values)}
            )
        return value


class Strict:
    """A schema that refuses keys it does not list (DRF would ignore them) and input that is not
    an object (`invalid_message`).

    Its loop over the fields is DRF's `Serializer.to_internal_value` without what these schemas
    never use (HTML form input, `validate_<field>` methods, read-only fields, dotted sources):
    a third of the cost of a row in a 100,000-row import.
    """

    invalid_message: Any = None
    unknown_by_field = False  # True: each unknown key is an error of its own ("cannot be changed")

    @cached_property
    def _input_fields(self) -> list[tuple[str, serializers.Field]]:
        return [(f.field_name, f) for f in self._writable_fields]

    @cached_property
    def _input_names(self) -> frozenset[str]:
        return frozenset(name for name, _f in self._input_fields)

    def run_validation(self, data: Any = empty) -> Any:
        is_empty, data = self.validate_empty_values(data)
        if is_empty:
            return data
        value = self.to_internal_value(data)
        try:
            return self.validate(value)
        except (serializers.ValidationError, ValidationError) as exc:
            raise serializers.ValidationError(detail=as_serializer_error(exc)) from None

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            message = self.invalid_message or gettext("Send a JSON object.")
            raise serializers.ValidationError({NON_FIELD: [str(message)]})
        errors: dict[str, Any] = {}
        if not data.keys() <= self._input_names:
            unknown = sorted(str(key) for key in data if key not in self._input_names)
            if self.unknown_by_field:
                errors = {key: [gettext("This field cannot be changed.")] for key in unknown}
            else:
                message = gettext("Unknown fields: %(keys)s.") % {"keys": ", ".join(unknown)}
                errors = {NON_FIELD: [message]}
        values = {}
        for name, field_ in self._input_fields:
            try:
                values[name] = field_.run_validation(data.get(name, empty))
            except serializers.ValidationError as exc:
                errors[name] = exc.detail
            except ValidationError as exc:
                errors[name] = get_error_detail(exc)
            except SkipField:
                pass
        if errors:
            raise serializers.ValidationError(errors)
        return values


# --- orders --------------------------------------------------------------------------------------


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
    """A validated order as it came in (JSON or a CSV row), before its store is resolved."""

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

    def replay_key(self) -> tuple:
        """What an order stored under this external id must equal to be this order replayed."""
        return (
            self.phone,
            self.amount,
            self.paid_at,
            self.kind,
            self.payment_method,
            self.guide,
            self.refund_of,
        )


@extend_schema_serializer(component_name="OrderItem")
class OrderItemSchema(Strict, serializers.Serializer):
    invalid_message = _("Give each item as an object.")

    sku = Text(max_length=64)
    name = Text(max_length=200, required=False, allow_blank=True, default="")
    category = Text(max_length=50, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=100_000,
        default=1,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"),
            _("Enter a whole number of at least 1."),
        ),
    )
    unit_price = Money(required=False, default=Decimal("0.00"))
    is_new_arrival = serializers.BooleanField(
        default=False, error_messages={"invalid": _("Enter true or false.")}
    )

    def validate(self, attrs: dict) -> ItemIn:
        return ItemIn(**attrs)


@extend_schema_serializer(component_name="OrderCustomer")
class OrderCustomerSchema(Strict, serializers.Serializer):
    invalid_message = _('Give the customer as {"phone", "name"}.')

    phone = Phone()
    name = Text(max_length=50, required=False, allow_blank=True, default="")


def _choice_errors(message) -> dict[str, Any]:
    return {"invalid_choice": message}


@extend_schema_serializer(component_name="OrderIn")
class OrderSchema(Strict, serializers.Serializer):
    """An order body (SPEC §5). `POST /orders/`, the batch, `import_orders` and the admin."""

    invalid_message = _("Send the order as a JSON object.")

    external_id = Text(min_length=1, max_length=64, help_text="Unique per store.")
    store = Text(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="Store code; a POS token's own by default.",
    )
    customer = OrderCustomerSchema()
    guide = Text(max_length=32, required=False, allow_blank=True, help_text="Work number.")
    paid_at = PaidAt(help_text="ISO 8601 with offset; at most 5 minutes ahead.")
    amount = Money()
    kind = serializers.ChoiceField(
        choices=Order.Kind.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="sale by default.",
        error_messages=_choice_errors(_("The kind must be sale or refund.")),
    )
    refund_of = Text(max_length=64, required=False, allow_blank=True)
    payment_method = serializers.ChoiceField(
        choices=Order.PaymentMethod.choices,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="other by default.",
        error_messages=_choice_errors(
            _later(
                lambda: (
                    gettext("The payment method must be one of: %(m)s.")
                    % {"m": ", ".join(Order.PaymentMethod.values)}
                )
            )
        ),
    )
    items = OrderItemSchema(
        many=True,
        required=False,
        max_length=MAX_ITEMS,
        error_messages={
            "not_a_list": _("Give the items as a list."),
            "max_length": _("At most 200 items per order."),
        },
    )

    def validate(self, attrs: dict) -> OrderIn:
        kind = attrs.get("kind") or Order.Kind.SALE
        refund_of = attrs.get("refund_of", "")
        if refund_of and kind != Order.Kind.REFUND:
            raise serializers.ValidationError({"refund_of": [_("Only a refund refers to a sale.")]})
        return OrderIn(
            external_id=attrs["external_id"],
            phone=attrs["customer"]["phone"],
            name=attrs["customer"]["name"],
            paid_at=attrs["paid_at"],
            amount=attrs["amount"],
            store_code=attrs.get("store", ""),
            guide=attrs.get("guide", ""),
            kind=kind,
            refund_of=refund_of,
            payment_method=attrs.get("payment_method") or Order.PaymentMethod.OTHER,
            items=tuple(attrs.get("items") or ()),
            has_items="items" in attrs,
        )


@extend_schema_serializer(component_name="OrderBatchIn")
class OrderBatchSchema(serializers.Serializer):
    """`POST /orders/batch/`: each order is validated and applied on its own."""

    orders = OrderSchema(many=True, max_length=500)


def order_row_input(row: Mapping[str, str]) -> dict[str, Any]:
    """An `import_orders` row (external_id,store,phone,guide,paid_at,amount,kind,refund_of,
    payment_method) as the order schema's input; an empty cell is not given."""
    data: dict[str, Any] = {
        key: row[key]
        for key in ("external_id", "store", "guide", "paid_at", "amount", "kind", "refund_of")
        if row[key]
    }
    if row["payment_method"]:
        data["payment_method"] = row["payment_method"]
    data["customer"] = {"phone": row["phone"]} if row["phone"] else {}
    return data


ORDER_ROW_COLUMNS = {"customer": "phone", "customer.phone": "phone", "customer.name": "phone"}


# --- fans ----------------------------------------------------------------------------------------


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()  # a reference not given: leave it as it is
BIRTHDAY_FIELDS = (
    "birth_calendar",
    "birth_year",
    "birth_month",
    "birth_day",
    "birth_is_leap_month",
)
NO_BIRTHDAY = MappingProxyType(
    {
        "birth_calendar": "",
        "birth_year": None,
        "birth_month": None,
        "birth_day": None,
        "birth_is_leap_month": False,
    }
)


@dataclass(frozen=True)
class FanIn:
    """A validated fan: a registration, or a change holding only what was given.

    `values` maps model fields to values (a birthday as its five `birth_*` fields). The
    references are resolved by the services: `guide` a work number (None: no guide), `referrer`
    a fan's id, `referrer_phone` a phone (the CSV's way), `store` a store code.
    """

    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    guide: Any = KEEP
    referrer: Any = KEEP
    referrer_phone: Any = KEEP
    store: str = ""

    @property
    def phone(self) -> str:
        return self.values.get("phone", "")

    def given(self, name: str) -> bool:
        return name in self.values or getattr(self, name, KEEP) is not KEEP


@extend_schema_serializer(component_name="Birthday")
class BirthdaySchema(Strict, serializers.Serializer):
    """`{calendar, year, month, day, is_leap_month}`; the date must exist (lunar via lunardate)."""

    calendar = serializers.ChoiceField(choices=Customer.Calendar.choices, allow_blank=True)
    year = serializers.IntegerField(min_value=1900, max_value=2100, allow_null=True, required=False)
    # Month and day may be left out here: the birthday rule says a birthday needs both.
    month = serializers.IntegerField(
        min_value=1,
        max_value=12,
        allow_null=True,
        required=False,
        error_messages=dict.fromkeys(
            ("min_value", "max_value"), _("The month must be between 1 and 12.")
        ),
    )
    day = serializers.IntegerField(min_value=1, max_value=31, allow_null=True, required=False)
    is_leap_month = serializers.BooleanField(default=False)

    def validate(self, attrs: dict) -> dict[str, Any]:
        # In a partial change (PATCH) DRF applies neither `required` nor defaults to a nested
        # object: the birthday rule below is what requires its month and day.
        birthday = {
            "birth_calendar": attrs.get("calendar", ""),
            "birth_year": attrs.get("year"),
            "birth_month": attrs.get("month"),
            "birth_day": attrs.get("day"),
            "birth_is_leap_month": attrs.get("is_leap_month", False),
        }
        try:
            validate_birthday(**{k.removeprefix("birth_"): v for k, v in birthday.items()})
        except ValidationError as exc:
            raise serializers.ValidationError(
                {key.removeprefix("birth_"): messages for key, messages in exc.message_dict.items()}
            ) from None
        return birthday


def _text(max_length: int, **kwargs: Any) -> Text:
    return Text(max_length=max_length, required=False, allow_blank=True, **kwargs)


@extend_schema_serializer(component_name="CustomerWrite")
class FanSchema(Strict, serializers.Serializer):
    """A fan's fields as staff write them: a profile change (`partial=True`, PATCH, the fan edit
    page, the admin) or, through `FanRegistrationSchema`, a registration."""

    unknown_by_field = True
    error_keys = {f"birthday.{key.removeprefix('birth_')}": key for key in BIRTHDAY_FIELDS}

    phone = Phone(required=False)
    name = Text(max_length=50, error_messages={"blank": _("The name cannot be empty.")})
    gender = serializers.ChoiceField(
        choices=Customer.Gender.choices,
        required=False,
        allow_blank=True,
        error_messages=_choice_errors(_("The gender must be f, m or empty.")),
    )
    birthday = BirthdaySchema(allow_null=True, required=False)
    city = _text(50)
    latitude = Coordinate(bound=90)
    longitude = Coordinate(bound=180)
    referrer = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        allow_null=True,
        required=False,
        help_text="A fan's id.",
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"),
            _("Give the referring fan's id."),
        ),
    )
    guide = Text(
        max_length=32,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="The guide's work number (null: none).",
    )
    member_since = serializers.DateField(
        allow_null=True,
        required=False,
        error_messages={"invalid": _("Enter a date as YYYY-MM-DD.")},
    )
    is_opinion_leader = serializers.BooleanField(
        required=False,
        help_text="Managers and HQ only.",
        error_messages={"invalid": _("Enter true or false (1 or 0).")},
    )
    do_not_contact = serializers.BooleanField(
        required=False, error_messages={"invalid": _("Enter true or false (1 or 0).")}
    )
    body_shape = _text(30)
    height_cm = serializers.IntegerField(
        min_value=50,
        max_value=250,
        allow_null=True,
        required=False,
        error_messages={
            "invalid": _("Enter a whole number."),
            "min_value": _("Enter a height between 50 and 250 cm."),
            "max_value": _("Enter a height between 50 and 250 cm."),
            "max_string_length": _("Enter a whole number."),
        },
    )
    skin_tone = _text(30)
    consumption_notes = _text(2000)
    weight_kg = serializers.DecimalField(
        max_digits=5,
        decimal_places=1,
        min_value=Decimal(20),
        max_value=Decimal(300),
        allow_null=True,
        required=False,
        error_messages=dict.fromkeys(
            (
                "invalid",
                "max_string_length",
                "min_value",
                "max_value",
                "max_digits",
                "max_decimal_places",
                "max_whole_digits",
            ),
            _("Enter a weight between 20 and 300 kg with one decimal."),
        ),
    )
    top_size = _text(10)
    bottom_size = _text(10)
    shoe_size = _text(10)
    favourite_colours = _text(100)
    notes = _text(4000)
    wechat_id = _text(64)
    wechat_remark = _text(64)

    REFERENCES = ("guide", "referrer", "referrer_phone", "store")

    def validate(self, attrs: dict) -> FanIn:
        values = {k: v for k, v in attrs.items() if k not in self.REFERENCES and k != "birthday"}
        if "birthday" in attrs:
            values.update(attrs["birthday"] or NO_BIRTHDAY)
        refs = {k: attrs[k] for k in self.REFERENCES if k in attrs}
        if refs.get("guide") == "":
            refs["guide"] = None
        return FanIn(values=MappingProxyType(values), **refs)


@extend_schema_serializer(component_name="CustomerCreate")
class FanRegistrationSchema(FanSchema):
    """`POST /customers/` (and the check-in page, the admin): a new member at a store."""

    phone = Phone()
    name = Text(max_length=50)
    store = Text(max_length=16, required=False, allow_blank=True, help_text="Store code; HQ only.")


@extend_schema_serializer(component_name="CustomerAdminWrite")
class FanAdminSchema(FanSchema):
    """A change in the Django admin, a trusted door: it may also move the fan to another store."""

    store = Text(max_length=16, required=False)


@extend_schema_serializer(component_name="CustomerImport")
class FanImportSchema(FanRegistrationSchema):
    """An `import_customers` row: a fan registered or brought up to date; the name may be empty,
    the referrer is named by phone (she may come later in the file)."""

    name = Text(max_length=50, required=False, allow_blank=True)
    store = Text(max_length=16)
    referrer = None
    referrer_phone = Phone(required=False, allow_blank=True)

    def validate(self, attrs: dict) -> FanIn:
        if attrs.get("referrer_phone") and attrs["referrer_phone"] == attrs.get("phone"):
            raise serializers.ValidationError(
                {"referrer_phone": [_("A fan cannot refer herself.")]}
            )
        return super().validate(attrs)


def fan_form_input(
    raw: Mapping[str, Any], *, texts: Sequence[str], numbers: Sequence[str], flags: Sequence[str]
) -> dict[str, Any]:
    """A posted fan form (the fan edit page, the admin) as the fan schema's input: every field
    shown is given; an empty number is none; the five `birth_*` fields are the birthday (all
    empty: none)."""
    data: dict[str, Any] = {k: raw[k] or "" for k in texts if k in raw}
    data.update({k: raw[k] or None for k in numbers if k in raw})
    data.update({k: bool(raw[k]) for k in flags if k in raw})
    if any(name in raw for name in BIRTHDAY_FIELDS):
        year, month, day = (raw.get(f"birth_{part}") or None for part in ("year", "month", "day"))
        calendar, leap = raw.get("birth_calendar") or "", bool(raw.get("birth_is_leap_month"))
        data["birthday"] = (
            {"calendar": calendar, "year": year, "month": month, "day": day, "is_leap_month": leap}
            if calendar or year or month or day or leap
            else None
        )
    return data


def posted_values(form) -> dict[str, Any]:
    """What a bound Django form's widgets read from the request, field by field, unparsed: a
    form door (the fan edit page, the admin) hands it to a schema rather than to its fields."""
    return {
        name: field.widget.value_from_datadict(form.data, form.files, form.add_prefix(name))
        for name, field in form.fields.items()
    }


FAN_ROW_TEXT = ("phone", "name", "gender", "store", "city", "referrer_phone")


def fan_row_input(row: Mapping[str, str]) -> dict[str, Any]:
    """An `import_customers` row as the fan import schema's input. The row is the fan's whole
    record: an empty cell clears the field (booleans are then 0), except an empty name, which
    keeps hers."""
    data: dict[str, Any] = {key: row[key] for key in FAN_ROW_TEXT if row[key] or key != "name"}
    data["guide"] = row["guide"] or None
    for key in ("latitude", "longitude", "member_since"):
        data[key] = row[key] or None
    for key in ("is_opinion_leader",):
        data[key] = row[key] or "0"
    birthday = [row[f"birthday_{part}"] for part in ("calendar", "year", "month", "day")]
    if any(birthday) or row["birthday_is_leap_month"] not in ("", "0"):
        data["birthday"] = {
            "calendar": row["birthday_calendar"],
            "year": row["birthday_year"] or None,
            "month": row["birthday_month"] or None,
            "day": row["birthday_day"] or None,
            "is_leap_month": row["birthday_is_leap_month"] or "0",
        }
    else:
        data["birthday"] = None
    return data


FAN_ROW_COLUMNS = {"birthday": "birthday_calendar"}


# --- stores --------------------------------------------------------------------------------------

# Mainland China, generously: store coordinates outside this box are a typo (swapped lat/lon,
# a missing minus sign, a dropped digit), not a store.
CHINA_LATITUDE = (Decimal(18), Decimal(54))
CHINA_LONGITUDE = (Decimal(73), Decimal(135))


@dataclass(frozen=True)
class StoreIn:
    code: str
    name: str
    city: str
    address: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    is_active: bool | None = None  # None: as it is (new stores are active)


@extend_schema_serializer(component_name="StoreIn")
class StoreSchema(Strict, serializers.Serializer):
    """A store (`import_stores`, the admin); its coordinates inside China, both or neither."""

    code = Text(max_length=16)
    name = Text(max_length=100)
    city = Text(max_length=50)
    address = _text(200)
    latitude = Coordinate(bound=None)  # the China box below is narrower
    longitude = Coordinate(bound=None)
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict) -> StoreIn:
        latitude, longitude = attrs.get("latitude"), attrs.get("longitude")
        if (latitude is None) != (longitude is None):
            raise serializers.ValidationError(_("latitude and longitude: give both or neither"))
        if latitude is not None and not CHINA_LATITUDE[0] <= latitude <= CHINA_LATITUDE[1]:
            message = gettext(
                "%(value)s is outside China (18 to 54); are latitude and longitude swapped?"
            ) % {"value": latitude}
            raise serializers.ValidationError({"latitude": [message]})
        if longitude is not None and not CHINA_LONGITUDE[0] <= longitude <= CHINA_LONGITUDE[1]:
            message = gettext("%(value)s is outside China (73 to 135)") % {"value": longitude}
            raise serializers.ValidationError({"longitude": [message]})
        return StoreIn(**attrs)


def store_row_input(row: Mapping[str, str]) -> dict[str, Any]:
    """An `import_stores` row (code,name,city,address,latitude,longitude) as the store schema's
    input; empty coordinates are none."""
    data = {key: row[key] for key in ("code", "name", "city") if row[key]}
    data["address"] = row["address"]
    data["latitude"] = row["latitude"] or None
    data["longitude"] = row["longitude"] or None
    return data


# --- staff ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffIn:
    username: str
    name: str
    role: str
    work_number: str
    store: str = ""  # store code; empty for HQ
    abbreviation: str = ""
    is_active: bool | None = None  # None: as it is (new profiles are active)


@extend_schema_serializer(component_name="StaffIn")
class StaffSchema(Strict, serializers.Serializer):
    """A staff member (`import_staff`, the admin): a guide or manager works at a store, HQ at
    none."""

    username = Text(max_length=150, validators=[UnicodeUsernameValidator()])
    name = Text(max_length=50)
    store = Text(max_length=16, required=False, allow_blank=True, help_text="Store code.")
    role = Role()
    work_number = Text(max_length=32)
    abbreviation = _text(16)
    is_active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict) -> StaffIn:
        store = attrs.get("store", "")
        if attrs["role"] == Staff.Role.HQ and store:
            raise serializers.ValidationError({"store": [_("must be empty for an hq user")]})
        if attrs["role"] != Staff.Role.HQ and not store:
            message = gettext("required for a %(role)s") % {"role": attrs["role"]}
            raise serializers.ValidationError({"store": [message]})
        return StaffIn(**attrs)


def staff_row_input(row: Mapping[str, str]) -> dict[str, Any]:
    """An `import_staff` row (username,name,store,role,work_number,abbreviation)."""
    data = {key: row[key] for key in ("username", "name", "role", "work_number") if row[key]}
    data["store"] = row["store"]
    data["abbreviation"] = row["abbreviation"]
    return data
