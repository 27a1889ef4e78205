"""API personas: POS devices and token clients for store A (`store`) and store B (`other_store`)."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.auth import issue_staff_token
from customers.models import PosToken


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's million rounds cost ~0.5 s per staff member made; these tests are not about it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_buckets():
    """Throttle counters live in the cache (Redis in CI): each test starts with empty buckets."""
    cache.clear()
    yield
    cache.clear()


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def pos_key(store) -> str:
    return PosToken.issue(store=store, name="front desk")[1]


@pytest.fixture
def pos(pos_key) -> APIClient:
    """The POS of store A."""
    return token_client(pos_key)


@pytest.fixture
def other_pos(other_store) -> APIClient:
    """The POS of store B."""
    return token_client(PosToken.issue(store=other_store, name="front desk")[1])


def staff_client(staff) -> APIClient:
    return token_client(issue_staff_token(staff.user)[1])


@pytest.fixture
def guide_api(guide) -> APIClient:
    return staff_client(guide)


@pytest.fixture
def manager_api(manager) -> APIClient:
    return staff_client(manager)


@pytest.fixture
def hq_api(hq) -> APIClient:
    return staff_client(hq)
