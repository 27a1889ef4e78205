"""API answers of orders and stores (SPEC §5), and the API's shape of a rule's error.

Input is validated by `customers.schemas`; the fan answers, which carry tags, are `web.serializers`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import Order, Store
from customers.schemas import OrderIn


def api_error(
    exc: DjangoValidationError, rename: Callable[[str], str] | None = None
) -> serializers.ValidationError:
    """A rule's Django ValidationError as the API's 400 (`{"field": [messages]}` or
    `{"detail": [...]}`); `rename` maps a field key to the name the API answers under."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError({"detail": exc.messages})
    errors: dict[str, list[str]] = {}
    for key, messages in exc.message_dict.items():
        errors.setdefault(rename(key) if rename else key, []).extend(messages)
    return serializers.ValidationError(errors)


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    id = serializers.IntegerField()


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["code", "name", "city", "address", "latitude", "longitude", "is_active"]


class OrderItemOutSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    is_new_arrival = serializers.BooleanField()


class OrderSerializer(serializers.ModelSerializer):
    store = serializers.SlugRelatedField(slug_field="code", read_only=True)
    customer = serializers.SerializerMethodField()
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

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_customer(self, order: Order) -> int | None:
        """The fan's id when the caller owns her (`store_scope` of the context: a store id, or
        None for HQ); null for a member of another store who bought here (SPEC §8)."""
        scope = self.context["store_scope"]
        return order.customer_id if scope in (None, order.customer_store_id) else None


class FanLabelsSerializer(serializers.Serializer):
    """The fan's labels as they stand after the order: moved by it (`live_since`) or as of
    the last nightly run."""

    apple = serializers.CharField()
    rfm_segment = serializers.CharField(allow_blank=True)
    r_stage = serializers.CharField(allow_blank=True)
    membership = serializers.CharField(allow_blank=True)
    live_since = serializers.DateTimeField(allow_null=True)


class OrderAnswerSerializer(OrderSerializer):
    """`POST /orders/`'s answer: the order, and its fan's labels for a store that owns her."""

    labels = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "labels"]
        read_only_fields = fields

    @extend_schema_field(FanLabelsSerializer(allow_null=True))
    def get_labels(self, order: Order) -> dict | None:
        if self.get_customer(order) is None:
            return None
        try:
            return FanLabelsSerializer(order.customer.labels).data
        except ObjectDoesNotExist:
            return None


_MONEY = serializers.DecimalField(max_digits=12, decimal_places=2)
_INSTANT = serializers.DateTimeField()


def fan_labels_answer(labels: dict | None) -> dict | None:
    """`FanLabelsSerializer`'s answer from a `live_labels` row (None without one)."""
    if labels is None:
        return None
    live_since = labels["live_since"]
    return {
        **labels,
        "live_since": None if live_since is None else _INSTANT.to_representation(live_since),
    }


def created_order_answer(
    *,
    order_id: int,
    order_in: OrderIn,
    store_code: str,
    customer_id: int | None,
    channel: str,
    labels: dict | None,
) -> dict:
    """`OrderAnswerSerializer`'s answer for an order just written, from what was written: the
    same keys and formats (the DRF fields format money and instants), with no read back and no
    serializer to bind per request. `customer_id` is None when the caller does not own the fan
    (her labels are then not answered either)."""
    return {
        "id": order_id,
        "external_id": order_in.external_id,
        "store": store_code,
        "customer": customer_id,
        "guide": order_in.guide or None,
        "kind": order_in.kind,
        "refund_of": order_in.refund_of or None,
        "amount": _MONEY.to_representation(order_in.amount),
        "paid_at": _INSTANT.to_representation(order_in.paid_at),
        "payment_method": order_in.payment_method,
        "channel": channel,
        "items": [
            {
                "sku": item.sku,
                "name": item.name,
                "category": item.category,
                "quantity": item.quantity,
                "unit_price": _MONEY.to_representation(item.unit_price),
                "is_new_arrival": item.is_new_arrival,
            }
            for item in order_in.items
        ],
        "labels": None if customer_id is None else fan_labels_answer(labels),
    }


class OrderBatchResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.IntegerField(
        help_text="201 created, 200 replay, 400 invalid, 409 conflict."
    )
    id = serializers.IntegerField(required=False)
    errors = serializers.DictField(required=False)


class OrderBatchOutSerializer(serializers.Serializer):
    results = OrderBatchResultSerializer(many=True)
