"""The input schema of a tag change (`{add, remove}`), whichever door it came through.

`POST /customers/{id}/tags/`, `POST /tags/bulk/` and the fan card's chips all hand their input to
`TagChangeSchema`, which returns a `TagChange`; `tagging.services` checks it against the
vocabulary (unknown, retired, computed tags, single-choice groups) and writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from customers.schemas import MAX_ID, Text


def split_ref(ref: str) -> tuple[str, str]:
    """'style:business' → ('style', 'business'); ValidationError if not shaped group:code."""
    group, sep, code = (ref or "").strip().partition(":")
    if not sep or not group or not code:
        raise ValidationError(
            _("“%(ref)s” is not a tag reference shaped group:code.") % {"ref": ref},
            code="bad_tag_ref",
        )
    return group, code


@dataclass(frozen=True)
class TagChange:
    """Tags ("group:code") to add and to remove, each once, none in both."""

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@extend_schema_serializer(component_name="TagChangeIn")
class TagChangeSchema(serializers.Serializer):
    add = serializers.ListField(child=Text(max_length=120), required=False, default=list)
    remove = serializers.ListField(child=Text(max_length=120), required=False, default=list)

    def validate(self, attrs: dict) -> TagChange:
        """Errors about the tags themselves are the change's (`tags`), as the service's are."""
        add, remove = tuple(dict.fromkeys(attrs["add"])), tuple(dict.fromkeys(attrs["remove"]))
        try:
            for ref in (*add, *remove):
                split_ref(ref)
        except ValidationError as exc:
            raise serializers.ValidationError({"tags": exc.messages}) from None
        both = set(add) & set(remove)
        if both:
            message = _("%(tags)s cannot be added and removed at once.") % {
                "tags": ", ".join(sorted(both))
            }
            raise serializers.ValidationError({"tags": [message]})
        return TagChange(add=add, remove=remove)


@extend_schema_serializer(component_name="TagBulkIn")
class TagBulkSchema(TagChangeSchema):
    """`POST /tags/bulk/`: the same change on many fans (ids)."""

    customers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=False
    )

    def validate_customers(self, value: list[int]) -> list[int]:
        limit = settings.API_BULK_TAG_MAX_CUSTOMERS
        if len(value) > limit:
            raise serializers.ValidationError(_("At most %(n)d fans at once.") % {"n": limit})
        return list(dict.fromkeys(value))

    def validate(self, attrs: dict) -> tuple[list[int], TagChange]:
        return attrs["customers"], super().validate(attrs)
