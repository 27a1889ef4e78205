"""Orders, stores and staff tokens over /api/v1/ (SPEC §5): thin adapters over
`customers.selectors` (every queryset starts there), `customers.schemas` (every input) and
`customers.services` (every write). The fan endpoints, whose answers carry tags, are `web.api`."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.actors import ScopedApi, ScopedListApi
from customers.auth import issue_staff_token
from customers.filters import OrderFilter
from customers.models import Order, Store
from customers.schemas import OrderBatchSchema, OrderIn, OrderSchema, validate_input
from customers.selectors import (
    live_labels,
    orders_visible_to,
    staff_of,
    store_id_scope,
    stores_visible_to,
)
from customers.serializers import (
    ConflictSerializer,
    OrderAnswerSerializer,
    OrderBatchOutSerializer,
    OrderSerializer,
    StoreSerializer,
    api_error,
    created_order_answer,
)
from customers.services import OrderResult, conflict_message, record_orders
from fanops.api import EVERYONE, STAFF, AuthTokenThrottle

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{field: [messages]}` or `{detail}`."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, or another store's."),
}
ORDER_TAG = ["orders"]


def errors_of(*codes: int) -> dict:
    """The documented error answers of an endpoint."""
    return {code: ERRORS[code] for code in codes}


# --- auth ----------------------------------------------------------------------------------------


class AuthTokenApi(APIView):
    """`POST /auth/token/`: a staff member's API token for `{username, password}`."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [AuthTokenThrottle]

    def get_authenticate_header(self, request):
        return "Token"

    @extend_schema(
        tags=["auth"],
        auth=[],
        request=inline_serializer(
            "AuthTokenIn",
            {"username": serializers.CharField(), "password": serializers.CharField()},
        ),
        responses={
            200: inline_serializer("AuthTokenOut", {"token": serializers.CharField()}),
            **errors_of(400, 401),
            429: OpenApiResponse(description="Too many attempts."),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        errors = {
            key: [_("This field is required.")]
            for key in ("username", "password")
            if not isinstance(data.get(key), str) or not data.get(key)
        }
        if errors:
            raise exceptions.ValidationError(errors)
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None or staff_of(user) is None:
            raise exceptions.AuthenticationFailed(_("Unable to sign in with these credentials."))
        _token, key = issue_staff_token(user)  # a new key each time, answered once (hash kept)
        return Response({"token": key})


# --- stores --------------------------------------------------------------------------------------


class StoreListApi(ScopedListApi):
    """`GET /stores/`: the caller's store (HQ: every store)."""

    roles = STAFF
    serializer_class = StoreSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Store.objects.none()
        return stores_visible_to(self.actor).order_by("code")

    @extend_schema(
        tags=["stores"], responses={200: StoreSerializer(many=True), **errors_of(401, 403)}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- orders --------------------------------------------------------------------------------------


def _order_queryset(actor):
    """Orders as `OrderSerializer` answers them: with the store that owns each one's fan."""
    return (
        orders_visible_to(actor)
        .select_related("store", "guide", "refund_of")
        .annotate(customer_store_id=F("customer__store_id"))
        .prefetch_related("items")
    )


def _conflict(result: OrderResult) -> dict:
    return {"detail": conflict_message(), "id": result.conflict.pk}


class OrderListCreateApi(ScopedListApi):
    """`GET /orders/` of the caller's store(s) and `POST /orders/` (a sale or refund)."""

    roles = EVERYONE
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return _order_queryset(self.actor).order_by("-paid_at", "-id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "store_scope": store_id_scope(self.actor)}

    @extend_schema(
        tags=ORDER_TAG, responses={200: OrderSerializer(many=True), **errors_of(400, 401)}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=ORDER_TAG,
        request=OrderSchema,
        responses={
            201: OpenApiResponse(OrderAnswerSerializer, description="Recorded."),
            200: OpenApiResponse(
                OrderAnswerSerializer, description="A replay: the original order."
            ),
            409: OpenApiResponse(
                ConflictSerializer, description="external_id used by a different order."
            ),
            413: OpenApiResponse(description="Body larger than 1 MiB."),
            **errors_of(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        """A batch of one: the rules and the write of every other door (`record_orders`)."""
        schema = OrderSchema(context={"now": timezone.now()})
        try:
            order_in = validate_input(schema, request.data)
        except DjangoValidationError as exc:
            raise api_error(exc) from None
        [result] = record_orders(orders=[order_in], actor=self.actor)
        if result.error is not None:
            raise api_error(result.error)
        if result.conflict is not None:
            return Response(_conflict(result), status=status.HTTP_409_CONFLICT)
        if result.created:
            return Response(self.created_answer(order_in, result), status=result.status)
        order = (
            _order_queryset(self.actor).select_related("customer__labels").get(pk=result.order_id)
        )
        context = {"store_scope": store_id_scope(self.actor)}
        return Response(OrderAnswerSerializer(order, context=context).data, status=result.status)

    def created_answer(self, order_in: OrderIn, result: OrderResult) -> dict:
        """The answer of an order just written, built from what was written (no read back)."""
        scope = store_id_scope(self.actor)
        owned = scope in (None, result.customer_store_id)
        return created_order_answer(
            order_id=result.order_id,
            order_in=order_in,
            store_code=order_in.store_code or self.actor.store.code,
            customer_id=result.customer_id if owned else None,
            channel=Order.Channel.POS,
            labels=live_labels(result.customer_id) if owned else None,
        )


class OrderBatchApi(ScopedApi):
    """`POST /orders/batch/`: up to API_BATCH_MAX_ORDERS orders, each applied on its own."""

    roles = EVERYONE

    @extend_schema(
        tags=ORDER_TAG,
        request=OrderBatchSchema,
        responses={
            200: OrderBatchOutSerializer,
            413: OpenApiResponse(description="Body larger than 1 MiB."),
            **errors_of(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        orders = request.data.get("orders") if isinstance(request.data, dict) else None
        if not isinstance(orders, list):
            raise exceptions.ValidationError({"orders": [_('Send {"orders": [ … ]}.')]})
        limit = settings.API_BATCH_MAX_ORDERS
        if len(orders) > limit:
            raise exceptions.ValidationError(
                {"orders": [_("At most %(n)d orders per batch.") % {"n": limit}]}
            )
        schema = OrderSchema(context={"now": timezone.now()})
        results: list[dict | None] = [None] * len(orders)
        valid: list[tuple[int, object]] = []
        for index, raw in enumerate(orders):
            try:
                valid.append((index, validate_input(schema, raw)))
            except DjangoValidationError as exc:
                results[index] = {"index": index, "status": 400, "errors": api_error(exc).detail}
        recorded = record_orders(orders=[o for _i, o in valid], actor=self.actor)
        for (index, _order), result in zip(valid, recorded, strict=True):
            results[index] = _batch_result(index, result)
        return Response({"results": results})


def _batch_result(index: int, result: OrderResult) -> dict:
    if result.error is not None:
        return {"index": index, "status": 400, "errors": api_error(result.error).detail}
    if result.conflict is not None:
        return {
            "index": index,
            "status": 409,
            "id": result.conflict.pk,
            "errors": {"external_id": [conflict_message()]},
        }
    return {"index": index, "status": result.status, "id": result.order_id}
