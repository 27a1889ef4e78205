"""FilterSets of the customers layer (orders) and the scoped choice lists every FilterSet shares.

Every choice list is scoped to the caller (`customers.selectors`); the fan FilterSet, which
filters by tags too, is `web.filters.CustomerFilter`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import django_filters
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.actors import actor_of_user
from customers.models import Order, Staff, Store
from customers.selectors import staff_visible_to, stores_visible_to


def _actor(request):
    return actor_of_user(getattr(request, "user", None)) if request is not None else None


def guides_choice(request):
    actor = _actor(request)
    if actor is None:  # schema generation
        return Staff.objects.none()
    return staff_visible_to(actor)


def stores_choice(request):
    actor = _actor(request)
    if actor is None:
        return Store.objects.none()
    return stores_visible_to(actor)


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class OrderFilter(django_filters.FilterSet):
    customer = IntegerFilter(field_name="customer_id", min_value=1, max_value=2**63 - 1)
    since = django_filters.DateFilter(
        method="filter_since", label=_("paid on or after (local date)")
    )
    until = django_filters.DateFilter(
        method="filter_until", label=_("paid on or before (local date)")
    )

    class Meta:
        model = Order
        fields = ["customer", "since", "until"]

    def filter_since(self, queryset, name, value):
        return queryset.filter(paid_at__gte=_local_midnight(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(paid_at__lt=_local_midnight(value + timedelta(days=1)))


def _local_midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))
