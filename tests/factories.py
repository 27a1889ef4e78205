"""Plain factory functions: callers override only what a test is about."""

import itertools
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model

from customers.models import Customer, Order, Staff, Store

_seq = itertools.count(1)


def aware_dt(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A datetime in the store's local time zone (TIME_ZONE)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(settings.TIME_ZONE))


def make_store(**overrides) -> Store:
    n = next(_seq)
    fields = {
        "code": f"S{n:03d}",
        "name": f"门店{n}",
        "city": "杭州",
        "latitude": Decimal("30.274100"),
        "longitude": Decimal("120.155100"),
    }
    return Store.objects.create(**{**fields, **overrides})


def make_staff(
    *,
    store: Store | None = None,
    role: str = Staff.Role.GUIDE,
    password: str = "pass-1234-word",
    **overrides,
) -> Staff:
    n = next(_seq)
    user = get_user_model().objects.create_user(
        username=overrides.pop("username", f"user{n}"), password=password
    )
    if role != Staff.Role.HQ and store is None:
        store = make_store()
    fields = {"work_number": f"W{n:05d}", "name": overrides.pop("name", f"导购{n}")}
    return Staff.objects.create(user=user, store=store, role=role, **{**fields, **overrides})


def make_customer(*, store: Store | None = None, **overrides) -> Customer:
    n = next(_seq)
    fields = {"phone": f"139{n:08d}", "name": f"粉丝{n}"}
    return Customer.objects.create(store=store or make_store(), **{**fields, **overrides})


def make_order(*, customer: Customer, **overrides) -> Order:
    n = next(_seq)
    fields = {
        "store": customer.store,
        "external_id": f"POS-{n}",
        "amount": Decimal("599.00"),
        "paid_at": aware_dt(2026, 1, 15),
        "kind": Order.Kind.SALE,
    }
    fields.update(overrides)
    if isinstance(fields["amount"], str | int):
        fields["amount"] = Decimal(fields["amount"])
    return Order.objects.create(customer=customer, **fields)


def seed_migrated_rows() -> None:
    """Put back what the data migrations seeded (tag taxonomy, playbooks); idempotent.

    A transactional test ends with a flush that empties those tables too, so transactional tests
    that need them (browser tests) call this first.
    """
    import importlib

    from django.apps import apps

    for module in (
        "tagging.migrations.0002_seed_taxonomy",
        "tagging.migrations.0004_forecast_group",
        "campaigns.migrations.0002_seed_playbooks",
        "followups.migrations.0002_seed_rules",
        "followups.migrations.0005_due_soon",
    ):
        importlib.import_module(module).seed(apps, None)
