"""Issue 12 item 9: staff API tokens are stored as a hash, answered once, expire after
STAFF_TOKEN_DAYS and die with the staff profile; switched-off staff keep no admin access."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from customers.auth import issue_staff_token, revoke_staff_tokens
from customers.models import Staff, StaffToken
from customers.services import deactivate_staff
from tests.factories import make_staff

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "pass-1234-word"


def _token_for(staff) -> str:
    response = APIClient().post(
        TOKEN_URL, {"username": staff.user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return response.json()["token"]


def _reads(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/customers/").status_code


def test_only_the_hash_of_a_staff_key_is_stored(guide):
    key = _token_for(guide)
    token = StaffToken.objects.get(user=guide.user)
    assert token.key_hash == StaffToken.hash_key(key) != key
    assert key.startswith(token.key_prefix) and len(token.key_prefix) == 8
    assert not Token.objects.exists()  # no plain-text key anywhere
    assert _reads(key) == 200


def test_every_request_answers_a_new_key_once(guide):
    first, second = _token_for(guide), _token_for(guide)
    assert first != second
    assert _reads(first) == _reads(second) == 200


def test_a_key_expires_after_staff_token_days(guide, settings):
    settings.STAFF_TOKEN_DAYS = 7
    now = timezone.now()
    token, key = issue_staff_token(guide.user, now=now)
    assert token.expires_at == now + timedelta(days=7)
    StaffToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(minutes=1))
    assert _reads(key) == 200
    StaffToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    assert _reads(key) == 401


def test_issuing_a_key_drops_the_users_expired_ones(guide):
    old, _key = issue_staff_token(guide.user, now=timezone.now() - timedelta(days=31))
    issue_staff_token(guide.user)
    assert not StaffToken.objects.filter(pk=old.pk).exists()
    assert StaffToken.objects.filter(user=guide.user).count() == 1


def test_a_switched_off_staff_profile_makes_its_keys_useless(guide):
    key = _token_for(guide)
    Staff.objects.filter(pk=guide.pk).update(is_active=False)
    assert _reads(key) == 401


def test_a_plain_drf_token_is_no_credential(guide):
    assert _reads(Token.objects.create(user=guide.user).key) == 401


def test_revoking_deletes_every_key_of_that_user_only(guide, manager):
    issue_staff_token(guide.user)
    issue_staff_token(guide.user)
    _token, kept = issue_staff_token(manager.user)
    assert revoke_staff_tokens(guide.user) == 2
    assert not StaffToken.objects.filter(user=guide.user).exists()
    assert _reads(kept) == 200


def test_deactivating_a_staff_member_deletes_their_keys(guide, manager):
    issue_staff_token(guide.user)
    deactivate_staff(staff=guide, by=manager)
    assert not StaffToken.objects.filter(user=guide.user).exists()


def test_the_migration_moves_plain_tokens_to_hashed_ones(guide):
    plain = Token.objects.create(user=guide.user).key
    migration = importlib.import_module("customers.migrations.0005_stafftoken")
    migration.hash_plain_tokens(apps, None)
    assert not Token.objects.exists()
    token = StaffToken.objects.get(user=guide.user)
    assert token.key_hash == StaffToken.hash_key(plain)
    assert _reads(plain) == 200  # integrations keep working until the key expires


@pytest.fixture
def hq_admin(db):
    hq = make_staff(role=Staff.Role.HQ, name="总部")
    hq.user.is_staff = hq.user.is_superuser = True
    hq.user.save()
    client = Client()
    client.force_login(hq.user)
    return hq, client


def test_an_active_hq_user_opens_the_admin(hq_admin):
    _hq, client = hq_admin
    assert client.get("/admin/").status_code == 200


def test_an_hq_user_whose_staff_profile_is_off_is_refused_by_the_admin(hq_admin):
    hq, client = hq_admin
    Staff.objects.filter(pk=hq.pk).update(is_active=False)
    response = client.get("/admin/customers/customer/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_superuser_without_a_staff_profile_keeps_the_admin(db, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/").status_code == 200
