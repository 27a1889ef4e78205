"""Input of follow-ups and contacts: one serializer per thing written, used by the API and the
pages alike (what is documented in /api/v1/schema/ is what is checked)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from campaigns.models import Contact

NOTE_MAX = 1000


class CompleteIn(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Contact.Channel.choices)
    reached = serializers.BooleanField()
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")


class SnoozeIn(serializers.Serializer):
    until = serializers.DateField(help_text=_("The day it comes back (tomorrow to 30 days)."))


class SkipIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, help_text=_("Why it is not worth doing."))


class ContactIn(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Contact.Channel.choices)
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")


def validated(schema: type[serializers.Serializer], data) -> dict:
    """The schema's validated data, or DRF's ValidationError ({field: [messages]}: a 400)."""
    payload = schema(data=data)
    payload.is_valid(raise_exception=True)
    return payload.validated_data


def error_text(detail) -> str:
    """DRF's error detail ({field: [messages]}, lists, strings) as one line for a page."""
    if isinstance(detail, dict):
        return " ".join(error_text(value) for value in detail.values())
    if isinstance(detail, list):
        return " ".join(error_text(value) for value in detail)
    return str(detail)
