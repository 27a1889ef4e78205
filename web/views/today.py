"""Today: the guide's worklist of follow-ups, and her answer to each (done, snooze, skip)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from rest_framework.exceptions import ValidationError as InputError

from followups import schemas, services
from followups.models import FollowUp
from followups.selectors import actionable
from web.selectors.today import today_page
from web.views.base import context_of, current_staff, store_choice

SNOOZE_DAYS = (1, 3, 7)


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """Overdue, today's and upcoming follow-ups (a guide's own; a manager's whole store)."""
    staff = current_staff(request)
    # HQ works through one store's list at a time (the brand's would be thousands of rows).
    store, stores = store_choice(request, staff, required=True)
    page = today_page(staff=staff, store=store, today=timezone.localdate())
    context = context_of(page, store=store, stores=stores, staff=staff, snooze_days=SNOOZE_DAYS)
    return render(request, "customers/today.html", context)


def _answer(request: HttpRequest, follow_up: FollowUp, error: str = "") -> HttpResponse:
    """The row again (htmx swaps it), or back to Today with the error as a message."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("customers:today")
    follow_up.refresh_from_db()
    context = {"item": follow_up, "error": error, "snooze_days": SNOOZE_DAYS}
    return render(request, "customers/_follow_up.html", context)


def _act(request: HttpRequest, pk: int, action) -> HttpResponse:
    """Run `action(follow_up, staff, POST)`; bad input or a closed follow-up is shown on the row
    (200, so htmx swaps it) and changes nothing."""
    staff = current_staff(request)
    follow_up = get_object_or_404(actionable(staff).select_related("customer"), pk=pk)
    try:
        action(follow_up, staff, request.POST)
    except InputError as exc:
        return _answer(request, follow_up, error=schemas.error_text(exc.detail))
    except ValidationError as exc:
        return _answer(request, follow_up, error=" ".join(exc.messages))
    except services.FollowUpConflict as exc:
        return _answer(request, follow_up, error=str(exc))
    return _answer(request, follow_up)


@login_required
@require_POST
def follow_up_done(request: HttpRequest, pk: int) -> HttpResponse:
    def done(follow_up, staff, data):
        fields = schemas.validated(
            schemas.CompleteIn,
            {"channel": data.get("channel", ""), "reached": data.get("reached", "false"),
             "note": data.get("note", "")},
        )  # fmt: skip
        services.complete_follow_up(follow_up=follow_up, by=staff, now=timezone.now(), **fields)

    return _act(request, pk, done)


@login_required
@require_POST
def follow_up_snooze(request: HttpRequest, pk: int) -> HttpResponse:
    def snooze(follow_up, staff, data):
        days = data.get("days", "")
        if days not in {str(d) for d in SNOOZE_DAYS}:
            raise InputError({"days": [_("Snooze for 1, 3 or 7 days.")]})
        today = timezone.localdate()
        services.snooze_follow_up(
            follow_up=follow_up, until=today + timedelta(days=int(days)), today=today
        )

    return _act(request, pk, snooze)


@login_required
@require_POST
def follow_up_skip(request: HttpRequest, pk: int) -> HttpResponse:
    def skip(follow_up, staff, data):
        fields = schemas.validated(schemas.SkipIn, {"reason": data.get("reason", "")})
        services.skip_follow_up(follow_up=follow_up, reason=fields["reason"])

    return _act(request, pk, skip)
