"""Fans, orders, stores and staff tokens over /api/v1/ (SPEC §5): thin adapters over
`customers.selectors` (every queryset starts there) and `customers.services` (every write)."""

from __future__ import annotations

import logging

from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.actors import ScopedApi, ScopedListApi
from customers.auth import issue_staff_token
from customers.filters import CustomerFilter, OrderFilter
from customers.models import Customer, Order, Staff, Store
from customers.phones import mask_phone, normalize_phone
from customers.selectors import (
    customers_visible_to,
    orders_visible_to,
    staff_of,
    staff_visible_to,
    stores_visible_to,
)
from customers.serializers import (
    ConflictSerializer,
    CustomerCreateSerializer,
    CustomerDetailSerializer,
    CustomerListSerializer,
    CustomerLookupSerializer,
    CustomerWriteSerializer,
    OrderBatchInSerializer,
    OrderBatchOutSerializer,
    OrderInSerializer,
    OrderSerializer,
    to_drf_error,
)
from customers.services import (
    CustomerExists,
    OrderConflict,
    parse_order_in,
    record_order,
    register_customer,
    resolve_order_store,
    update_customer,
)
from fanops.api import EVERYONE, STAFF, AuthTokenThrottle

logger = logging.getLogger(__name__)

ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{field: [messages]}` or `{detail}`."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, or another store's."),
}
DETAIL_TAG = ["fans"]
ORDER_TAG = ["orders"]


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def _customer_queryset(actor):
    return customers_visible_to(actor).select_related("labels", "store__labelling", "guide")


def _detail(customer: Customer) -> dict:
    return CustomerDetailSerializer(customer, context={"today": timezone.localdate()}).data


def _reload(actor, customer: Customer) -> Customer:
    return _customer_queryset(actor).get(pk=customer.pk)


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
            **_errors(400, 401),
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


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["code", "name", "city", "address", "latitude", "longitude", "is_active"]


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
        tags=["stores"], responses={200: StoreSerializer(many=True), **_errors(401, 403)}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# --- fans ----------------------------------------------------------------------------------------


class CustomerListCreateApi(ScopedListApi):
    """`GET /customers/` (search, filters, pages) and `POST /customers/` (register a fan)."""

    roles = EVERYONE
    serializer_class = CustomerListSerializer
    filterset_class = CustomerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        return _customer_queryset(self.actor).order_by("id")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tags": getattr(self, "_tags", None)}

    def paginate_queryset(self, queryset):
        from tagging.selectors import tags_by_customer

        page = super().paginate_queryset(queryset)
        self._tags = tags_by_customer([c.pk for c in page]) if page is not None else None
        return page

    @extend_schema(
        tags=DETAIL_TAG,
        parameters=[
            OpenApiParameter(
                "tag", str, many=True, description='"group:code"; repeated = all of them'
            ),
            OpenApiParameter("page_size", int, description="At most 500."),
        ],
        responses={200: CustomerListSerializer(many=True), **_errors(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=DETAIL_TAG,
        request=CustomerCreateSerializer,
        responses={
            201: CustomerDetailSerializer,
            409: OpenApiResponse(
                ConflictSerializer, description="The phone is taken: the fan's id."
            ),
            **_errors(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        if not data.get("name"):
            raise exceptions.ValidationError({"name": [_("This field is required.")]})
        if not data.get("phone"):
            raise exceptions.ValidationError({"phone": [_("This field is required.")]})
        store = resolve_order_store(actor=self.actor, code=_code(data.pop("store", "")))
        guide = _guide_at(store, data.pop("guide", None), self.actor)
        if guide is None and isinstance(self.actor, Staff) and self.actor.role == Staff.Role.GUIDE:
            guide = self.actor if self.actor.store_id == store.pk else None
        referrer = _referrer(self.actor, data.pop("referrer", None))
        if referrer is not None:
            data["referrer"] = referrer
        try:
            customer = register_customer(
                store=store,
                phone=data.pop("phone"),
                name=data.pop("name"),
                guide=guide,
                by=self.actor if isinstance(self.actor, Staff) else None,
                **data,
            )
        except CustomerExists as exc:
            return Response(
                {
                    "detail": _("A fan with this phone is already registered."),
                    "id": exc.customer.pk,
                },
                status=status.HTTP_409_CONFLICT,
            )
        except DjangoValidationError as exc:
            raise to_drf_error(exc) from None
        return Response(_detail(_reload(self.actor, customer)), status=status.HTTP_201_CREATED)


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError({"detail": [_("Send a JSON object.")]})
    return dict(request.data)


def _code(value) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise exceptions.ValidationError({"store": [_("Give the store's code.")]})
    return value.strip()


def _guide_at(store: Store, work_number, actor) -> Staff | None:
    """The active guide with `work_number` at `store` (None when not given), else 400 `guide`."""
    if work_number in (None, ""):
        return None
    if not isinstance(work_number, str):
        raise exceptions.ValidationError({"guide": [_("Give the guide's work number.")]})
    guide = (
        staff_visible_to(actor).filter(work_number=work_number, store=store, is_active=True).first()
    )
    if guide is None:
        raise exceptions.ValidationError(
            {"guide": [_("No active guide with this work number at this store.")]}
        )
    return guide


def _referrer(actor, value) -> Customer | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise exceptions.ValidationError({"referrer": [_("Give the referring fan's id.")]})
    referrer = customers_visible_to(actor).filter(pk=value).first()
    if referrer is None:
        raise exceptions.ValidationError({"referrer": [_("Unknown fan.")]})
    return referrer


class CustomerLookupApi(ScopedApi):
    """`POST /customers/lookup/`: a fan by phone (in the body, never in a URL)."""

    roles = EVERYONE

    @extend_schema(
        tags=DETAIL_TAG,
        request=CustomerLookupSerializer,
        responses={200: CustomerDetailSerializer, **_errors(400, 401, 404)},
    )
    def post(self, request: Request) -> Response:
        data = _body(request)
        raw = data.get("phone")
        if raw in (None, ""):
            raise exceptions.ValidationError({"phone": [_("This field is required.")]})
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise exceptions.ValidationError(
                {"phone": [_("Enter a mainland mobile number: 11 digits starting with 1.")]}
            )
        try:
            phone = normalize_phone(str(raw))
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"phone": exc.messages}) from None
        customer = _customer_queryset(self.actor).filter(phone=phone).first()
        if customer is None:
            logger.info("lookup miss for %s", mask_phone(phone))
            raise exceptions.NotFound(_("No fan with this phone."))
        return Response(_detail(customer))


class CustomerDetailApi(ScopedApi):
    """`GET /customers/{id}/` (staff, POS) and `PATCH` (staff)."""

    roles = {"GET": EVERYONE, "PATCH": STAFF}

    def get_object(self, pk: int) -> Customer:
        return get_object_or_404(_customer_queryset(self.actor), pk=pk)

    @extend_schema(tags=DETAIL_TAG, responses={200: CustomerDetailSerializer, **_errors(401, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail(self.get_object(pk)))

    @extend_schema(
        tags=DETAIL_TAG,
        request=CustomerWriteSerializer,
        responses={200: CustomerDetailSerializer, **_errors(400, 401, 403, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        customer = self.get_object(pk)
        changes = _body(request)
        if "guide" in changes:
            changes["guide"] = _guide_at(customer.store, changes["guide"], self.actor)
        if "referrer" in changes:
            changes["referrer"] = _referrer(self.actor, changes["referrer"])
        try:
            update_customer(customer=customer, changes=changes, by=self.actor)
        except DjangoValidationError as exc:
            raise to_drf_error(exc) from None
        return Response(_detail(_reload(self.actor, customer)))


# --- orders --------------------------------------------------------------------------------------


def _order_queryset(actor):
    return (
        orders_visible_to(actor)
        .select_related("store", "guide", "refund_of")
        .prefetch_related("items")
    )


def _conflict(exc: OrderConflict) -> dict:
    return {
        "detail": _("This external_id was already used for a different order."),
        "id": exc.order.pk,
    }


class OrderListCreateApi(ScopedListApi):
    """`GET /orders/` of the caller's store(s) and `POST /orders/` (a sale or refund)."""

    roles = EVERYONE
    serializer_class = OrderSerializer
    filterset_class = OrderFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return _order_queryset(self.actor).order_by("-paid_at", "-id")

    @extend_schema(tags=ORDER_TAG, responses={200: OrderSerializer(many=True), **_errors(400, 401)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=ORDER_TAG,
        request=OrderInSerializer,
        responses={
            201: OpenApiResponse(OrderSerializer, description="Recorded."),
            200: OpenApiResponse(OrderSerializer, description="A replay: the original order."),
            409: OpenApiResponse(
                ConflictSerializer, description="external_id used by a different order."
            ),
            413: OpenApiResponse(description="Body larger than 1 MiB."),
            **_errors(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        payload = OrderInSerializer(data=request.data, context={"now": timezone.now()})
        payload.is_valid(raise_exception=True)
        order_in = payload.validated_data
        try:
            store = resolve_order_store(actor=self.actor, code=order_in.store_code)
            order, created = record_order(store=store, order_in=order_in)
        except OrderConflict as exc:
            return Response(_conflict(exc), status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as exc:
            raise to_drf_error(exc) from None
        order = _order_queryset(self.actor).get(pk=order.pk)
        return Response(
            OrderSerializer(order).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class OrderBatchApi(ScopedApi):
    """`POST /orders/batch/`: up to API_BATCH_MAX_ORDERS orders, each applied on its own."""

    roles = EVERYONE

    @extend_schema(
        tags=ORDER_TAG,
        request=OrderBatchInSerializer,
        responses={
            200: OrderBatchOutSerializer,
            413: OpenApiResponse(description="Body larger than 1 MiB."),
            **_errors(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        from django.conf import settings

        orders = request.data.get("orders") if isinstance(request.data, dict) else None
        if not isinstance(orders, list):
            raise exceptions.ValidationError({"orders": [_('Send {"orders": [ … ]}.')]})
        limit = settings.API_BATCH_MAX_ORDERS
        if len(orders) > limit:
            raise exceptions.ValidationError(
                {"orders": [_("At most %(n)d orders per batch.") % {"n": limit}]}
            )
        now = timezone.now()
        results = []
        for index, raw in enumerate(orders):
            try:
                order_in = parse_order_in(raw, now=now)
                store = resolve_order_store(actor=self.actor, code=order_in.store_code)
                order, created = record_order(store=store, order_in=order_in)
            except DjangoValidationError as exc:
                results.append({"index": index, "status": 400, "errors": to_drf_error(exc).detail})
            except OrderConflict as exc:
                results.append(
                    {
                        "index": index,
                        "status": 409,
                        "id": exc.order.pk,
                        "errors": {"external_id": [_conflict(exc)["detail"]]},
                    }
                )
            else:
                results.append({"index": index, "status": 201 if created else 200, "id": order.pk})
        return Response({"results": results})
