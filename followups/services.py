"""Writes of follow-ups: the nightly generation, and a guide's done / snooze / skip.

- `generate_follow_ups(*, as_of, now)`: after the night's relabel, expire what waited too long,
  reopen what was snoozed until today, and create the day's follow-ups of every enabled reason —
  one `INSERT … SELECT … ON CONFLICT DO NOTHING` per reason over the due dates since the rule's
  high water, so a rerun creates nothing and no fan gets two pending follow-ups of a reason.
- `complete_follow_up`, `snooze_follow_up`, `skip_follow_up`: a guide's answer; completing writes
  the contact to the ledger (`campaigns.services.record_contact`) and is idempotent.

The rules are docs/follow-ups.md's; every date is passed in (`as_of`, `now`), never read here.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateField,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, NullIf, Replace
from django.utils.translation import gettext as _

from campaigns.models import Contact, Playbook
from campaigns.selectors import capped_customer_ids, contacts_within
from campaigns.services import record_contact
from customers.models import Customer, Order, Staff
from fanops.vocabulary import Forecast, RStage
from followups.models import FollowUp, FollowUpRule, Reason
from segmentation import rules
from segmentation.models import LabelChange, RelabelRun
from segmentation.selectors import apple_upgrades, local_day_start
from tagging.selectors import birthdays_on, remark_mismatches

logger = logging.getLogger(__name__)

SNOOZE_MAX_DAYS = 30
STAGE_DROPS = (RStage.SLEEPING, RStage.PRE_CHURN)


class FollowUpConflict(Exception):
    """The follow-up is no longer open (skipped or expired): answered 409."""


# --- date arithmetic both databases agree on ----------------------------------------------------


class AddDays(Func):
    """date + n days (n an integer expression) as a date."""

    output_field = DateField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: date + integer
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" + ")

    def as_sqlite(self, compiler, connection, **extra):  # date(d, '+' || n || ' days')
        return super().as_sql(
            compiler,
            connection,
            template="date(%(expressions)s || ' days')",
            arg_joiner=", '+' || ",
        )


class DaysBetween(Func):
    """(later − earlier) in whole days, as an integer."""

    output_field = IntegerField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ")

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(julianday(%(expressions)s) AS INTEGER)",
            arg_joiner=") - julianday(",
        )


def _iso(expression) -> Cast:
    """A date as its ISO text (both databases print dates as YYYY-MM-DD)."""
    return Cast(expression, CharField())


# --- the day's candidates per reason ------------------------------------------------------------


def _message(rule: FollowUpRule):
    """The reason's template, else her segment's playbook message; `{name}` filled in SQL."""
    if rule.message_template:
        template = Value(rule.message_template)
    else:
        playbook = Playbook.objects.filter(rfm_segment=OuterRef("labels__rfm_segment"))
        template = Coalesce(
            Subquery(playbook.values("default_message")[:1]), Value(""), output_field=TextField()
        )
    return Replace(template, Value("{name}"), F("name"), output_field=TextField())


def _candidates(
    fans: QuerySet[Customer], *, rule: FollowUpRule, occasion, due, message=None
) -> QuerySet:
    """The SELECT a reason's INSERT reads: fan, guide, store, occasion, due date, message."""
    return fans.values(
        f_customer=F("pk"),
        f_guide=F("guide_id"),
        f_store=F("store_id"),
        f_occasion=occasion,
        f_due=due,
        f_message=_message(rule) if message is None else message,
    )


def due_from(rule: FollowUpRule, *, as_of: date) -> date:
    """The first due date a run for `as_of` considers: the day the rule last generated for
    (rerun: that day again; a missed night: every day since), never one already expired."""
    oldest = as_of - timedelta(days=expire_days() - 1)
    last = rule.generated_through
    return max(oldest, last) if last is not None and last <= as_of else oldest


def _due_between(due: str, *, since: date, as_of: date) -> Q:
    return Q(**{f"{due}__gte": since, f"{due}__lte": as_of})


