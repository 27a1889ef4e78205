"""Issue 12 item 5: throttles and the sign-in lockout key on one client address (NUM_PROXIES),
never on a client-supplied X-Forwarded-For."""

import pytest
from axes.models import AccessAttempt
from django.test import RequestFactory
from rest_framework.test import APIClient

from fanops.api import client_ip

TOKEN_URL = "/api/v1/auth/token/"


def _token_attempts(n: int, forwarded) -> list[int]:
    client = APIClient()
    return [
        client.post(
            TOKEN_URL,
            {"username": f"nobody{i}", "password": "wrong"},
            format="json",
            HTTP_X_FORWARDED_FOR=forwarded(i),
        ).status_code
        for i in range(n)
    ]


def test_rotating_x_forwarded_for_does_not_escape_the_token_throttle(db):
    statuses = _token_attempts(14, lambda i: f"203.0.113.{i + 1}")
    assert statuses == [401] * 10 + [429] * 4


def test_rotating_x_forwarded_for_does_not_escape_the_sign_in_lockout(client, guide):
    for i in range(5):
        client.post(
            "/accounts/login/",
            {"username": guide.user.username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i + 1}",
        )
    locked = client.post(
        "/accounts/login/",
        {"username": guide.user.username, "password": "pass-1234-word"},
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )
    assert locked.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


def test_without_proxies_the_client_is_remote_addr(settings):
    settings.NUM_PROXIES = 0
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "192.0.2.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "client"),
    [
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # what our proxy appended, not the spoof
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "203.0.113.9", "203.0.113.9"),  # fewer entries than proxies: the leftmost
        (1, "not-an-address", "192.0.2.7"),  # garbage: the peer's address
    ],
)
def test_behind_proxies_the_client_is_counted_from_the_right(settings, proxies, forwarded, client):
    settings.NUM_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == client


def test_behind_one_proxy_throttles_and_lockout_see_the_proxied_client(settings, guide):
    settings.NUM_PROXIES = 1
    statuses = _token_attempts(11, lambda i: f"6.6.6.{i}, 203.0.113.9")
    assert statuses == [401] * 10 + [429]
    assert _token_attempts(1, lambda i: "6.6.6.6, 203.0.113.10") == [401]  # another client
    APIClient().post(
        TOKEN_URL,
        {"username": guide.user.username, "password": "wrong"},
        format="json",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.11",
    )
    assert AccessAttempt.objects.filter(username=guide.user.username).get().ip_address == (
        "203.0.113.11"
    )
