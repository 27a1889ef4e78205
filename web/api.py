"""Fans over /api/v1/ (SPEC §5): list, lookup, registration, detail and PATCH.

In the top app because a fan's answer carries her tags (`tagging`). Thin: every queryset starts
from `customers.selectors`, every input is `customers.schemas`' fan schema, every write a
`customers.services` function (the ones every other door calls).
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.actors import ScopedApi, ScopedListApi
from customers.api import errors_of
from customers.auth import PosDevice
from customers.models import Customer
from customers.phones import mask_phone
from customers.schemas import (
    BIRTHDAY_FIELDS,
    FanRegistrationSchema,
    FanSchema,
    validate_input,
)
from customers.selectors import (
    brand_member,
    customers_visible_to,
    member_card,
    owns,
    store_id_scope,
)
from customers.serializers import ConflictSerializer, api_error
from customers.services import register_customers, update_customers
from fanops.api import EVERYONE, STAFF
from tagging.selectors import tags_by_customer
from web.filters import CustomerFilter
from web.serializers import (
    CustomerDetailSerializer,
    CustomerListSerializer,
    CustomerLookupSerializer,
)

logger = logging.getLogger(__name__)

TAGS = ["fans"]


def fan_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    """The API names a birthday's errors by its object, `birthday`."""
    return api_error(exc, lambda key: "birthday" if key in BIRTHDAY_FIELDS else key)


DETAIL_RELATED = (
    "labels",
    "store__labelling",
    "guide",
    "referrer",
    "prediction",
)  # what the answer reads


def _customer_queryset(actor):
    return customers_visible_to(actor).select_related(*DETAIL_RELATED)


def _answer(actor, customer: Customer) -> dict:
    context = {
        "today": timezone.localdate(),
        "store_scope": store_id_scope(actor),
        "tags": tags_by_customer([customer.pk], loaded=[customer]),
    }
    return CustomerDetailSerializer(customer, context=context).data


def _detail(actor, pk: int) -> dict:
    return _answer(actor, _customer_queryset(actor).get(pk=pk))


def _registered_already(actor, customer: Customer) -> dict:
    """409 for a taken phone: her id to a caller who owns her, else her member card only."""
    detail = _("A fan with this phone is already registered.")
    if owns(actor, customer):
        return {"detail": detail, "id": customer.pk}
    return {
        "detail": _("This phone is a member registered at another store."),
        "member_card": member_card(customer),
    }


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
        page = super().paginate_queryset(queryset)
        self._tags = tags_by_customer([c.pk for c in page]) if page is not None else None
        return page

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "tag", str, many=True, description='"group:code"; repeated = all of them'
            ),
            OpenApiParameter("page_size", int, description="At most 500."),
        ],
        responses={200: CustomerListSerializer(many=True), **errors_of(400, 401)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        request=FanRegistrationSchema,
        responses={
            201: CustomerDetailSerializer,
            409: OpenApiResponse(
                ConflictSerializer, description="The phone is taken: the fan's id."
            ),
            **errors_of(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            fan = validate_input(FanRegistrationSchema(), request.data)
        except DjangoValidationError as exc:
            raise fan_error(exc) from None
        [result] = register_customers(fans=[fan], actor=self.actor)
        if result.existing is not None:
            return Response(
                _registered_already(self.actor, result.existing), status=status.HTTP_409_CONFLICT
            )
        if result.error is not None:
            raise fan_error(result.error)
        return Response(_detail(self.actor, result.customer_id), status=status.HTTP_201_CREATED)


class CustomerLookupApi(ScopedApi):
    """`POST /customers/lookup/`: a fan by phone (in the body, never in a URL).

    The brand's members are everyone's customers at the till: a POS of a store that does not
    own her gets `{"member_card"}` only; staff of such a store get 404, as on every other door.
    """

    roles = EVERYONE

    @extend_schema(
        tags=TAGS,
        request=CustomerLookupSerializer,
        responses={
            200: OpenApiResponse(
                CustomerDetailSerializer,
                description="The fan with her `member_card`; to a POS of another store only "
                "`{member_card}`.",
            ),
            **errors_of(400, 401, 404),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            phone = validate_input(CustomerLookupSerializer(), request.data)["phone"]
        except DjangoValidationError as exc:
            raise api_error(exc) from None
        # One read whoever owns her: the caller's own fan, a member of another store, or none.
        customer = brand_member(phone, related=DETAIL_RELATED)
        if customer is not None and owns(self.actor, customer):
            return Response({**_answer(self.actor, customer), "member_card": member_card(customer)})
        if customer is None or not isinstance(self.actor, PosDevice):
            logger.info("lookup miss for %s", mask_phone(phone))
            raise exceptions.NotFound(_("No fan with this phone."))
        return Response({"member_card": member_card(customer)})


class CustomerDetailApi(ScopedApi):
    """`GET /customers/{id}/` (staff, POS) and `PATCH` (staff)."""

    roles = {"GET": EVERYONE, "PATCH": STAFF}

    def get_object(self, pk: int) -> Customer:
        return get_object_or_404(_customer_queryset(self.actor), pk=pk)

    @extend_schema(tags=TAGS, responses={200: CustomerDetailSerializer, **errors_of(401, 404)})
    def get(self, request: Request, pk: int) -> Response:
        return Response(_answer(self.actor, self.get_object(pk)))

    @extend_schema(
        tags=TAGS,
        request=FanSchema(partial=True),
        responses={200: CustomerDetailSerializer, **errors_of(400, 401, 403, 404)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        customer = self.get_object(pk)
        try:
            fan = validate_input(FanSchema(partial=True), request.data)
        except DjangoValidationError as exc:
            raise fan_error(exc) from None
        [result] = update_customers(changes=[(customer, fan)], actor=self.actor)
        if result.error is not None:
            raise fan_error(result.error)
        return Response(_detail(self.actor, customer.pk))
