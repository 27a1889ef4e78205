"""POS tokens, staff tokens, sessions, throttling."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from customers.models import PosToken
from tests.api.conftest import token_client

TOKEN_URL = "/api/v1/auth/token/"


def test_create_pos_token_prints_a_key_that_works_and_stores_only_its_hash(store):
    out = StringIO()
    call_command(
        "create_pos_token",
        "--store",
        store.code,
        "--name",
        "front desk",
        stdout=out,
        stderr=StringIO(),
    )
    key = out.getvalue().strip()
    token = PosToken.objects.get()
    assert token.key_hash == PosToken.hash_key(key) != key
    assert token.name == "front desk"
    assert token_client(key).get("/api/v1/customers/").status_code == 200


def test_create_pos_token_for_an_unknown_store_fails(db):
    with pytest.raises(CommandError, match="unknown store"):
        call_command("create_pos_token", "--store", "S999", "--name", "x", stdout=StringIO())
    assert not PosToken.objects.exists()


def test_a_wrong_pos_key_is_a_401(db):
    assert token_client("pos_not-a-key").get("/api/v1/customers/").status_code == 401


def test_staff_get_a_token_for_their_username_and_password(guide):
    response = APIClient().post(
        TOKEN_URL, {"username": guide.user.username, "password": "pass-1234-word"}, format="json"
    )
    assert response.status_code == 200
    assert token_client(response.json()["token"]).get("/api/v1/customers/").status_code == 200


def test_a_wrong_password_is_a_401(guide):
    response = APIClient().post(
        TOKEN_URL, {"username": guide.user.username, "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert "token" not in response.json()


def test_a_missing_password_is_a_400_naming_it(guide):
    response = APIClient().post(TOKEN_URL, {"username": guide.user.username}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_a_user_without_an_active_staff_profile_gets_no_token(guide):
    guide.is_active = False
    guide.save()
    response = APIClient().post(
        TOKEN_URL, {"username": guide.user.username, "password": "pass-1234-word"}, format="json"
    )
    assert response.status_code == 401


def test_token_requests_are_throttled_at_the_auth_token_rate(guide, settings):
    from rest_framework.settings import api_settings

    rate = api_settings.DEFAULT_THROTTLE_RATES["auth_token"]
    limit = int(rate.split("/")[0])
    client = APIClient()
    # A different username each time: django-axes' per-username lockout is a separate guard.
    statuses = [
        client.post(TOKEN_URL, {"username": f"x{i}", "password": "y"}, format="json").status_code
        for i in range(limit + 1)
    ]
    assert statuses[:limit] == [401] * limit
    assert statuses[limit] == 429


def test_repeated_wrong_passwords_for_one_username_lock_it_out(guide):
    client = APIClient()
    bad = {"username": guide.user.username, "password": "wrong"}
    statuses = [client.post(TOKEN_URL, bad, format="json").status_code for _ in range(6)]
    assert statuses[-1] == 429
    good = {"username": guide.user.username, "password": "pass-1234-word"}
    assert client.post(TOKEN_URL, good, format="json").status_code == 429


def test_a_signed_in_staff_session_reads_the_api(client, guide):
    client.force_login(guide.user)
    assert client.get("/api/v1/customers/").status_code == 200


def test_a_deactivated_guides_session_ends_at_once(client, guide, manager):
    from customers.services import deactivate_staff

    client.force_login(guide.user)
    deactivate_staff(staff=guide, by=manager)
    assert client.get("/api/v1/customers/").status_code == 401
