"""Campaign pages: list, create, detail with the audience builder (live count over htmx), freeze,
check-in by phone, the contact-list export and the results chart. Thin: rules live in services."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns import services
from campaigns.models import Campaign
from campaigns.selectors import can_change_campaign, can_manage_campaigns, contact_list
from customers.models import Customer, Staff
from customers.selectors import mask_name, owns, staff_visible_to, stores_visible_to
from customers.services import CustomerExists, register_customer
from web import exports
from web.forms.campaigns import AudienceForm, CampaignForm, CheckInForm
from web.selectors.campaigns import (
    campaign_page,
    campaigns_for_pages,
    recent_check_ins,
    registration_store,
    results_page,
)
from web.views.base import campaign_manager, context_of, current_staff


def _campaign(staff: Staff, code: str) -> Campaign:
    return get_object_or_404(campaigns_for_pages(staff), code=code)


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The events of the actor's store (HQ: all)."""
    staff = current_staff(request)
    campaigns = campaigns_for_pages(staff)
    return render(
        request,
        "campaigns/campaign_list.html",
        {"campaigns": campaigns, "can_create": can_manage_campaigns(staff)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    """Plan an event: the form, and `create_campaign`'s errors next to the fields."""
    staff = campaign_manager(request)
    stores = stores_visible_to(staff).filter(is_active=True)
    form = CampaignForm(request.POST or None, stores=stores)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.create_campaign(actor=staff, **form.campaign_fields())
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            return redirect("campaigns:detail", code=campaign.code)
    return render(request, "campaigns/campaign_form.html", {"form": form})


@login_required
@require_GET
def campaign_detail(request: HttpRequest, code: str) -> HttpResponse:
    """The event, its audience builder with the live count, and the contact lists per guide."""
    staff = current_staff(request)
    campaign = _campaign(staff, code)
    page = campaign_page(staff=staff, campaign=campaign, now=timezone.now())
    form = AudienceForm(initial=campaign.audience_filter or None)
    context = context_of(page, campaign=campaign, form=form)
    return render(request, "campaigns/campaign_detail.html", context)


@login_required
@require_GET
def campaign_audience_preview(request: HttpRequest, code: str) -> HttpResponse:
    """The htmx fragment with the live count for the filters being chosen."""
    staff = campaign_manager(request)
    campaign = _campaign(staff, code)
    form = AudienceForm(request.GET)
    preview, error = None, ""
    if form.is_valid():
        try:
            preview = services.preview_audience(
                campaign=campaign, audience=form.audience(), now=timezone.now()
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    response = render(
        request,
        "campaigns/_audience_preview.html",
        {"preview": preview, "error": error, "campaign": campaign},
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
def campaign_audience_freeze(request: HttpRequest, code: str) -> HttpResponse:
    staff = campaign_manager(request)
    campaign = _campaign(staff, code)
    if not can_change_campaign(actor=staff, campaign=campaign):
        raise PermissionDenied
    form = AudienceForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Unknown tags in the filter."))
        return redirect("campaigns:detail", code=campaign.code)
    try:
        report = services.freeze_audience(
            campaign=campaign, audience=form.audience(), now=timezone.now()
        )
    except (ValidationError, services.CampaignConflict) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(
            request,
            _("Audience saved: %(contacts)s to contact, %(holdout)s held out.")
            % {"contacts": report["contacts"], "holdout": report["holdout"]},
        )
    return redirect("campaigns:detail", code=campaign.code)


@login_required
@require_http_methods(["GET", "POST"])
def campaign_check_in(request: HttpRequest, code: str) -> HttpResponse:
    """Check a fan in by phone; a phone that is not a fan yet can be registered and checked in."""
    staff = current_staff(request)
    campaign = _campaign(staff, code)
    form = CheckInForm(request.POST or None)
    store = registration_store(staff=staff, campaign=campaign)
    not_a_fan = False
    if request.method == "POST" and form.is_valid():
        register_at = store if request.POST.get("register") else None
        customer, not_a_fan = _fan_checking_in(request, staff, form, register_at)
        if customer is not None:
            _check_in(request, staff, campaign, customer)
            return redirect("campaigns:check_in", code=campaign.code)
    context = {
        "campaign": campaign,
        "form": form,
        "not_a_fan": not_a_fan,
        "can_register": store is not None,
        "recent": recent_check_ins(staff=staff, campaign=campaign),
    }
    return render(request, "campaigns/check_in.html", context)


def _check_in(request: HttpRequest, staff: Staff, campaign: Campaign, customer: Customer) -> None:
    _record, created = services.check_in(
        campaign=campaign, customer=customer, by=staff, now=timezone.now()
    )
    name = customer.name if owns(staff, customer) else mask_name(customer.name)
    if created:
        messages.success(request, _("%(name)s checked in.") % {"name": name})
    else:
        messages.info(request, _("%(name)s had already checked in.") % {"name": name})


def _fan_checking_in(
    request: HttpRequest, staff: Staff, form: CheckInForm, register_at
) -> tuple[Customer | None, bool]:
    """The fan with the form's phone (registered at `register_at` first when given), or None
    with the error on the form; the flag says the phone is not a fan yet."""
    phone = form.cleaned_data["phone"]
    try:
        if register_at is not None:
            customer = register_customer(
                store=register_at,
                phone=phone,
                name=request.POST.get("name", "").strip(),
                guide=staff if staff.role == Staff.Role.GUIDE else None,
                by=staff,
            )
        else:
            customer = services.find_fan_for_check_in(phone=phone)
    except ValidationError as exc:
        form.add_error(None, exc.messages)
    except CustomerExists:
        form.add_error("phone", _("This phone is already registered at another store."))
    except Customer.DoesNotExist:
        return None, True
    else:
        return customer, False
    return None, False


@login_required
@require_GET
def campaign_export(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """The contact list (per guide with ?guide=<work number>; a guide always gets their own fans)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404
    staff = current_staff(request)
    campaign = _campaign(staff, code)
    guide = None
    work_number = request.GET.get("guide")
    if work_number and staff.role != Staff.Role.GUIDE:
        guide = get_object_or_404(staff_visible_to(staff), work_number=work_number)
    rows = contact_list(campaign=campaign, actor=staff, guide=guide)
    suffix = f"-{guide.work_number}" if guide else ""
    if fmt == "xlsx":
        body = exports.contact_list_xlsx(rows, title=campaign.code)
        content_type = exports.XLSX_CONTENT_TYPE
    else:
        body = exports.contact_list_csv(rows)
        content_type = exports.CSV_CONTENT_TYPE
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{campaign.code}{suffix}-contacts.{fmt}"'
    )
    return response


@login_required
@require_GET
def campaign_results_page(request: HttpRequest, code: str) -> HttpResponse:
    """Contact group against hold-out: conversion and participation, with the chart."""
    staff = campaign_manager(request)
    campaign = _campaign(staff, code)
    services.refresh_event_tags(campaign=campaign)  # idempotent: late orders get tagged too
    page = results_page(staff=staff, campaign=campaign)
    return render(request, "campaigns/results.html", context_of(page, campaign=campaign))
