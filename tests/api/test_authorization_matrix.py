"""Every /api/v1/ endpoint × every persona, against objects of store A, with the expected status.

A route under /api/v1/ that is missing from MATRIX fails `test_every_api_route_is_in_the_matrix`,
so a new endpoint cannot ship without its scoping being written down and checked here.

Cells read `401`, `403`, `404`, `400`, `200`… For list endpoints `200+` means the answer shows
store A's object and `200-` that it does not (DRF never applies object permissions to lists).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from customers.auth import issue_staff_token
from customers.models import PosToken, Staff
from followups.models import FollowUp
from tests.factories import make_customer, make_order, make_staff, make_store

PERSONAS = ("anonymous", "pos_a", "guide_a", "manager_a", "hq", "pos_b", "guide_b")
PASSWORD = "pass-1234-word"

# method, route: one cell per persona, in PERSONAS order.
MATRIX: dict[tuple[str, str], str] = {
    ("GET", "api/v1/schema/"): "200 200 200 200 200 200 200",
    ("GET", "api/v1/docs/"): "200 200 200 200 200 200 200",
    ("POST", "api/v1/auth/token/"): "200 200 200 200 200 200 200",
    ("GET", "api/v1/orders/"): "401 200+ 200+ 200+ 200+ 200- 200-",
    ("POST", "api/v1/orders/"): "401 201 201 201 201 400 400",
    ("POST", "api/v1/orders/batch/"): "401 200+ 200+ 200+ 200+ 200- 200-",
    ("GET", "api/v1/customers/"): "401 200+ 200+ 200+ 200+ 200- 200-",
    ("POST", "api/v1/customers/"): "401 201 201 201 201 400 400",
    # Store B's POS meets store A's fan as a brand member: her member card, not her name (SPEC §8).
    ("POST", "api/v1/customers/lookup/"): "401 200+ 200+ 200+ 200+ 200- 404",
    ("GET", "api/v1/customers/<int:pk>/"): "401 200 200 200 200 404 404",
    ("PATCH", "api/v1/customers/<int:pk>/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/customers/<int:pk>/tags/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/tags/bulk/"): "401 403 200 200 200 403 400",
    ("GET", "api/v1/tag-groups/"): "401 200 200 200 200 200 200",
    ("GET", "api/v1/stores/"): "401 403 200+ 200+ 200+ 403 200-",
    ("GET", "api/v1/stores/<str:code>/apple-quota/"): "401 403 200 200 200 403 404",
    ("GET", "api/v1/apple-quota/"): "401 403 403 200 200 403 403",
    ("GET", "api/v1/segments/summary/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/relabel/"): "401 403 403 403 202 403 403",
    ("GET", "api/v1/relabel-runs/"): "401 403 403 403 200 403 403",
    ("GET", "api/v1/campaigns/"): "401 403 403 200+ 200+ 403 403",
    ("POST", "api/v1/campaigns/"): "401 403 403 201 201 403 403",
    ("GET", "api/v1/campaigns/<slug:code>/"): "401 403 403 200 200 403 403",
    ("POST", "api/v1/campaigns/<slug:code>/audience/"): "401 403 403 200 200 403 403",
    ("POST", "api/v1/campaigns/<slug:code>/check-ins/"): "401 201 201 201 201 404 404",
    ("GET", "api/v1/campaigns/<slug:code>/results/"): "401 403 403 200 200 403 403",
    ("GET", "api/v1/follow-ups/"): "401 403 200+ 200+ 200+ 403 200-",
    ("GET", "api/v1/follow-ups/results/"): "401 403 200 200 200 403 200",
    ("POST", "api/v1/follow-ups/<int:pk>/complete/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/follow-ups/<int:pk>/snooze/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/follow-ups/<int:pk>/skip/"): "401 403 200 200 200 403 404",
    ("POST", "api/v1/customers/<int:pk>/contacts/"): "401 403 201 201 201 403 404",
}


@dataclass
class World:
    """Store A's objects (plus store B and every persona's credentials)."""

    store_a: object
    store_b: object
    fan_a: object
    order_a: object
    campaign_code: str
    guide_a: Staff
    keys: dict[str, str | None]
    follow_up_a: object = None


def _request(world: World, method: str, route: str) -> tuple[str, dict | None, str | None]:
    """Path, JSON body and the marker that shows store A's object in a list answer."""
    a, fan = world.store_a, world.fan_a
    new_order = {
        "external_id": "NEW-1",
        "store": a.code,
        "customer": {"phone": "13700000009", "name": "新粉丝"},
        "paid_at": "2026-01-15T14:30:00+08:00",
        "amount": "10.00",
    }
    campaign = f"api/v1/campaigns/{world.campaign_code}/"
    requests = {
        ("GET", "api/v1/schema/"): ("api/v1/schema/", None, None),
        ("GET", "api/v1/docs/"): ("api/v1/docs/", None, None),
        ("POST", "api/v1/auth/token/"): (
            "api/v1/auth/token/",
            {"username": world.guide_a.user.username, "password": PASSWORD},
            None,
        ),
        ("GET", "api/v1/orders/"): ("api/v1/orders/", None, "A-ORDER-1"),
        ("POST", "api/v1/orders/"): ("api/v1/orders/", new_order, None),
        ("POST", "api/v1/orders/batch/"): (
            "api/v1/orders/batch/",
            {"orders": [new_order]},
            '"status":201',
        ),
        ("GET", "api/v1/customers/"): ("api/v1/customers/", None, "粉丝甲"),
        ("POST", "api/v1/customers/"): (
            "api/v1/customers/",
            {"phone": "13700000008", "name": "新粉丝", "store": a.code},
            None,
        ),
        ("POST", "api/v1/customers/lookup/"): (
            "api/v1/customers/lookup/",
            {"phone": fan.phone},
            "粉丝甲",
        ),
        ("GET", "api/v1/customers/<int:pk>/"): (f"api/v1/customers/{fan.pk}/", None, None),
        ("PATCH", "api/v1/customers/<int:pk>/"): (
            f"api/v1/customers/{fan.pk}/",
            {"notes": "喜欢蓝色"},
            None,
        ),
        ("POST", "api/v1/customers/<int:pk>/tags/"): (
            f"api/v1/customers/{fan.pk}/tags/",
            {"add": ["style:business"]},
            None,
        ),
        ("POST", "api/v1/tags/bulk/"): (
            "api/v1/tags/bulk/",
            {"customers": [fan.pk], "add": ["style:business"]},
            None,
        ),
        ("GET", "api/v1/tag-groups/"): ("api/v1/tag-groups/", None, None),
        ("GET", "api/v1/stores/"): ("api/v1/stores/", None, f'"code":"{a.code}"'),
        ("GET", "api/v1/stores/<str:code>/apple-quota/"): (
            f"api/v1/stores/{a.code}/apple-quota/",
            None,
            None,
        ),
        ("GET", "api/v1/apple-quota/"): ("api/v1/apple-quota/", None, None),
        ("GET", "api/v1/segments/summary/"): (
            f"api/v1/segments/summary/?store={a.code}",
            None,
            None,
        ),
        ("POST", "api/v1/relabel/"): ("api/v1/relabel/", {"as_of": "2026-01-31"}, None),
        ("GET", "api/v1/relabel-runs/"): ("api/v1/relabel-runs/", None, None),
        ("GET", "api/v1/campaigns/"): ("api/v1/campaigns/", None, world.campaign_code),
        ("POST", "api/v1/campaigns/"): (
            "api/v1/campaigns/",
            {
                "code": "new-event",
                "name": "新活动",
                "kind": "offline",
                "stores": [a.code],
                "starts_on": timezone.localdate().isoformat(),
                "ends_on": (timezone.localdate() + timedelta(days=7)).isoformat(),
            },
            None,
        ),
        ("GET", "api/v1/campaigns/<slug:code>/"): (campaign, None, None),
        ("POST", "api/v1/campaigns/<slug:code>/audience/"): (
            campaign + "audience/",
            {"all": []},
            None,
        ),
        ("POST", "api/v1/campaigns/<slug:code>/check-ins/"): (
            campaign + "check-ins/",
            {"phone": fan.phone},
            None,
        ),
        ("GET", "api/v1/campaigns/<slug:code>/results/"): (campaign + "results/", None, None),
        ("GET", "api/v1/follow-ups/"): ("api/v1/follow-ups/", None, "粉丝甲"),
        ("GET", "api/v1/follow-ups/results/"): ("api/v1/follow-ups/results/", None, None),
        ("POST", "api/v1/follow-ups/<int:pk>/complete/"): (
            f"api/v1/follow-ups/{world.follow_up_a.pk}/complete/",
            {"channel": "wechat", "reached": True, "note": "聊了新款"},
            None,
        ),
        ("POST", "api/v1/follow-ups/<int:pk>/snooze/"): (
            f"api/v1/follow-ups/{world.follow_up_a.pk}/snooze/",
            {"until": (timezone.localdate() + timedelta(days=3)).isoformat()},
            None,
        ),
        ("POST", "api/v1/follow-ups/<int:pk>/skip/"): (
            f"api/v1/follow-ups/{world.follow_up_a.pk}/skip/",
            {"reason": "已到店"},
            None,
        ),
        ("POST", "api/v1/customers/<int:pk>/contacts/"): (
            f"api/v1/customers/{fan.pk}/contacts/",
            {"channel": "phone", "note": "电话回访"},
            None,
        ),
    }
    return requests[(method, route)]


