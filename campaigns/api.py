"""Campaign endpoints (SPEC §5): thin adapters over campaigns.services / campaigns.selectors."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns import services
from campaigns.models import HOLDOUT_MAX_PERCENT, SEED_MAX, Campaign
from campaigns.selectors import campaign_results, campaigns_visible_to, can_change_campaign
from customers.actors import ScopedApi
from customers.auth import PosDevice
from customers.models import Customer
from customers.selectors import Actor, mask_name, owns
from fanops.api import EVERYONE, MANAGERS

TAGS = ["campaigns"]
ERRORS = {
    400: OpenApiResponse(description="Invalid input: `{field: [messages]}` or `{detail}`."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, or another store's."),
    409: OpenApiResponse(description="Fans have checked in: the audience can no longer change."),
}


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="The event's code.")


class AudienceFilterSerializer(serializers.Serializer):
    all = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )
    any = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )
    none = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )


class AudienceRemovalsSerializer(serializers.Serializer):
    out_of_town = serializers.IntegerField()
    contact_cap = serializers.IntegerField()
    opted_out = serializers.IntegerField()


class AudienceFreezeReportSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    removed = AudienceRemovalsSerializer()
    holdout = serializers.IntegerField()
    contacts = serializers.IntegerField()


class CampaignOutputSerializer(serializers.ModelSerializer):
    stores = serializers.SlugRelatedField(many=True, read_only=True, slug_field="code")
    audience_filter = serializers.SerializerMethodField()
    freeze_report = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "code",
            "name",
            "kind",
            "stores",
            "starts_on",
            "ends_on",
            "goal",
            "holdout_percent",
            "seed",
            "message_template",
            "audience_filter",
            "frozen_at",
            "freeze_report",
        ]

    @extend_schema_field(AudienceFilterSerializer)
    def get_audience_filter(self, campaign: Campaign) -> dict:
        return campaign.audience_filter

    @extend_schema_field(AudienceFreezeReportSerializer(allow_null=True))
    def get_freeze_report(self, campaign: Campaign) -> dict | None:
        """None until the audience is frozen (the model keeps `{}`)."""
        return campaign.freeze_report or None


CheckInOutSerializer = inline_serializer(
    "CheckInOut",
    {
        "campaign": serializers.CharField(),
        "customer": serializers.IntegerField(
            allow_null=True, help_text="null for a member of another store"
        ),
        "name": serializers.CharField(help_text="masked for a member of another store"),
        "checked_in_at": serializers.DateTimeField(),
        "created": serializers.BooleanField(),
    },
)
NotFoundSerializer = inline_serializer(
    "CheckInNotFound",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(
            required=False, help_text="`not_a_fan` for an unknown phone."
        ),
        "register": serializers.CharField(required=False, help_text="Where to register the fan."),
    },
)


class GroupResultSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    participated = serializers.IntegerField()
    buyers = serializers.IntegerField()
    orders = serializers.IntegerField()
    sales = serializers.DecimalField(max_digits=14, decimal_places=2)
    conversion = serializers.FloatField(allow_null=True, help_text="buyers / size; null if empty.")


class ConversionDifferenceSerializer(serializers.Serializer):
    rate_contact = serializers.FloatField(allow_null=True)
    rate_holdout = serializers.FloatField(allow_null=True)
    difference = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(
        allow_null=True, help_text="95 % interval; null if a group is empty."
    )
    ci_high = serializers.FloatField(allow_null=True)


class CampaignResultsSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    frozen_at = serializers.DateTimeField(allow_null=True)
    audience = serializers.IntegerField()
    contacted = serializers.IntegerField()
    holdout = serializers.IntegerField()
    participated = serializers.IntegerField()
    participated_outside_audience = serializers.IntegerField()
    groups = inline_serializer(
        "CampaignResultGroups",
        {"contact": GroupResultSerializer(), "holdout": GroupResultSerializer()},
    )
    conversion_difference = ConversionDifferenceSerializer()


class CampaignListCreateApi(ScopedApi):
    """`GET /campaigns/`: the events of the caller's store(s); `POST`: plan one."""

    roles = MANAGERS

    class CampaignInSerializer(serializers.Serializer):
        code = serializers.SlugField(max_length=40)
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=Campaign.Kind.choices)
        stores = serializers.ListField(child=serializers.CharField(max_length=16), required=False)
        starts_on = serializers.DateField()
        ends_on = serializers.DateField()
        goal = serializers.CharField(required=False, allow_blank=True, default="")
        holdout_percent = serializers.IntegerField(
            min_value=0, max_value=HOLDOUT_MAX_PERCENT, default=10
        )
        seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
        message_template = serializers.CharField(required=False, allow_blank=True, default="")
        audience = AudienceFilterSerializer(required=False)

        def validate(self, data: dict) -> dict:
            if data["ends_on"] < data["starts_on"]:
                raise serializers.ValidationError(
                    {"ends_on": [_("The event cannot end before it starts.")]}
                )
            return data

    InputSerializer = CampaignInSerializer

    @extend_schema(
        tags=TAGS,
        operation_id="campaigns_list",
        responses={
            200: inline_serializer(
                "CampaignList", {"results": CampaignOutputSerializer(many=True)}
            ),
            **_errors(401, 403),
        },
    )
    def get(self, request: Request) -> Response:
        actor = self.actor
        campaigns = campaigns_visible_to(actor).prefetch_related("stores")
        return Response({"results": CampaignOutputSerializer(campaigns, many=True).data})

    @extend_schema(
        tags=TAGS,
        request=InputSerializer,
        responses={201: CampaignOutputSerializer, **_errors(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        actor = self.actor
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        campaign = services.create_campaign(
            actor=actor,
            code=data["code"],
            name=data["name"],
            kind=data["kind"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            store_codes=data.get("stores"),
            holdout_percent=data["holdout_percent"],
            seed=data.get("seed"),
            goal=data["goal"],
            message_template=data["message_template"],
            audience=data.get("audience"),
        )
        return Response(CampaignOutputSerializer(campaign).data, status=status.HTTP_201_CREATED)


def _campaign_for(actor: Actor, code: str) -> Campaign:
    return get_object_or_404(campaigns_visible_to(actor), code=code)


class CampaignDetailApi(ScopedApi):
    """`GET /campaigns/{code}/`: one event."""

    roles = MANAGERS

    @extend_schema(
        tags=TAGS,
        parameters=[CODE],
        responses={200: CampaignOutputSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request: Request, code: str) -> Response:
        actor = self.actor
        return Response(CampaignOutputSerializer(_campaign_for(actor, code)).data)


class CampaignAudienceApi(ScopedApi):
    """`POST /campaigns/{code}/audience/`: freeze the audience; answers the counts per rule."""

    roles = MANAGERS

    @extend_schema(
        tags=TAGS,
        parameters=[CODE],
        request=AudienceFilterSerializer,
        responses={200: AudienceFreezeReportSerializer, **_errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, code: str) -> Response:
        actor = self.actor
        campaign = _campaign_for(actor, code)
        if not can_change_campaign(actor=actor, campaign=campaign):
            raise PermissionDenied(_("Only headquarters changes an event of several stores."))
        payload = AudienceFilterSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            report = services.freeze_audience(
                campaign=campaign, audience=payload.validated_data, now=timezone.now()
            )
        except services.CampaignConflict as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(report)


class CampaignCheckInApi(ScopedApi):
    """`POST /campaigns/{code}/check-ins/`: 201 for the first check-in, 200 after."""

    roles = EVERYONE

    class CheckInInSerializer(serializers.Serializer):
        phone = serializers.CharField(max_length=32)

    InputSerializer = CheckInInSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[CODE],
        request=InputSerializer,
        responses={
            200: CheckInOutSerializer,
            201: CheckInOutSerializer,
            404: OpenApiResponse(
                NotFoundSerializer,
                description="Not a fan (`code: not_a_fan`), or an unknown or another store's event.",
            ),
            **_errors(400, 401),
        },
    )
    def post(self, request: Request, code: str) -> Response:
        actor = self.actor
        campaign = _campaign_for(actor, code)
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            customer = services.find_fan_for_check_in(phone=payload.validated_data["phone"])
        except DjangoValidationError as exc:
            return Response({"phone": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        except Customer.DoesNotExist:
            return Response(
                {
                    "detail": _(
                        "This phone is not a fan yet. Register the fan first with POST /api/v1/customers/."
                    ),
                    "code": "not_a_fan",
                    "register": "/api/v1/customers/",
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        is_pos = isinstance(actor, PosDevice)
        record, created = services.check_in(
            campaign=campaign,
            customer=customer,
            now=timezone.now(),
            by=None if is_pos else actor,
            pos_token=actor.token if is_pos else None,
        )
        mine = owns(actor, customer)  # a member of another store: no id, a masked name
        body = {
            "campaign": campaign.code,
            "customer": customer.pk if mine else None,
            "name": customer.name if mine else mask_name(customer.name),
            "checked_in_at": record.checked_in_at,
            "created": created,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CampaignResultsApi(ScopedApi):
    """`GET /campaigns/{code}/results/`: contacted vs hold-out, with the conversion difference."""

    roles = MANAGERS

    @extend_schema(
        tags=TAGS,
        parameters=[CODE],
        responses={200: CampaignResultsSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request: Request, code: str) -> Response:
        actor = self.actor
        campaign = _campaign_for(actor, code)
        services.refresh_event_tags(campaign=campaign)  # idempotent: late orders get tagged too
        return Response(campaign_results(campaign=campaign, actor=actor))
