import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # PBKDF2 at Django's default cost takes ~0.3 s per user; imports create several.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
