"""Every write door of one thing: the API (single and batch), a CSV import, the admin, a page."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fast_and_fresh(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # throttle buckets
    yield
    cache.clear()


@pytest.fixture
def admin_client(client, db):
    """HQ in the Django admin (a superuser)."""
    user = get_user_model().objects.create_superuser("root", password="pass-1234-word")
    client.force_login(user)
    return client
