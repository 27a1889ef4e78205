"""Tags over /api/v1/ (SPEC §5): the taxonomy, a fan's tags, bulk tagging — through
`tagging.services` / `tagging.selectors`, on fans from `customers_visible_to`."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.actors import ScopedApi
from customers.selectors import customers_visible_to
from customers.serializers import to_drf_error
from fanops.api import EVERYONE, STAFF
from tagging import selectors, services
from tagging.models import Tag, TagGroup

MAX_ID = 2**63 - 1  # BigAutoField

ERRORS = {
    400: OpenApiResponse(description="Invalid input, e.g. an unknown or computed tag."),
    401: OpenApiResponse(description="No or bad credentials."),
    403: OpenApiResponse(description="Your role cannot do this."),
    404: OpenApiResponse(description="Unknown, or another store's."),
}


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["code", "name_zh", "name_en"]


class TagGroupSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = TagGroup
        fields = ["code", "name_zh", "name_en", "kind", "is_multi", "tags"]


class TagChangeInSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=120), required=False, default=list
    )


class TagBulkInSerializer(TagChangeInSerializer):
    customers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False
    )

    def validate_customers(self, value: list[int]) -> list[int]:
        limit = settings.API_BULK_TAG_MAX_CUSTOMERS
        if len(value) > limit:
            raise serializers.ValidationError(_("At most %(n)d fans at once.") % {"n": limit})
        return value


class TagGroupListApi(ScopedApi):
    """`GET /tag-groups/`: the company's one vocabulary (groups with their tags)."""

    roles = EVERYONE

    @extend_schema(tags=["tags"], responses={200: TagGroupSerializer(many=True), 401: ERRORS[401]})
    def get(self, request: Request) -> Response:
        return Response(TagGroupSerializer(selectors.tag_groups(), many=True).data)


class CustomerTagsApi(ScopedApi):
    """`POST /customers/{id}/tags/`: add/remove manual tags on one fan; answers her tags."""

    roles = STAFF

    @extend_schema(
        tags=["tags"],
        request=TagChangeInSerializer,
        responses={
            200: inline_serializer(
                "CustomerTagsOut", {"tags": serializers.ListField(child=serializers.CharField())}
            ),
            **{k: ERRORS[k] for k in (400, 401, 403, 404)},
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        customer = get_object_or_404(customers_visible_to(self.actor), pk=pk)
        payload = TagChangeInSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            services.change_tags(customer=customer, by=self.actor, **payload.validated_data)
        except DjangoValidationError as exc:
            raise _tag_error(exc) from None
        return Response({"tags": selectors.tags_by_customer([customer.pk]).get(customer.pk, [])})


class TagBulkApi(ScopedApi):
    """`POST /tags/bulk/`: the same change on up to 10 000 of the caller's fans."""

    roles = STAFF

    @extend_schema(
        tags=["tags"],
        request=TagBulkInSerializer,
        responses={
            200: inline_serializer("TagBulkOut", {"changed": serializers.IntegerField()}),
            **{k: ERRORS[k] for k in (400, 401, 403)},
        },
    )
    def post(self, request: Request) -> Response:
        payload = TagBulkInSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        ids = list(dict.fromkeys(payload.validated_data["customers"]))
        visible = set(
            customers_visible_to(self.actor).filter(pk__in=ids).values_list("pk", flat=True)
        )
        unknown = [i for i in ids if i not in visible]
        if unknown:
            raise exceptions.ValidationError(
                {
                    "customers": [
                        _("Unknown fans: %(ids)s.") % {"ids": ", ".join(map(str, unknown[:20]))}
                    ]
                }
            )
        try:
            changed = services.bulk_change_tags(
                customer_ids=ids,
                add=payload.validated_data["add"],
                remove=payload.validated_data["remove"],
                by=self.actor,
            )
        except DjangoValidationError as exc:
            raise _tag_error(exc) from None
        return Response({"changed": changed})


def _tag_error(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return to_drf_error(exc)
    return exceptions.ValidationError({"tags": exc.messages})
