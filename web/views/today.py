"""Today: the guide's worklists, and ticking an item done (kept in the session, `web.ticks`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from customers.selectors import customers_visible_to
from segmentation.selectors import last_run
from web.forms.fans import TickForm
from web.selectors.today import today_page
from web.ticks import TODAY_LISTS, toggle
from web.views.base import context_of, current_staff, store_choice


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """Birthdays in 7 days, fans gone sleeping / pre-churn last night, remark names to update in
    WeChat, apple upgrades to congratulate."""
    staff = current_staff(request)
    # HQ works through one store's lists at a time (the brand's would be thousands of rows).
    store, stores = store_choice(request, staff, required=True)
    page = today_page(
        staff=staff,
        store=store,
        today=timezone.localdate(),
        ticks=request.session.get("today_ticks", {}),
    )
    context = context_of(page, store=store, stores=stores, staff=staff)
    return render(request, "customers/today.html", context)


@login_required
@require_POST
def today_tick(request: HttpRequest) -> HttpResponse:
    """Tick (or untick) one item of a Today list; a malformed fan id is a 400, nothing stored."""
    staff = current_staff(request)
    if request.POST.get("list") not in TODAY_LISTS:
        raise Http404
    form = TickForm(request.POST)
    if not form.is_valid():
        raise BadRequest("customer must be a fan id")
    kind = form.cleaned_data["list"]
    customer = get_object_or_404(
        customers_visible_to(staff).only("id", "name"), pk=form.cleaned_data["customer"]
    )
    run = last_run()
    ticks, done = toggle(
        request.session.get("today_ticks", {}),
        kind=kind,
        customer_id=customer.pk,
        run_id=run.pk if run else None,
        today=timezone.localdate(),
    )
    request.session["today_ticks"] = ticks
    if not request.htmx:
        return redirect("customers:today")
    context = {"kind": kind, "customer": customer, "done": done}
    return render(request, "customers/_tick.html", context)
