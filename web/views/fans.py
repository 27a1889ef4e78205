"""Guide pages: My fans (with the POST search for a full phone), the fan card, tags, profile.

Every page and fragment reads through `web.selectors.fans`, which starts from
`customers_visible_to(staff)` (another store's fan is a 404). One view serves the full page or,
for htmx, the fragment it swaps.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Contact
from campaigns.services import record_contact
from customers.models import Staff, Store
from customers.phones import mask_phone
from customers.services import can_mark_opinion_leader, update_customer
from followups.schemas import ContactIn, error_text
from tagging.services import change_tags
from web.forms.fans import FanFilterForm, ProfileForm
from web.selectors.fans import (
    FanFilterOptions,
    fan_card,
    fan_filter_options,
    fan_list,
    fans_for_card,
    follow_up_panel,
    tag_panel,
)
from web.views.base import context_of, current_staff, store_choice

# --- My fans ----------------------------------------------------------------------------------


def _store_param(staff: Staff, store: Store | None) -> str:
    return f"store={store.code}&" if store and staff.is_hq else ""


def _fan_list_response(
    request: HttpRequest,
    *,
    staff: Staff,
    store: Store | None,
    stores: list[Store],
    options: FanFilterOptions,
    form: FanFilterForm,
) -> HttpResponse:
    """My fans for `form`'s filters: the page, or the results fragment for htmx."""
    filters = form.filters()
    listing = fan_list(
        staff=staff,
        store=store,
        filters=filters,
        options=options,
        page_number=request.GET.get("page"),
    )
    context = context_of(
        listing,
        **form.link_context(options.taxonomy),
        store=store,
        stores=stores,
        staff=staff,
        store_param=_store_param(staff, store),
        searched_phone=mask_phone(filters.phone) if filters.phone else "",
    )
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "customers/_fan_results.html" if fragment else "customers/fan_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    """My fans: search and filter chips; a guide sees her own fans unless she asks for the store."""
    staff = current_staff(request)
    store, stores = store_choice(request, staff)
    options = fan_filter_options(staff=staff, store=store)
    form = FanFilterForm(request.GET, options=options)
    return _fan_list_response(
        request, staff=staff, store=store, stores=stores, options=options, form=form
    )


@login_required
@require_http_methods(["GET", "POST"])
def customer_search(request: HttpRequest) -> HttpResponse:
    """The search box posts here, so a full phone number never travels in a URL (request logs
    keep URLs). A full number finds that fan in the actor's scope, and the page's links leave it
    out; a name or a phone tail is the GET `/fans/?q=` search, whose URL htmx shows (and a
    browser without JavaScript is sent to)."""
    staff = current_staff(request)
    store, stores = store_choice(request, staff)
    if request.method == "GET":  # e.g. the store switcher on a search result
        return redirect(f"{reverse('customers:list')}?{request.GET.urlencode()}")
    list_url = f"{reverse('customers:list')}?{_store_param(staff, store)}"
    options = fan_filter_options(staff=staff, store=store)
    form = FanFilterForm(request.POST, options=options, allow_phone=True)
    if not form.filters().phone and not request.htmx:
        return redirect(list_url + form.query())
    response = _fan_list_response(
        request, staff=staff, store=store, stores=stores, options=options, form=form
    )
    response["HX-Push-Url"] = list_url + form.query()
    return response


# --- Fan card ---------------------------------------------------------------------------------


@login_required
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The fan card: profile (required fields first), tags, remark names, orders, history."""
    staff = current_staff(request)
    customer = get_object_or_404(fans_for_card(staff), pk=pk)
    return render(
        request,
        "customers/fan_card.html",
        context_of(
            fan_card(staff=staff, customer=customer),
            tag_panel(customer),
            follow_up_panel(staff=staff, customer=customer, today=timezone.localdate()),
            staff=staff,
        ),
    )


@login_required
@require_POST
def customer_contacted(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a contact made outside a follow-up (it counts towards every contact cap)."""
    staff = current_staff(request)
    customer = get_object_or_404(fans_for_card(staff), pk=pk)
    payload = ContactIn(
        data={"channel": request.POST.get("channel", ""), "note": request.POST.get("note", "")}
    )
    if payload.is_valid():
        record_contact(
            customer=customer,
            staff=staff,
            source=Contact.Source.MANUAL,
            at=timezone.now(),
            **payload.validated_data,
        )
        messages.success(request, _("Contact recorded."))
    else:
        messages.error(request, error_text(payload.errors))
    return redirect("customers:detail", pk=customer.pk)


@login_required
@require_POST
def customer_tag_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Tap a chip: add the tag (a single-choice group switches) or remove it; htmx swaps the groups."""
    staff = current_staff(request)
    customer = get_object_or_404(fans_for_card(staff), pk=pk)
    ref = request.POST.get("tag", "")
    change = {"remove": [ref]} if request.POST.get("action") == "remove" else {"add": [ref]}
    error = ""
    try:
        change_tags(customer=customer, by=staff, **change)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("customers:detail", pk=customer.pk)
    # 200 even for a refused tap: htmx swaps only 2xx answers, and the chips must show the message.
    context = context_of(tag_panel(customer), tag_error=error)
    return render(request, "customers/_tag_groups.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the profile through `update_customer`; errors are shown next to the field, nothing saved."""
    staff = current_staff(request)
    customer = get_object_or_404(fans_for_card(staff), pk=pk)
    can_mark = can_mark_opinion_leader(staff)
    if request.method == "POST":
        form = ProfileForm(request.POST, can_mark_leader=can_mark)
        if form.is_valid():
            try:
                update_customer(customer=customer, changes=form.changes(), by=staff)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("Profile saved."))
                return redirect("customers:detail", pk=customer.pk)
        status = 400
    else:
        form = ProfileForm(initial=ProfileForm.initial_for(customer), can_mark_leader=can_mark)
        status = 200
    customer.refresh_from_db()
    return render(
        request, "customers/fan_edit.html", {"form": form, "customer": customer}, status=status
    )
