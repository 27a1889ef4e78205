"""The follow-ups list's query parameters (`GET /api/v1/follow-ups/`)."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from customers.filters import guides_choice
from followups.models import FollowUp, Reason


class FollowUpFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=FollowUp.Status.choices)
    reason = django_filters.ChoiceFilter(choices=Reason.choices)
    due_before = django_filters.DateFilter(
        field_name="due_on", lookup_expr="lte", label=_("due on or before")
    )
    guide = django_filters.ModelChoiceFilter(
        queryset=guides_choice, to_field_name="work_number", label=_("guide's work number")
    )

    class Meta:
        model = FollowUp
        fields = ["status", "reason", "due_before", "guide"]