def after_sale_care(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """`days` after her last sale (seed 003's 回访). The sales of those days are found by date
    (an index range on the orders), then the fans whose last sale it still is."""
    first, last = since - timedelta(days=rule.days), as_of - timedelta(days=rule.days)
    sales = Order.objects.filter(
        kind=Order.Kind.SALE,
        paid_at__gte=local_day_start(first),
        paid_at__lt=local_day_start(last + timedelta(days=1)),
    )
    fans = fans.filter(
        pk__in=sales.values("customer_id"),
        labels__last_sale__gte=first,
        labels__last_sale__lte=last,
    ).annotate(care_on=AddDays(F("labels__last_sale"), Value(rule.days)))
    return [_candidates(fans, rule=rule, occasion=_iso("labels__last_sale"), due=F("care_on"))]


def repurchase_nudge(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """Her usual gap since her last sale has passed: the rhythm's mean gap (last − first sale in
    the window) / (sales in the window − 1), rounded up to a whole day; `days` for single buyers."""
    span = DaysBetween(F("labels__last_sale"), F("labels__window_first_sale"))
    repeat = Q(labels__frequency__gte=2)
    gap = Case(
        When(repeat, then=(span + F("labels__frequency") - 2) / (F("labels__frequency") - 1)),
        default=Value(rule.days),
        output_field=IntegerField(),
    )
    # A gap is at most the window (365 days) or `days`: bounds the scan of last sales.
    longest = max(rule.days, rules.WINDOW_DAYS)
    fans = fans.filter(
        labels__last_sale__gte=since - timedelta(days=longest),
        labels__last_sale__lt=as_of,
    ).annotate(nudge_on=AddDays(F("labels__last_sale"), gap))
    fans = fans.filter(_due_between("nudge_on", since=since, as_of=as_of))
    return [_candidates(fans, rule=rule, occasion=_iso("labels__last_sale"), due=F("nudge_on"))]


def birthday(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """`days` before her next birthday (lunar ones converted); her occasion is the Gregorian
    date it falls on. One query for the birthdays whose follow-up fell due since `since`."""
    first = max(as_of, since + timedelta(days=rule.days))
    days = [
        first + timedelta(days=n)
        for n in range((as_of + timedelta(days=rule.days) - first).days + 1)
    ]
    if not days:
        return []
    matches = Q(pk__in=[])
    for day in days:
        matches |= birthdays_on(day)
    occasion = Case(
        *(When(birthdays_on(day), then=Value(day.isoformat())) for day in days),
        output_field=CharField(),
    )
    due = Value(as_of, output_field=DateField())
    return [_candidates(fans.filter(matches), rule=rule, occasion=occasion, due=due)]


def _recent_runs() -> list[int]:
    """The last two succeeded runs: a label the tills moved live is recorded under the run
    before tonight's, after that night's follow-ups were generated."""
    return list(
        RelabelRun.objects.filter(status=RelabelRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .values_list("pk", flat=True)[:2]
    )


def _changed(fans, *, rule: FollowUpRule, as_of: date, changes: QuerySet) -> list[QuerySet]:
    """The fans `changes` names, per recent run (the run is the occasion: one per change)."""
    due = Value(as_of + timedelta(days=rule.days), output_field=DateField())
    return [
        _candidates(
            fans.filter(pk__in=changes.filter(run_id=run_id).values("customer_id")),
            rule=rule,
            occasion=Value(f"run:{run_id}"),
            due=due,
        )
        for run_id in _recent_runs()
    ]


def stage_drop(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """Moved to sleeping or pre-churn by the night's run."""
    changes = LabelChange.objects.filter(group=LabelChange.Group.R_STAGE, to_code__in=STAGE_DROPS)
    return _changed(fans, rule=rule, as_of=as_of, changes=changes)


def apple_upgrade(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """Her apple went up (blossom < green < yellow < red < golden): congratulate her."""
    changes = LabelChange.objects.filter(apple_upgrades(), group=LabelChange.Group.APPLE)
    return _changed(fans, rule=rule, as_of=as_of, changes=changes)


def due_soon(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """The purchase model now expects her next purchase soon (forecast moved to due_soon): a
    nudge before she buys elsewhere."""
    changes = LabelChange.objects.filter(
        group=LabelChange.Group.FORECAST, to_code=Forecast.DUE_SOON
    )
    return _changed(fans, rule=rule, as_of=as_of, changes=changes)


def remark_update(fans, *, rule: FollowUpRule, as_of: date, since: date) -> list[QuerySet]:
    """Her WeChat remark (as last recorded) is not the standard: one follow-up per standard, whose
    message is the standard remark name to copy into WeChat."""
    fans = remark_mismatches(customers=fans)
    due = Value(as_of + timedelta(days=rule.days), output_field=DateField())
    standard = Coalesce(
        NullIf(F("standard_store_remark"), Value("")), F("standard_personal_remark")
    )
    return [_candidates(fans, rule=rule, occasion=standard, due=due, message=standard)]


GENERATORS = {
    Reason.AFTER_SALE_CARE: after_sale_care,
    Reason.REPURCHASE_NUDGE: repurchase_nudge,
    Reason.BIRTHDAY: birthday,
    Reason.STAGE_DROP: stage_drop,
    Reason.APPLE_UPGRADE: apple_upgrade,
    Reason.REMARK_UPDATE: remark_update,
    Reason.DUE_SOON: due_soon,
}


# --- generation ---------------------------------------------------------------------------------


def expire_days() -> int:
    return settings.FOLLOW_UP_EXPIRE_DAYS


def contactable_fans(*, now: datetime) -> QuerySet[Customer]:
    """Fans a follow-up may be made for: not do-not-contact, and under the weekly cap of the
    contact ledger (any source)."""
    week = contacts_within(since=now - timedelta(days=7), until=now)
    capped = capped_customer_ids(week, cap=settings.FOLLOW_UP_WEEKLY_CAP)
    return Customer.objects.filter(do_not_contact=False).exclude(pk__in=capped).order_by()


def _holdout_sql(*, reason: str, as_of: date) -> tuple[str, list]:
    """A seeded hash of (fan, reason, day) below the hold-out share: the same follow-ups are held
    out on every rerun, and each reason's share is FOLLOW_UP_HOLDOUT_PERCENT on average."""
    sql = (
        "(((hashtextextended(CAST(c.f_customer AS TEXT) || %s, %s) %% 10000) + 10000) %% 10000)"
        " < %s"
    )
    return sql, [
        f":{reason}:{as_of.isoformat()}",
        settings.FOLLOW_UP_HOLDOUT_SEED,
        settings.FOLLOW_UP_HOLDOUT_PERCENT * 100,
    ]


def _insert(candidates: QuerySet, *, reason: str, as_of: date, now: datetime) -> int:
    """INSERT … SELECT the candidates; a fan's existing follow-up for the same occasion, or a
    pending one of the reason, makes hers a no-op (ON CONFLICT DO NOTHING)."""
    select, params = candidates.query.sql_with_params()
    holdout, holdout_params = _holdout_sql(reason=reason, as_of=as_of)
    stamp = connection.ops.adapt_datetimefield_value(now)
    table = connection.ops.quote_name(FollowUp._meta.db_table)
    sql = f"""
        INSERT INTO {table} (customer_id, guide_id, store_id, occasion, due_on, message, reason,
                             status, is_holdout, skip_reason, channel, note, created_at, updated_at)
        SELECT c.f_customer, c.f_guide, c.f_store, c.f_occasion, c.f_due, c.f_message, %s,
               %s, {holdout}, '', '', '', %s, %s
          FROM ({select}) c
         WHERE true
        ON CONFLICT DO NOTHING
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [reason, FollowUp.Status.OPEN, *holdout_params, stamp, stamp, *params],
        )
        return max(cursor.rowcount, 0)


# The reasons by their cost at 1M fans, dearest first: two workers share them out evenly.
BY_COST = [Reason.REPURCHASE_NUDGE, Reason.AFTER_SALE_CARE, Reason.REMARK_UPDATE,
           Reason.STAGE_DROP, Reason.DUE_SOON, Reason.BIRTHDAY, Reason.APPLE_UPGRADE]  # fmt: skip
WORKERS = 2


def _generate_reason(rule_id: int, *, as_of: date, now: datetime) -> tuple[str, int, float]:
    """One reason's follow-ups and its high water, in one transaction of its own (a reason's
    INSERT is idempotent by itself: the reasons need not wait for each other)."""
    started = time.perf_counter()
    fans = contactable_fans(now=now)
    with transaction.atomic():
        rule = FollowUpRule.objects.select_for_update().get(pk=rule_id)
        since = due_from(rule, as_of=as_of)
        created = 0
        for candidates in GENERATORS[rule.reason](fans, rule=rule, as_of=as_of, since=since):
            created += _insert(candidates, reason=rule.reason, as_of=as_of, now=now)
        if rule.generated_through is None or rule.generated_through < as_of:
            FollowUpRule.objects.filter(pk=rule.pk).update(generated_through=as_of)
    return rule.reason, created, time.perf_counter() - started


def _on_own_connection(rule_id: int, *, as_of: date, now: datetime) -> tuple[str, int, float]:
    try:
        return _generate_reason(rule_id, as_of=as_of, now=now)
    finally:
        connection.close()  # this worker thread's own connection


def generate_follow_ups(
    *, as_of: date, now: datetime, timings: dict[str, float] | None = None
) -> dict[str, int]:
    """The day's follow-ups, after the relabel for `as_of`: returns {"expired", "reopened",
    reason: created}. Set-based and idempotent (docs/follow-ups.md). On PostgreSQL outside a
    transaction the reasons run on WORKERS connections at once (inside one, as in the tests,
    one after the other: another connection would not see its rows). `timings` (optional)
    receives seconds per step (the reasons' overlap: "reasons" is their wall time)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    with transaction.atomic():
        pending = FollowUp.objects.filter(status__in=FollowUp.PENDING)
        counts = {
            "expired": pending.filter(due_on__lte=as_of - timedelta(days=expire_days())).update(
                status=FollowUp.Status.EXPIRED, updated_at=now
            ),
            "reopened": FollowUp.objects.filter(
                status=FollowUp.Status.SNOOZED, snoozed_until__lte=as_of
            ).update(status=FollowUp.Status.OPEN, updated_at=now),
        }
    timings["expire"] = time.perf_counter() - started
    started = time.perf_counter()
    enabled = dict(FollowUpRule.objects.filter(is_enabled=True).values_list("reason", "pk"))
    rule_ids = [enabled[reason] for reason in BY_COST if reason in enabled]
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(partial(_on_own_connection, as_of=as_of, now=now), rule_ids))
    else:
        results = [_generate_reason(rule_id, as_of=as_of, now=now) for rule_id in rule_ids]
    for reason, created, seconds in sorted(results):
        counts[reason] = created
        timings[reason] = seconds
    timings["reasons"] = time.perf_counter() - started
    logger.info("follow-ups for %s: %s", as_of, counts)
    return counts


# --- a guide's answer ---------------------------------------------------------------------------


def _locked(follow_up: FollowUp) -> FollowUp:
    return FollowUp.objects.select_for_update().get(pk=follow_up.pk)


def _check_pending(follow_up: FollowUp) -> None:
    if follow_up.status not in FollowUp.PENDING:
        raise FollowUpConflict(
            _("This follow-up is %(status)s; it can no longer change.")
            % {"status": follow_up.get_status_display()}
        )


@transaction.atomic
def complete_follow_up(
    *, follow_up: FollowUp, by: Staff, channel: str, reached: bool, note: str, now: datetime
) -> tuple[FollowUp, bool]:
    """Record the follow-up done and its contact in the ledger. Completing again changes nothing
    and returns the first completion: (follow-up, whether this call completed it)."""
    follow_up = _locked(follow_up)
    if follow_up.status == FollowUp.Status.DONE:
        return follow_up, False
    _check_pending(follow_up)
    contact = record_contact(
        customer=follow_up.customer,
        staff=by,
        channel=channel,
        source=Contact.Source.FOLLOW_UP,
        at=now,
        note=note,
    )
    follow_up.status = FollowUp.Status.DONE
    follow_up.completed_at = now
    follow_up.completed_by = by
    follow_up.channel = channel
    follow_up.reached = reached
    follow_up.note = note
    follow_up.contact = contact
    follow_up.save()
    return follow_up, True


@transaction.atomic
def snooze_follow_up(*, follow_up: FollowUp, until: date, today: date) -> FollowUp:
    """Hide it until `until` (tomorrow at the earliest, SNOOZE_MAX_DAYS at the latest); it
    expires from its due date all the same."""
    if not today < until <= today + timedelta(days=SNOOZE_MAX_DAYS):
        raise ValidationError(
            {
                "until": [
                    _("Choose a date from tomorrow to %(days)s days ahead.")
                    % {"days": SNOOZE_MAX_DAYS}
                ]
            }
        )
    follow_up = _locked(follow_up)
    _check_pending(follow_up)
    follow_up.status = FollowUp.Status.SNOOZED
    follow_up.snoozed_until = until
    follow_up.save(update_fields=["status", "snoozed_until", "updated_at"])
    return follow_up


@transaction.atomic
def skip_follow_up(*, follow_up: FollowUp, reason: str) -> FollowUp:
    """Not worth doing, and why (the why is required: it is what HQ reads to tune the rules)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why it is skipped.")]})
    if len(reason) > FollowUp._meta.get_field("skip_reason").max_length:
        raise ValidationError({"reason": [_("Keep it under 200 characters.")]})
    follow_up = _locked(follow_up)
    _check_pending(follow_up)
    follow_up.status = FollowUp.Status.SKIPPED
    follow_up.skip_reason = reason
    follow_up.save(update_fields=["status", "skip_reason", "updated_at"])
    return follow_up
