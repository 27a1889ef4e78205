"""API answers of fans (SPEC §5): the list row and the detail, with her tags (`tagging`).

They live in the top app because a fan's answer reads across apps (her tags); her input is
`customers.schemas.FanSchema`.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.facts import next_birthday
from customers.models import Customer, CustomerLabels
from customers.schemas import BirthdaySchema, Phone
from customers.selectors import prediction_of
from customers.services import apple_between_relabels
from tagging.selectors import tags_by_customer

PROFILE_FIELDS = (
    "body_shape", "height_cm", "skin_tone", "consumption_notes", "weight_kg", "top_size",
    "bottom_size", "shoe_size", "favourite_colours", "notes",
)  # fmt: skip


def labels_of(customer: Customer) -> CustomerLabels | None:
    """The fan's CustomerLabels row, or None before her first relabel/registration."""
    try:
        return customer.labels
    except ObjectDoesNotExist:
        return None


def label_value(customer: Customer, name: str) -> str | None:
    labels = labels_of(customer)
    if labels is None:
        if name == "apple":  # no row yet: the apple she would start with
            return apple_between_relabels(is_opinion_leader=customer.is_opinion_leader)
        return None
    return getattr(labels, name) or None


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


class PredictionSerializer(serializers.Serializer):
    """`prediction` of the fan detail (issue 14): her purchase forecast as of `model_as_of`."""

    p_alive = serializers.FloatField()
    expected_purchases_90d = serializers.FloatField()
    expected_purchases_365d = serializers.FloatField()
    next_purchase_on = serializers.DateField(allow_null=True)
    clv_12m = serializers.DecimalField(max_digits=14, decimal_places=2)
    model_as_of = serializers.DateField()


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
            tags = tags_by_customer([customer.pk])
        return tags.get(customer.pk, [])


class CustomerDetailSerializer(CustomerListSerializer):
    """`GET /customers/{id}/` (and lookup, create, PATCH answers): every field of SPEC §5."""

    birthday = serializers.SerializerMethodField()
    next_birthday = serializers.SerializerMethodField()
    referrer = serializers.SerializerMethodField()
    rhythm = _LabelField()
    remark_names = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()
    labels_as_of = serializers.SerializerMethodField()
    prediction = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id", "name", "phone", "gender", "store", "guide", "birthday", "next_birthday", "city",
            "latitude", "longitude", "referrer", "member_since", "is_opinion_leader", "do_not_contact",
            "apple", "rfm_segment", "r_stage", "membership", "rhythm", "zodiac", "birthday_month",
            "distance", "tags", "remark_names", "metrics", "labels_as_of", "prediction",
            *PROFILE_FIELDS,
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        for key in ("zodiac", "birthday_month", "distance", "gender"):
            data[key] = data[key] or None
        return data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_referrer(self, customer: Customer) -> int | None:
        """Her referrer's id, when the caller owns the referrer too (`store_scope` of the
        context: a store id, or None for HQ); a referrer of another store stays a member card."""
        referrer = customer.referrer
        scope = self.context["store_scope"]
        if referrer is None or scope not in (None, referrer.store_id):
            return None
        return referrer.pk

    @extend_schema_field(BirthdaySchema(allow_null=True))
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

    @extend_schema_field(PredictionSerializer(allow_null=True))
    def get_prediction(self, customer: Customer) -> dict | None:
        prediction = prediction_of(customer)
        return PredictionSerializer(prediction).data if prediction else None

    @extend_schema_field(OpenApiTypes.DATE)
    def get_labels_as_of(self, customer: Customer) -> str | None:
        labels = labels_of(customer)
        return labels.as_of.isoformat() if labels and labels.as_of else None


class CustomerLookupSerializer(serializers.Serializer):
    """`POST /customers/lookup/`: the phone in the body, in any accepted format."""

    phone = Phone()
