"""Writes for campaigns.

- `create_campaign`: plan an event (stores checked against what the actor runs).
- `freeze_audience`: match the filter, apply the do-not-disturb rules, split off the hold-out and
  save the list (set-based: one aggregate, one id fetch, one bulk insert).
- `check_in`: a fan took part (idempotent), tagged `participated:<code>`.
- `record_contact`: one row of the contact ledger (a follow-up done, a contact on the fan card).
- `refresh_event_tags`: tag participants who bought at the event `transacted:<code>` (set-based).
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime

import numpy as np
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from campaigns.models import (
    HOLDOUT_MAX_PERCENT,
    SEED_MAX,
    AudienceMember,
    Campaign,
    CheckIn,
    Contact,
    new_seed,
)
from campaigns.selectors import (
    AudienceFilter,
    audience_counts,
    clean_audience_filter,
    event_sales,
    holdout_mask,
    holdout_size,
    matched_with_rule_flags,
)
from customers.models import Customer, PosToken, Staff, Store
from customers.phones import mask_phone, normalize_phone
from customers.selectors import brand_member, stores_visible_to
from fanops import bulk
from tagging.services import add_event_tag, event_tags

logger = logging.getLogger(__name__)


RESERVED_CODES = frozenset({"new"})  # /campaigns/new/ is the create page


class CampaignConflict(Exception):
    """The request contradicts the event's state (answered 409)."""


def _clean_stores(*, actor: Staff, store_codes: list[str] | None) -> list[Store]:
    """The event's stores: all must be run by the actor; none given means the actor's own store(s)."""
    visible = stores_visible_to(actor).filter(is_active=True)
    if not store_codes:
        stores = list(visible)
        if not actor.is_hq:
            return stores
        if stores:
            return stores  # HQ without a choice: company-wide
        raise ValidationError({"stores": [_("Choose at least one store.")]})
    codes = list(dict.fromkeys(store_codes))
    stores = list(visible.filter(code__in=codes))
    unknown = sorted(set(codes) - {store.code for store in stores})
    if unknown:
        raise ValidationError(
            {
                "stores": [
                    _("You do not run these stores: %(codes)s.") % {"codes": ", ".join(unknown)}
                ]
            }
        )
    return stores


