"""What every page view does first: who is asking, which store, and the page's context."""

from __future__ import annotations

from dataclasses import fields

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from campaigns.selectors import can_manage_campaigns
from customers.models import Staff, Store
from customers.selectors import staff_of, stores_visible_to


def current_staff(request: HttpRequest) -> Staff:
    """The signed-in user's active staff profile; users without one see no store data (403)."""
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def manager_or_hq(request: HttpRequest) -> Staff:
    staff = current_staff(request)
    if staff.role == Staff.Role.GUIDE:
        raise Http404  # a guide has no dashboard; 404 like any page outside her scope
    return staff


def hq_only(request: HttpRequest) -> Staff:
    staff = current_staff(request)
    if not staff.is_hq:
        raise Http404
    return staff


def campaign_manager(request: HttpRequest) -> Staff:
    staff = current_staff(request)
    if not can_manage_campaigns(staff):
        raise PermissionDenied
    return staff


def store_choice(
    request: HttpRequest, staff: Staff, *, required: bool = False
) -> tuple[Store | None, list[Store]]:
    """HQ's store switcher (`?store=CODE`, or `store` in a POST): the chosen store and the stores
    to offer.

    Staff of a store always get their own store; HQ gets the chosen store (or the first one when
    a page needs a single store) and every store to switch to. An unknown code is a 404.
    """
    if not staff.is_hq:
        return staff.store, []
    stores = list(stores_visible_to(staff).filter(is_active=True).order_by("code"))
    code = request.GET.get("store") or request.POST.get("store") or ""
    chosen = next((s for s in stores if s.code == code), None)
    if code and chosen is None:
        raise Http404
    if chosen is None and required and stores:
        chosen = stores[0]
    return chosen, stores


def context_of(*pages: object, **extra: object) -> dict[str, object]:
    """A template context from page dataclasses (their fields, one level deep) and extras."""
    context: dict[str, object] = {}
    for page in pages:
        context.update({f.name: getattr(page, f.name) for f in fields(page)})
    return {**context, **extra}
