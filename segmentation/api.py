"""Apple quotas, segment summaries and relabel runs over /api/v1/ (SPEC §5), read through
`segmentation.selectors` on stores and fans from `customers.selectors`."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from customers.actors import ScopedApi, ScopedListApi
from customers.selectors import customers_visible_to, stores_visible_to
from fanops.api import HQ_ONLY, MANAGERS, STAFF
from segmentation import selectors, services, tasks
from segmentation.models import RelabelRun

ERRORS = {
    400: OpenApiResponse(description="Invalid input."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, or another store's."),
}


def _errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


class TierSerializer(serializers.Serializer):
    apple = serializers.CharField()
    target = serializers.IntegerField()
    actual = serializers.IntegerField()
    gap = serializers.IntegerField()


class StoreQuotaSerializer(serializers.Serializer):
    store = serializers.CharField()
    as_of = serializers.DateField(allow_null=True)
    tiers = TierSerializer(many=True)


class CompanyQuotaRowSerializer(serializers.Serializer):
    store = serializers.CharField()
    name = serializers.CharField()
    tiers = TierSerializer(many=True)


class CompanyQuotaSerializer(serializers.Serializer):
    as_of = serializers.DateField(allow_null=True)
    tiers = TierSerializer(many=True)
    stores = CompanyQuotaRowSerializer(many=True)


class SegmentSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    apple = serializers.DictField(child=serializers.IntegerField())
    rfm_segment = serializers.DictField(child=serializers.IntegerField())
    r_stage = serializers.DictField(child=serializers.IntegerField())
    membership = serializers.DictField(child=serializers.IntegerField())


class RelabelRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = RelabelRun
        fields = [
            "id",
            "as_of",
            "status",
            "started_at",
            "finished_at",
            "fans_labelled",
            "change_counts",
            "error",
        ]


class StoreAppleQuotaApi(ScopedApi):
    """`GET /stores/{code}/apple-quota/`: target vs actual per apple tier."""

    roles = STAFF

    @extend_schema(tags=["labels"], responses={200: StoreQuotaSerializer, **_errors(401, 403, 404)})
    def get(self, request: Request, code: str) -> Response:
        store = get_object_or_404(stores_visible_to(self.actor), code=code)
        return Response(StoreQuotaSerializer(selectors.apple_quota_for_store(store=store)).data)


class CompanyAppleQuotaApi(ScopedApi):
    """`GET /apple-quota/`: company totals and a row per store (managers and HQ)."""

    roles = MANAGERS

    @extend_schema(tags=["labels"], responses={200: CompanyQuotaSerializer, **_errors(401, 403)})
    def get(self, request: Request) -> Response:
        return Response(CompanyQuotaSerializer(selectors.company_apple_quota()).data)


class SegmentSummaryApi(ScopedApi):
    """`GET /segments/summary/?store=`: fans per segment, stage, apple and membership."""

    roles = STAFF

    @extend_schema(
        tags=["labels"],
        parameters=[
            OpenApiParameter("store", str, description="A store code (default: all yours).")
        ],
        responses={200: SegmentSummarySerializer, **_errors(401, 403, 404)},
    )
    def get(self, request: Request) -> Response:
        customers = customers_visible_to(self.actor)
        code = request.query_params.get("store")
        if code:
            store = get_object_or_404(stores_visible_to(self.actor), code=code)
            customers = customers.filter(store=store)
        return Response(
            SegmentSummarySerializer(selectors.segment_summary(customers=customers)).data
        )


class RelabelApi(ScopedApi):
    """`POST /relabel/` (HQ): queue a relabel run for `as_of` (default today) → 202."""

    roles = HQ_ONLY

    @extend_schema(
        tags=["labels"],
        request=inline_serializer(
            "RelabelIn",
            {
                "as_of": serializers.DateField(
                    required=False,
                    help_text="Default today; from 1990-01-01 to a year after today.",
                )
            },
        ),
        responses={
            202: inline_serializer(
                "RelabelQueued",
                {"run_id": serializers.IntegerField(), "as_of": serializers.DateField()},
            ),
            **_errors(400, 401, 403),
        },
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        as_of = services.parse_as_of(data.get("as_of"))  # ValidationError → 400
        run = tasks.queue_relabel(as_of=as_of)
        return Response(
            {"run_id": run.pk, "as_of": as_of.isoformat()}, status=status.HTTP_202_ACCEPTED
        )


class RelabelRunListApi(ScopedListApi):
    """`GET /relabel-runs/` (HQ): run history, newest first."""

    roles = HQ_ONLY
    serializer_class = RelabelRunSerializer
    filter_backends: list = []

    def get_queryset(self):
        return RelabelRun.objects.order_by("-started_at", "-id")

    @extend_schema(
        tags=["labels"], responses={200: RelabelRunSerializer(many=True), **_errors(401, 403)}
    )
    def get(self, request, *args, **kwargs):
        services.fail_interrupted_runs()  # a run killed mid-way is not shown `running`
        return super().get(request, *args, **kwargs)