def validate_campaign_fields(
    *,
    code: str | None = None,
    starts_on: date,
    ends_on: date,
    holdout_percent: int,
    seed: int | None,
) -> None:
    errors: dict[str, list[str]] = {}
    if code is not None and code in RESERVED_CODES:
        errors["code"] = [_("This code is reserved; choose another.")]
    elif code is not None and Campaign.objects.filter(code=code).exists():
        errors["code"] = [_("An event with this code already exists.")]
    if ends_on < starts_on:
        errors["ends_on"] = [_("The event cannot end before it starts.")]
    if not 0 <= holdout_percent <= HOLDOUT_MAX_PERCENT:
        errors["holdout_percent"] = [
            _("The hold-out must be between 0 and %(max)s %%.") % {"max": HOLDOUT_MAX_PERCENT}
        ]
    if seed is not None and not 0 <= seed <= SEED_MAX:
        errors["seed"] = [_("The seed must be between 0 and %(max)s.") % {"max": SEED_MAX}]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_campaign(
    *,
    actor: Staff,
    code: str,
    name: str,
    kind: str,
    starts_on: date,
    ends_on: date,
    store_codes: list[str] | None = None,
    holdout_percent: int = 10,
    seed: int | None = None,
    goal: str = "",
    message_template: str = "",
    audience: dict | None = None,
) -> Campaign:
    """Plan an event. Nothing is saved when any field is refused (each error names its field)."""
    errors: dict[str, list[str]] = {}
    for check in (
        lambda: validate_campaign_fields(
            code=code,
            starts_on=starts_on,
            ends_on=ends_on,
            holdout_percent=holdout_percent,
            seed=seed,
        ),
        lambda: _clean_stores(actor=actor, store_codes=store_codes),
        lambda: clean_audience_filter(audience),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    stores = _clean_stores(actor=actor, store_codes=store_codes)
    campaign = Campaign.objects.create(
        code=code,
        name=name,
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
        holdout_percent=holdout_percent,
        seed=new_seed() if seed is None else seed,
        goal=goal,
        message_template=message_template,
        audience_filter=clean_audience_filter(audience).as_dict(),
        created_by=actor,
    )
    campaign.stores.set(stores)
    return campaign


def preview_audience(*, campaign: Campaign, audience: dict | None, now: datetime) -> dict:
    """The live count for a filter, as a freeze at `now` would report it (nothing is written)."""
    cleaned = clean_audience_filter(audience)
    return audience_counts(
        store_ids=list(campaign.stores.values_list("pk", flat=True)),
        kind=campaign.kind,
        audience=cleaned,
        holdout_percent=campaign.holdout_percent,
        now=now,
        campaign_id=campaign.pk,
    )


# Rows per COPY of a frozen audience: several chunks, so the next is formatted while PostgreSQL
# ingests one.
MEMBER_CHUNK = 25_000


def _insert_members(
    campaign_id: int, rows: list[tuple[int, int | None, str, str, str]], *, now: datetime
) -> None:
    """Bulk insert (customer_id, guide_id, group, apple, rfm_segment), and one ledger row per
    contacted member (the list goes out over WeChat): COPY on PostgreSQL."""
    contact = AudienceMember.Group.CONTACT.value
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        bulk.copy_rows(
            cursor,
            AudienceMember._meta.db_table,
            ["campaign_id", "customer_id", "guide_id", "group", "apple", "rfm_segment"],
            [(campaign_id, *row) for row in rows],
            chunk=MEMBER_CHUNK,
        )
        bulk.copy_rows(
            cursor,
            Contact._meta.db_table,
            ["campaign_id", "customer_id", "staff_id", "channel", "source", "contacted_at", "note"],
            [
                (
                    campaign_id,
                    row[0],
                    row[1],
                    Contact.Channel.WECHAT.value,
                    Contact.Source.CAMPAIGN.value,
                    at,
                    "",
                )
                for row in rows
                if row[2] == contact
            ],  # fmt: skip
            chunk=MEMBER_CHUNK,
        )


def apply_rules(rows: list[tuple], *, holdout_percent: int, seed: int) -> tuple[dict, list[tuple]]:
    """The do-not-disturb rules and the hold-out over the matched fans' flags (pure, vectorised).

    `rows` are `matched_with_rule_flags` tuples. A fan removed by several rules is counted under
    the first (out_of_town, contact_cap, opted_out); the rest are split into the hold-out and the
    contacts. Returns the SPEC §5 report and the member rows to insert.
    """
    n = len(rows)
    flags = np.array([row[4:7] for row in rows], dtype=bool).reshape(n, 3)
    out_of_town = flags[:, 0]
    capped = flags[:, 1] & ~out_of_town
    opted_out = flags[:, 2] & ~out_of_town & ~capped
    keep = ~(out_of_town | capped | opted_out)
    kept = [row for row, ok in zip(rows, keep.tolist(), strict=True) if ok]
    ids = np.fromiter((row[0] for row in kept), dtype=np.int64, count=len(kept))
    holdout_n = holdout_size(len(kept), holdout_percent)
    held_out = holdout_mask(ids, seed=seed, size=holdout_n)
    contact, holdout = AudienceMember.Group.CONTACT.value, AudienceMember.Group.HOLDOUT.value
    members = [
        (row[0], row[1], holdout if is_held else contact, row[2] or "", row[3] or "")
        for row, is_held in zip(kept, held_out.tolist(), strict=True)
    ]
    report = {
        "matched": n,
        "removed": {
            "out_of_town": int(out_of_town.sum()),
            "contact_cap": int(capped.sum()),
            "opted_out": int(opted_out.sum()),
        },
        "holdout": holdout_n,
        "contacts": len(kept) - holdout_n,
    }
    return report, members


def freeze_audience(
    *, campaign: Campaign, audience: dict | None, now: datetime, timings: dict | None = None
) -> dict:
    """Save the event's audience as it stands at `now`; returns the SPEC §5 report.

    Matched fans, minus the do-not-disturb removals (counted per rule), split into a hold-out of
    round(holdout_percent · n / 100) fans chosen by a hash of (seed, fan id) and the contacts.
    Freezing again replaces the list, until the first check-in (then `CampaignConflict`).
    Set-based: one query for the matched fans with their rule flags, rules and hold-out in numpy,
    one DELETE of a previous list and one COPY (bulk insert elsewhere). `timings` (optional)
    receives seconds per phase.
    """
    timings = {} if timings is None else timings
    cleaned: AudienceFilter = clean_audience_filter(audience)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if CheckIn.objects.filter(campaign=campaign).exists():
            raise CampaignConflict(
                _("Fans have checked in already; the audience can no longer change.")
            )
        started = time.perf_counter()
        rows = matched_with_rule_flags(
            store_ids=list(campaign.stores.values_list("pk", flat=True)),
            kind=campaign.kind,
            audience=cleaned,
            now=now,
            campaign_id=campaign.pk,
        )
        timings["select"] = time.perf_counter() - started
        started = time.perf_counter()
        report, members = apply_rules(
            rows, holdout_percent=campaign.holdout_percent, seed=campaign.seed
        )
        timings["rules"] = time.perf_counter() - started
        started = time.perf_counter()
        AudienceMember.objects.filter(campaign=campaign).delete()
        Contact.objects.filter(campaign=campaign).delete()
        timings["delete"] = time.perf_counter() - started
        started = time.perf_counter()
        _insert_members(campaign.pk, members, now=now)
        campaign.audience_filter = cleaned.as_dict()
        campaign.frozen_at = now
        campaign.freeze_report = report
        campaign.save(update_fields=["audience_filter", "frozen_at", "freeze_report", "updated_at"])
        timings["insert"] = time.perf_counter() - started
        started = time.perf_counter()
    timings["commit"] = time.perf_counter() - started  # deferred foreign-key checks run here
    logger.info("campaign %s frozen: %s", campaign.code, report)
    return report


def find_fan_for_check_in(*, phone: str) -> Customer:
    """The brand's member with this phone, whichever store owns her (a fan of another store takes
    part in an event here too; answer her as `member_card`); `Customer.DoesNotExist` if none."""
    member = brand_member(normalize_phone(phone))  # raises ValidationError(code="invalid_phone")
    if member is None:
        raise Customer.DoesNotExist
    return member


def check_in(
    *,
    campaign: Campaign,
    customer: Customer,
    now: datetime,
    by: Staff | None = None,
    pos_token: PosToken | None = None,
) -> tuple[CheckIn, bool]:
    """Record that a fan took part; a second check-in changes nothing. Returns (check-in, created).

    The fan gets `participated:<code>` and, when they already bought at the event,
    `transacted:<code>`.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = CheckIn.objects.create(
                    campaign=campaign,
                    customer=customer,
                    checked_in_at=now,
                    by=by,
                    pos_token=pos_token,
                )
            created = True
        except IntegrityError:
            record = CheckIn.objects.get(campaign=campaign, customer=customer)
            created = False
        participated, _transacted = event_tags(event_code=campaign.code, event_name=campaign.name)
        add_event_tag(tag=participated, customer_ids=[customer.pk])
        refresh_event_tags(campaign=campaign, customer_ids=[customer.pk])
    if created:
        logger.info("campaign %s: check-in of %s", campaign.code, mask_phone(customer.phone))
    return record, created


def refresh_event_tags(*, campaign: Campaign, customer_ids: list[int] | None = None) -> int:
    """Tag every participant `participated:<code>`, and those with a sale at an event store inside
    the event's local dates `transacted:<code>`. Idempotent and set-based; returns the buyers.
    """
    participated, transacted = event_tags(event_code=campaign.code, event_name=campaign.name)
    participants = CheckIn.objects.filter(campaign=campaign)
    if customer_ids is not None:
        participants = participants.filter(customer_id__in=customer_ids)
    participant_ids = list(participants.values_list("customer_id", flat=True))
    if not participant_ids:
        return 0
    if customer_ids is None:
        add_event_tag(tag=participated, customer_ids=participant_ids)
    buyer_ids = list(
        event_sales(campaign)
        .filter(customer_id__in=participants.values("customer_id"))
        .values_list("customer_id", flat=True)
        .distinct()
    )
    if buyer_ids:
        add_event_tag(tag=transacted, customer_ids=buyer_ids)
    return len(buyer_ids)


def record_contact(
    *,
    customer: Customer,
    staff: Staff | None,
    channel: str,
    source: str,
    at: datetime,
    note: str = "",
) -> Contact:
    """Write one contact with a fan to the ledger every contact cap counts."""
    if channel not in Contact.Channel.values:
        raise ValidationError(
            {
                "channel": [
                    _("Choose one of: %(codes)s.") % {"codes": ", ".join(Contact.Channel.values)}
                ]
            }
        )
    return Contact.objects.create(
        customer=customer, staff=staff, channel=channel, source=source, contacted_at=at, note=note
    )