@pytest.fixture
def world(db) -> World:
    from campaigns.models import Campaign

    store_a, store_b = make_store(), make_store()
    guide_a = make_staff(store=store_a, role=Staff.Role.GUIDE, password=PASSWORD)
    manager_a = make_staff(store=store_a, role=Staff.Role.MANAGER)
    hq = make_staff(role=Staff.Role.HQ)
    guide_b = make_staff(store=store_b, role=Staff.Role.GUIDE)
    fan_a = make_customer(store=store_a, name="粉丝甲", phone="13900000001")
    order_a = make_order(customer=fan_a, external_id="A-ORDER-1")
    today = timezone.localdate()
    campaign = Campaign.objects.create(
        code="spring-a",
        name="春季A",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=7),
    )
    campaign.stores.add(store_a)

    def staff_key(staff: Staff) -> str:
        return issue_staff_token(staff.user)[1]

    keys = {
        "anonymous": None,
        "pos_a": PosToken.issue(store=store_a, name="A")[1],
        "guide_a": staff_key(guide_a),
        "manager_a": staff_key(manager_a),
        "hq": staff_key(hq),
        "pos_b": PosToken.issue(store=store_b, name="B")[1],
        "guide_b": staff_key(guide_b),
    }
    follow_up_a = FollowUp.objects.create(
        customer=fan_a,
        guide=guide_a,
        store=store_a,
        reason="after_sale_care",
        occasion="2026-01-15",
        due_on=today,
        message="粉丝甲您好",
    )
    return World(store_a, store_b, fan_a, order_a, campaign.code, guide_a, keys, follow_up_a)


