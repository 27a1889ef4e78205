"""Campaign test helpers: fans with labels, events, past contacts."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from campaigns.models import AudienceMember, Campaign, Contact
from customers.models import Customer, CustomerLabels, Store
from tests.factories import make_customer

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))


def make_fan(
    *,
    store: Store,
    apple: str = "red",
    rfm_segment: str = "important_value",
    r_stage: str = "active",
    **fields,
) -> Customer:
    fan = make_customer(store=store, **fields)
    CustomerLabels.objects.create(
        customer=fan,
        apple=apple,
        rfm_segment=rfm_segment,
        r_stage=r_stage,
        remark_store_account=f"WXL-{fan.name}-VIP",
        remark_personal_account=f"{fan.name}-红苹果",
    )
    return fan


def make_campaign(*, stores: list[Store], code: str = "spring", **fields) -> Campaign:
    values = {
        "name": "春季新品会",
        "kind": Campaign.Kind.OFFLINE,
        "starts_on": date(2026, 3, 5),
        "ends_on": date(2026, 3, 8),
        "holdout_percent": 0,
        "seed": 42,
    }
    values.update(fields)
    campaign = Campaign.objects.create(code=code, **values)
    campaign.stores.set(stores)
    return campaign


def contacted_before(fan: Customer, *, frozen_at: datetime, code: str) -> None:
    """Record that `fan` was in the contact group of an event frozen at `frozen_at` (its member
    row and its row in the contact ledger, as a freeze writes them)."""
    past = make_campaign(stores=[fan.store], code=code, frozen_at=frozen_at)
    AudienceMember.objects.create(campaign=past, customer=fan, group=AudienceMember.Group.CONTACT)
    Contact.objects.create(
        customer=fan, campaign=past, channel="wechat", source="campaign", contacted_at=frozen_at
    )


def members(campaign: Campaign, group: str | None = None) -> set[int]:
    rows = AudienceMember.objects.filter(campaign=campaign)
    if group:
        rows = rows.filter(group=group)
    return set(rows.values_list("customer_id", flat=True))
