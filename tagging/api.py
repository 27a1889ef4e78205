"""Tags over /api/v1/ (SPEC §5): the taxonomy, a fan's tags, bulk tagging — through
`tagging.services` / `tagging.selectors`, on fans from `customers_visible_to`."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from customers.actors import ScopedApi
from customers.schemas import validate_input
from customers.selectors import customers_visible_to
from customers.serializers import api_error
from fanops.api import EVERYONE, STAFF
from tagging import selectors, services
from tagging.models import Tag, TagGroup
from tagging.schemas import TagBulkSchema, TagChangeSchema

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
        request=TagChangeSchema,
        responses={
            200: inline_serializer(
                "CustomerTagsOut", {"tags": serializers.ListField(child=serializers.CharField())}
            ),
            **{k: ERRORS[k] for k in (400, 401, 403, 404)},
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        customer = get_object_or_404(customers_visible_to(self.actor), pk=pk)
        try:
            change = validate_input(TagChangeSchema(), request.data)
            services.change_tags(customer=customer, change=change, by=self.actor)
        except DjangoValidationError as exc:
            raise _tag_error(exc) from None
        return Response({"tags": selectors.tags_by_customer([customer.pk]).get(customer.pk, [])})


class TagBulkApi(ScopedApi):
    """`POST /tags/bulk/`: the same change on up to 10 000 of the caller's fans."""

    roles = STAFF

    @extend_schema(
        tags=["tags"],
        request=TagBulkSchema,
        responses={
            200: inline_serializer("TagBulkOut", {"changed": serializers.IntegerField()}),
            **{k: ERRORS[k] for k in (400, 401, 403)},
        },
    )
    def post(self, request: Request) -> Response:
        try:
            ids, change = validate_input(TagBulkSchema(), request.data)
        except DjangoValidationError as exc:
            raise _tag_error(exc) from None
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
            changed = services.bulk_change_tags(customer_ids=ids, change=change, by=self.actor)
        except DjangoValidationError as exc:
            raise _tag_error(exc) from None
        return Response({"changed": changed})


def _tag_error(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return api_error(exc)
    return exceptions.ValidationError({"tags": exc.messages})