def _api_routes() -> set[tuple[str, str]]:
    """(METHOD, route) for every view under /api/v1/ and every handler it defines."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = getattr(pattern.callback, "view_class", None) or getattr(
                    pattern.callback, "cls", None
                )
                assert view is not None, f"{route} is not a class-based API view"
                for method in ("get", "post", "put", "patch", "delete"):
                    if hasattr(view, method):
                        found.add((method.upper(), route))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_route_is_in_the_matrix():
    routes = _api_routes()
    assert routes - set(MATRIX) == set(), (
        "add these endpoints to MATRIX with their expected statuses"
    )
    assert set(MATRIX) - routes == set(), "MATRIX lists endpoints that no longer exist"


def test_every_matrix_row_has_a_cell_per_persona():
    for key, cells in MATRIX.items():
        assert len(cells.split()) == len(PERSONAS), key


def test_every_scoped_api_view_resolves_its_actor_through_the_shared_mixin():
    from customers.actors import ScopedApiMixin

    public = {"api/v1/schema/", "api/v1/docs/", "api/v1/auth/token/"}

    def walk(patterns, prefix: str):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif route.startswith("api/v1/") and route not in public:
                yield route, pattern.callback.view_class

    for route, view in walk(get_resolver().url_patterns, ""):
        assert issubclass(view, ScopedApiMixin), route


CASES = [(method, route, persona) for (method, route) in MATRIX for persona in PERSONAS]


@pytest.mark.parametrize("method,route,persona", CASES, ids=[f"{m} {r} {p}" for m, r, p in CASES])
def test_authorization_matrix(world, method, route, persona):
    expected = MATRIX[(method, route)].split()[PERSONAS.index(persona)]
    status, visibility = int(expected[:3]), expected[3:]
    path, body, marker = _request(world, method, route)
    client = APIClient()
    if world.keys[persona]:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.keys[persona]}")
    with mock.patch("segmentation.tasks.relabel.apply_async"):
        response = getattr(client, method.lower())(
            "/" + path, body, format="json" if body is not None else None
        )
    assert response.status_code == status, getattr(response, "data", response.content[:300])
    if visibility:
        text = json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
        assert (marker in text) == (visibility == "+"), text[:500]
