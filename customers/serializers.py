"""API shapes of fans and orders (SPEC §5). Output serializers read; input serializers delegate to
the shared rules of `customers.services` (`parse_order_in`, `clean_customer_fields`), so the API,
the batch endpoint and the CSV importers apply one set of rules."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Customer, Order
from customers.services import parse_order_in

LABEL_FIELDS = ("apple", "rfm_segment", "r_stage", "membership", "rhythm")
PROFILE_FIELDS = (
    "body_shape", "height_cm", "skin_tone", "consumption_notes", "weight_kg", "top_size",
    "bottom_size", "shoe_size", "favourite_colours", "notes",
)  # fmt: skip
BIRTH_ERROR_KEYS = {
    "birth_calendar",
    "birth_year",
    "birth_month",
    "birth_day",
    "birth_is_leap_month",
}


def labels_of(customer: Customer):
    """The fan's CustomerLabels row, or None before her first relabel/registration."""
    try:
        return customer.labels
    except ObjectDoesNotExist:
        return None


def label_value(customer: Customer, name: str) -> str | None:
    labels = labels_of(customer)
    if labels is None:
        if name == "apple":
            return "golden" if customer.is_opinion_leader else "blossom"
        return None
    return getattr(labels, name) or None


def to_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """Django's ValidationError as DRF's, keeping the field names (birth_* answer as `birthday`)."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError({"detail": exc.messages})
    errors: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        errors.setdefault("birthday" if key in BIRTH_ERROR_KEYS else key, []).extend(messages)
    return serializers.ValidationError(errors)


# --- fans ----------------------------------------------------------------------------------------


class BirthdaySerializer(serializers.Serializer):
    calendar = serializers.ChoiceField(choices=Customer.Calendar.choices)
    year = serializers.IntegerField(allow_null=True, required=False, min_value=1900, max_value=2100)
    month = serializers.IntegerField(min_value=1, max_value=12)
    day = serializers.IntegerField(min_value=1, max_value=31)
    is_leap_month = serializers.BooleanField(default=False)


class RemarkNamesSerializer(serializers.Serializer):
    store_account = serializers.CharField(allow_blank=True)
    personal_account = serializers.CharField(allow_blank=True)


class MetricsSerializer(serializers.Serializer):
    recency_days = serializers.IntegerField(allow_null=True)
    frequency = serializers.IntegerField()
    monetary = serializers.DecimalField(max_digits=14, decimal_places=2)
    lifetime_sales = serializers.IntegerField()
    first_sale = serializers.DateField(allow_null=True)
    last_sale = serializers.DateField(allow_null=True)


@extend_schema_field({"type": "string", "nullable": True})
class _LabelField(serializers.Field):
    """A computed label code from the fan's CustomerLabels ('' and missing rows read as null)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return label_value(instance, self.field_name)

    def to_representation(self, value):
        return value


class CustomerListSerializer(serializers.ModelSerializer):
    """One row of `GET /customers/`. `tags` comes from the view's `tags_by_customer` (context)."""

    phone_masked = serializers.CharField(read_only=True)
    store = serializers.SlugRelatedField(slug_field="code", read_only=True)
    guide = serializers.SlugRelatedField(slug_field="work_number", read_only=True, allow_null=True)
    apple = _LabelField()
    rfm_segment = _LabelField()
    r_stage = _LabelField()
    membership = _LabelField()
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "phone_masked",
            "store",
            "guide",
            "apple",
            "rfm_segment",
            "r_stage",
            "membership",
            "tags",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, customer: Customer) -> list[str]:
        tags = self.context.get("tags")
        if tags is None:
            from tagging.selectors import tags_by_customer

            tags = tags_by_customer([customer.pk])
        return tags.get(customer.pk, [])


class CustomerDetailSerializer(CustomerListSerializer):
    """`GET /customers/{id}/` (and lookup, create, PATCH answers): every field of SPEC §5."""

    birthday = serializers.SerializerMethodField()
    next_birthday = serializers.SerializerMethodField()
    referrer = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    rhythm = _LabelField()
    remark_names = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    labels_as_of = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id", "name", "phone", "gender", "store", "guide", "birthday", "next_birthday", "city",
            "latitude", "longitude", "referrer", "member_since", "is_opinion_leader", "do_not_contact",
            "apple", "rfm_segment", "r_stage", "membership", "rhythm", "zodiac", "birthday_month",
            "distance", "tags", "remark_names", "metrics", "labels_as_of", *PROFILE_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for key in ("zodiac", "birthday_month", "distance", "gender"):
            data[key] = data[key] or None
        return data

    @extend_schema_field(BirthdaySerializer(allow_null=True))
    def get_birthday(self, customer: Customer) -> dict | None:
        if not customer.birth_calendar or not customer.birth_month or not customer.birth_day:
            return None
        return {
            "calendar": customer.birth_calendar,
            "year": customer.birth_year,
            "month": customer.birth_month,
            "day": customer.birth_day,
            "is_leap_month": customer.birth_is_leap_month,
        }

    @extend_schema_field(OpenApiTypes.DATE)
    def get_next_birthday(self, customer: Customer) -> date | None:
        from customers.facts import next_birthday

        when = next_birthday(
            calendar=customer.birth_calendar,
            year=customer.birth_year,
            month=customer.birth_month,
            day=customer.birth_day,
            is_leap_month=customer.birth_is_leap_month,
            today=self.context.get("today") or timezone.localdate(),
        )
        return when.isoformat() if when else None

    @extend_schema_field(RemarkNamesSerializer)
    def get_remark_names(self, customer: Customer) -> dict:
        labels = labels_of(customer)
        return {
            "store_account": labels.remark_store_account if labels else "",
            "personal_account": labels.remark_personal_account if labels else "",
        }

    @extend_schema_field(MetricsSerializer)
    def get_metrics(self, customer: Customer) -> dict:
        labels = labels_of(customer)
        if labels is None:
            return {
                "recency_days": None, "frequency": 0, "monetary": "0.00", "lifetime_sales": 0,
                "first_sale": None, "last_sale": None,
            }  # fmt: skip
        return MetricsSerializer(labels).data

    @extend_schema_field(OpenApiTypes.DATE)
    def get_labels_as_of(self, customer: Customer) -> str | None:
        labels = labels_of(customer)
        return labels.as_of.isoformat() if labels and labels.as_of else None


class CustomerLookupSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32, help_text="Any accepted format: +86, spaces.")


class CustomerWriteSerializer(serializers.Serializer):
    """Documents the fan fields a caller may write; the rules are `clean_customer_fields`."""

    name = serializers.CharField(max_length=50, required=False)
    gender = serializers.ChoiceField(
        choices=Customer.Gender.choices, required=False, allow_blank=True
    )
    birthday = BirthdaySerializer(allow_null=True, required=False)
    city = serializers.CharField(max_length=50, required=False, allow_blank=True)
    latitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, allow_null=True, required=False
    )
    longitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, allow_null=True, required=False
    )
    referrer = serializers.IntegerField(allow_null=True, required=False, help_text="A fan's id.")
    guide = serializers.CharField(
        allow_null=True, required=False, help_text="The guide's work number."
    )
    member_since = serializers.DateField(allow_null=True, required=False)
    is_opinion_leader = serializers.BooleanField(required=False, help_text="Managers and HQ only.")
    do_not_contact = serializers.BooleanField(required=False)
    body_shape = serializers.CharField(max_length=30, required=False, allow_blank=True)
    height_cm = serializers.IntegerField(
        min_value=50, max_value=250, allow_null=True, required=False
    )
    skin_tone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    consumption_notes = serializers.CharField(required=False, allow_blank=True)
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=20, max_value=300, allow_null=True, required=False
    )
    top_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    bottom_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    shoe_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    favourite_colours = serializers.CharField(max_length=100, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class CustomerCreateSerializer(CustomerWriteSerializer):
    phone = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=50)
    store = serializers.CharField(max_length=16, required=False, help_text="Store code; HQ only.")


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    id = serializers.IntegerField()


# --- orders --------------------------------------------------------------------------------------


class OrderItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    category = serializers.CharField(max_length=50, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, max_value=1_000_000
    )
    is_new_arrival = serializers.BooleanField(default=False)


class OrderCustomerSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=50, required=False, allow_blank=True)


class OrderInSerializer(serializers.Serializer):
    """An order body (SPEC §5). Validation is `customers.services.parse_order_in`; the fields
    below document it. `validated_data` is an `OrderIn`."""

    external_id = serializers.CharField(min_length=1, max_length=64)
    store = serializers.CharField(
        max_length=16, required=False, help_text="Store code; a POS token's own by default."
    )
    customer = OrderCustomerSerializer()
    guide = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="Work number."
    )
    paid_at = serializers.DateTimeField(help_text="ISO 8601 with offset; at most 5 minutes ahead.")
    amount = serializers.DecimalField(
        max_digits=9, decimal_places=2, min_value=0, max_value=1_000_000
    )
    kind = serializers.ChoiceField(choices=Order.Kind.choices, default=Order.Kind.SALE)
    refund_of = serializers.CharField(max_length=64, required=False, allow_blank=True)
    payment_method = serializers.ChoiceField(
        choices=Order.PaymentMethod.choices, default=Order.PaymentMethod.OTHER
    )
    items = OrderItemSerializer(many=True, required=False)

    def to_internal_value(self, data: Any):
        try:
            return parse_order_in(data, now=self.context.get("now"))
        except DjangoValidationError as exc:
            raise to_drf_error(exc) from None


class OrderItemOutSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_new_arrival = serializers.BooleanField()


class OrderSerializer(serializers.ModelSerializer):
    store = serializers.SlugRelatedField(slug_field="code", read_only=True)
    customer = serializers.PrimaryKeyRelatedField(read_only=True)
    guide = serializers.SlugRelatedField(slug_field="work_number", read_only=True, allow_null=True)
    refund_of = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True, allow_null=True
    )
    items = OrderItemOutSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id", "external_id", "store", "customer", "guide", "kind", "refund_of", "amount",
            "paid_at", "payment_method", "channel", "items",
        ]  # fmt: skip
        read_only_fields = fields


class OrderBatchInSerializer(serializers.Serializer):
    orders = OrderInSerializer(many=True)


class OrderBatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(
        help_text="201 created, 200 replay, 400 invalid, 409 conflict."
    )
    id = serializers.IntegerField(required=False)
    errors = serializers.DictField(required=False)


class OrderBatchOutSerializer(serializers.Serializer):
    results = OrderBatchResultSerializer(many=True)
