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

from campaigns import exports, services
from campaigns.forms import AudienceForm, CampaignForm, CheckInForm
from campaigns.models import AudienceMember, Campaign
from campaigns.selectors import (
    campaign_results,
    campaigns_visible_to,
    can_change_campaign,
    can_manage_campaigns,
    contact_list,
    playbooks_for_filter,
)
from customers.models import Customer, Staff
from customers.selectors import staff_of, staff_visible_to, stores_visible_to


def _staff(request: HttpRequest) -> Staff:
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _manager(request: HttpRequest) -> Staff:
    staff = _staff(request)
    if not can_manage_campaigns(staff):
        raise PermissionDenied
    return staff


def _campaign(staff: Staff, code: str) -> Campaign:
    return get_object_or_404(campaigns_visible_to(staff).prefetch_related("stores"), code=code)


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    staff = _staff(request)
    campaigns = campaigns_visible_to(staff).prefetch_related("stores")
    return render(
        request,
        "campaigns/campaign_list.html",
        {"campaigns": campaigns, "can_create": can_manage_campaigns(staff)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    staff = _manager(request)
    stores = stores_visible_to(staff).filter(is_active=True)
    form = CampaignForm(request.POST or None, stores=stores)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.create_campaign(
                actor=staff,
                code=data["code"],
                name=data["name"],
                kind=data["kind"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                store_codes=[store.code for store in data["stores"]],
                holdout_percent=data["holdout_percent"],
                seed=data["seed"],
                goal=data["goal"],
                message_template=data["message_template"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return redirect("campaigns:detail", code=campaign.code)
    return render(request, "campaigns/campaign_form.html", {"form": form})


@login_required
@require_GET
def campaign_detail(request: HttpRequest, code: str) -> HttpResponse:
    staff = _staff(request)
    campaign = _campaign(staff, code)
    can_change = can_change_campaign(actor=staff, campaign=campaign)
    form = AudienceForm(initial=campaign.audience_filter or None)
    preview = None
    if can_change:
        try:
            preview = services.preview_audience(
                campaign=campaign, audience=campaign.audience_filter, now=timezone.now()
            )
        except ValidationError:
            preview = None  # a tag retired since: the builder shows the filter to fix
    guides = staff_visible_to(staff).filter(
        pk__in=AudienceMember.objects.filter(campaign=campaign).values("guide_id")
    )
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "form": form,
            "preview": preview,
            "can_change": can_change,
            "has_check_ins": campaign.check_ins.exists(),
            "playbooks": playbooks_for_filter(campaign.audience_filter),
            "guides": guides if staff.role != Staff.Role.GUIDE else [],
        },
    )


@login_required
@require_GET
def campaign_audience_preview(request: HttpRequest, code: str) -> HttpResponse:
    """The htmx fragment with the live count for the filters being chosen."""
    staff = _manager(request)
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
    staff = _manager(request)
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


def _registration_store(staff: Staff, campaign: Campaign):
    """Where a walk-in who is not a fan yet gets registered: the staff's store, or the event's only one."""
    if staff.store_id is not None:
        return staff.store
    stores = list(campaign.stores.all())
    return stores[0] if len(stores) == 1 else None


@login_required
@require_http_methods(["GET", "POST"])
def campaign_check_in(request: HttpRequest, code: str) -> HttpResponse:
    """Check a fan in by phone; a phone that is not a fan yet can be registered and checked in."""
    from customers.services import CustomerExists, register_customer

    staff = _staff(request)
    campaign = _campaign(staff, code)
    form = CheckInForm(request.POST or None)
    not_a_fan = False
    registration_store = _registration_store(staff, campaign)
    if request.method == "POST" and form.is_valid():
        phone = form.cleaned_data["phone"]
        customer = None
        try:
            if request.POST.get("register") and registration_store is not None:
                customer = register_customer(
                    store=registration_store,
                    phone=phone,
                    name=request.POST.get("name", "").strip(),
                    guide=staff if staff.role == Staff.Role.GUIDE else None,
                    by=staff,
                )
            else:
                customer = services.find_fan_for_check_in(actor=staff, phone=phone)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except CustomerExists:
            form.add_error("phone", _("This phone is already registered at another store."))
        except Customer.DoesNotExist:
            not_a_fan = True
        if customer is not None:
            _record, created = services.check_in(
                campaign=campaign, customer=customer, by=staff, now=timezone.now()
            )
            if created:
                messages.success(request, _("%(name)s checked in.") % {"name": customer.name})
            else:
                messages.info(
                    request, _("%(name)s had already checked in.") % {"name": customer.name}
                )
            return redirect("campaigns:check_in", code=campaign.code)
    return render(
        request,
        "campaigns/check_in.html",
        {
            "campaign": campaign,
            "form": form,
            "not_a_fan": not_a_fan,
            "can_register": registration_store is not None,
            "recent": campaign.check_ins.select_related("customer")[:20],
        },
    )


@login_required
@require_GET
def campaign_export(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    """The contact list (per guide with ?guide=<work number>; a guide always gets their own fans)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404
    staff = _staff(request)
    campaign = _campaign(staff, code)
    guide = None
    work_number = request.GET.get("guide")
    if work_number and staff.role != Staff.Role.GUIDE:
        guide = get_object_or_404(staff_visible_to(staff), work_number=work_number)
    rows = contact_list(campaign=campaign, actor=staff, guide=guide)
    suffix = f"-{guide.work_number}" if guide else ""
    if fmt == "xlsx":
        body = exports.contact_list_xlsx(rows, title=campaign.code)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = exports.contact_list_csv(rows)
        content_type = "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="{campaign.code}{suffix}-contacts.{fmt}"'
    )
    return response


@login_required
@require_GET
def campaign_results_page(request: HttpRequest, code: str) -> HttpResponse:
    staff = _manager(request)
    campaign = _campaign(staff, code)
    services.refresh_event_tags(campaign=campaign)  # idempotent: late orders get tagged too
    results = campaign_results(campaign=campaign, actor=staff)
    chart = {
        "labels": [
            str(AudienceMember.Group.CONTACT.label),
            str(AudienceMember.Group.HOLDOUT.label),
        ],
        "conversion": [
            round((results["groups"][g]["conversion"] or 0) * 100, 2)
            for g in ("contact", "holdout")
        ],
        "participation": [
            round(results["groups"][g]["participated"] * 100 / results["groups"][g]["size"], 2)
            if results["groups"][g]["size"]
            else 0
            for g in ("contact", "holdout")
        ],
    }
    return render(
        request,
        "campaigns/results.html",
        {"campaign": campaign, "results": results, "chart": chart},
    )
