"""Follow-up and contact endpoints (issue 13): thin adapters over `followups.selectors` (every
queryset starts there), `followups.schemas` (every input) and `followups.services` (every write).
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns.models import Contact
from campaigns.services import record_contact
from customers.actors import ScopedApi, ScopedListApi
from customers.selectors import customers_visible_to, stores_visible_to
from fanops.api import STAFF
from followups import schemas, services
from followups.filters import FollowUpFilter
from followups.models import FollowUp
from followups.selectors import actionable, follow_up_results, follow_ups_visible_to
from followups.serializers import ContactSerializer, FollowUpSerializer

TAGS = ["follow-ups"]
ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{field: [messages]}`."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, another store's, or a hold-out."),
    409: OpenApiResponse(description="Skipped or expired: it can no longer change."),
}
RESULTS_MAX_DAYS = 366


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def _django_error(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)


def _conflict(exc: services.FollowUpConflict) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


class FollowUpListApi(ScopedListApi):
    """`GET /follow-ups/`: a guide's own, a manager's store's, HQ's all (hold-outs included)."""

    roles = STAFF
    serializer_class = FollowUpSerializer
    filterset_class = FollowUpFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return FollowUp.objects.none()
        return (
            follow_ups_visible_to(self.actor)
            .select_related("customer", "guide", "store")
            .order_by("due_on", "id")
        )

    @extend_schema(
        tags=TAGS, responses={200: FollowUpSerializer(many=True), **_errors(400, 401, 403)}
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _FollowUpAction(ScopedApi):
    roles = STAFF

    def follow_up(self, pk: int) -> FollowUp:
        return get_object_or_404(actionable(self.actor).select_related("customer"), pk=pk)

    def answer(self, follow_up: FollowUp, code: int = status.HTTP_200_OK) -> Response:
        follow_up = FollowUp.objects.select_related("customer", "guide", "store").get(
            pk=follow_up.pk
        )
        return Response(FollowUpSerializer(follow_up).data, status=code)


class FollowUpCompleteApi(_FollowUpAction):
    """`POST /follow-ups/{id}/complete/`: done, with the contact it took; again: the first answer."""

    @extend_schema(
        tags=TAGS,
        request=schemas.CompleteIn,
        responses={200: FollowUpSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        follow_up = self.follow_up(pk)
        data = schemas.validated(schemas.CompleteIn, request.data)
        try:
            follow_up, _created = services.complete_follow_up(
                follow_up=follow_up, by=self.actor, now=timezone.now(), **data
            )
        except services.FollowUpConflict as exc:
            return _conflict(exc)
        return self.answer(follow_up)


class FollowUpSnoozeApi(_FollowUpAction):
    """`POST /follow-ups/{id}/snooze/`: hidden until `until`."""

    @extend_schema(
        tags=TAGS,
        request=schemas.SnoozeIn,
        responses={200: FollowUpSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        follow_up = self.follow_up(pk)
        data = schemas.validated(schemas.SnoozeIn, request.data)
        try:
            follow_up = services.snooze_follow_up(
                follow_up=follow_up, until=data["until"], today=timezone.localdate()
            )
        except DjangoValidationError as exc:
            raise _django_error(exc) from None
        except services.FollowUpConflict as exc:
            return _conflict(exc)
        return self.answer(follow_up)


class FollowUpSkipApi(_FollowUpAction):
    """`POST /follow-ups/{id}/skip/`: not worth doing, and why."""

    @extend_schema(
        tags=TAGS,
        request=schemas.SkipIn,
        responses={200: FollowUpSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        follow_up = self.follow_up(pk)
        data = schemas.validated(schemas.SkipIn, request.data)
        try:
            follow_up = services.skip_follow_up(follow_up=follow_up, reason=data["reason"])
        except DjangoValidationError as exc:
            raise _django_error(exc) from None
        except services.FollowUpConflict as exc:
            return _conflict(exc)
        return self.answer(follow_up)


class CustomerContactApi(ScopedApi):
    """`POST /customers/{id}/contacts/`: a contact made outside a follow-up, into the ledger."""

    roles = STAFF

    @extend_schema(
        tags=TAGS,
        request=schemas.ContactIn,
        responses={201: ContactSerializer, **_errors(400, 401, 403, 404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        customer = get_object_or_404(customers_visible_to(self.actor), pk=pk)
        data = schemas.validated(schemas.ContactIn, request.data)
        contact = record_contact(
            customer=customer,
            staff=self.actor,
            source=Contact.Source.MANUAL,
            at=timezone.now(),
            **data,
        )
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)


class ResultsQuery(serializers.Serializer):
    since = serializers.DateField(required=False)
    until = serializers.DateField(required=False)
    store = serializers.CharField(required=False, max_length=16)

    def validate(self, attrs):
        until = attrs.get("until") or timezone.localdate()
        since = attrs.get("since") or until - timedelta(days=29)
        if since > until:
            raise serializers.ValidationError({"since": [_("Must not be after until.")]})
        if (until - since).days >= RESULTS_MAX_DAYS:
            raise serializers.ValidationError(
                {"since": [_("At most %(days)s days at once.") % {"days": RESULTS_MAX_DAYS}]}
            )
        return {**attrs, "since": since, "until": until}


class FollowUpResultsApi(ScopedApi):
    """`GET /follow-ups/results/`: what the follow-ups due in [since, until] did, per reason and
    per guide, with done against hold-out (default: the last 30 days)."""

    roles = STAFF

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("since", str, description="YYYY-MM-DD (default: until − 29 days)"),
            OpenApiParameter("until", str, description="YYYY-MM-DD (default: today)"),
            OpenApiParameter("store", str, description="A store code (HQ)"),
        ],
        responses={
            200: OpenApiResponse(description="Counts, credited sales, lift."),
            **_errors(400, 401, 403, 404),
        },
    )
    def get(self, request: Request) -> Response:
        query = schemas.validated(ResultsQuery, request.query_params)
        store_id = None
        if query.get("store"):
            store_id = get_object_or_404(stores_visible_to(self.actor), code=query["store"]).pk
        return Response(
            follow_up_results(
                actor=self.actor,
                since=query["since"],
                until=query["until"],
                today=timezone.localdate(),
                store_id=store_id,
            )
        )
