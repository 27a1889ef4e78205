"""Reads behind the campaign pages: the event page, check-in, the results chart.

Events come from `campaigns_visible_to(actor)` (another store's event is a 404); the numbers from
`campaigns.selectors` and the live count from `campaigns.services.preview_audience`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from campaigns.models import AudienceMember, Campaign, Playbook
from campaigns.selectors import (
    campaign_results,
    campaigns_visible_to,
    can_change_campaign,
    playbooks_for_filter,
)
from campaigns.services import preview_audience
from customers.models import Staff, Store
from customers.selectors import mask_name, owns, staff_visible_to

RECENT_CHECK_INS = 20
GROUPS = ("contact", "holdout")


def campaigns_for_pages(staff: Staff) -> QuerySet[Campaign]:
    return campaigns_visible_to(staff).prefetch_related("stores")


@dataclass(frozen=True)
class CampaignPage:
    can_change: bool
    preview: dict | None  # the live count of the saved filter, for those who may change it
    has_check_ins: bool
    playbooks: list[Playbook]
    guides: list[Staff]  # whose contact lists a manager or HQ can download


def campaign_page(*, staff: Staff, campaign: Campaign, now: datetime) -> CampaignPage:
    can_change = can_change_campaign(actor=staff, campaign=campaign)
    preview = None
    if can_change:
        try:
            preview = preview_audience(
                campaign=campaign, audience=campaign.audience_filter, now=now
            )
        except ValidationError:
            preview = None  # a tag retired since: the builder shows the filter to fix
    guides = []
    if staff.role != Staff.Role.GUIDE:
        guides = list(
            staff_visible_to(staff).filter(
                pk__in=AudienceMember.objects.filter(campaign=campaign).values("guide_id")
            )
        )
    return CampaignPage(
        can_change=can_change,
        preview=preview,
        has_check_ins=campaign.check_ins.exists(),
        playbooks=playbooks_for_filter(campaign.audience_filter),
        guides=guides,
    )


def registration_store(*, staff: Staff, campaign: Campaign) -> Store | None:
    """Where a walk-in who is not a fan yet gets registered: the staff's store, or the event's
    only store (HQ at a one-store event); None when there is no single answer."""
    if staff.store_id is not None:
        return staff.store
    stores = list(campaign.stores.all())
    return stores[0] if len(stores) == 1 else None


@dataclass(frozen=True)
class RecentCheckIn:
    name: str
    phone_masked: str
    checked_in_at: datetime


def recent_check_ins(*, staff: Staff, campaign: Campaign) -> list[RecentCheckIn]:
    """The latest check-ins; a member another store owns shows as her member card (masked)."""
    shown = []
    for record in campaign.check_ins.select_related("customer")[:RECENT_CHECK_INS]:
        customer = record.customer
        name = customer.name if owns(staff, customer) else mask_name(customer.name)
        shown.append(RecentCheckIn(name, customer.phone_masked, record.checked_in_at))
    return shown


@dataclass(frozen=True)
class ResultsPage:
    results: dict
    chart: dict


def results_page(*, staff: Staff, campaign: Campaign) -> ResultsPage:
    """Contact vs hold-out: conversion and participation in percent, for the chart."""
    results = campaign_results(campaign=campaign, actor=staff)
    groups = results["groups"]
    return ResultsPage(
        results=results,
        chart={
            "labels": [
                str(AudienceMember.Group.CONTACT.label),
                str(AudienceMember.Group.HOLDOUT.label),
            ],
            "conversion": [round((groups[g]["conversion"] or 0) * 100, 2) for g in GROUPS],
            "participation": [
                round(groups[g]["participated"] * 100 / groups[g]["size"], 2)
                if groups[g]["size"]
                else 0
                for g in GROUPS
            ],
        },
    )
