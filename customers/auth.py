"""API credentials, `Authorization: Token <key>`: POS devices (`pos_…`, a PosToken) and staff
(`stf_…`, a StaffToken from `POST /auth/token/`). Both are stored as a SHA-256 only and shown
once; a staff token expires after STAFF_TOKEN_DAYS and dies with the staff profile."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from customers.models import PosToken, StaffToken
from customers.selectors import pos_token_by_hash

LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class PosDevice:
    """Stands in for `request.user` when a POS token authenticates: acts for one store only."""

    token: PosToken

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> str:
        return f"pos:{self.token.pk}"

    @property
    def store(self):
        return self.token.store


class PosTokenAuthentication(authentication.TokenAuthentication):
    """Looks the key up by its SHA-256; keys starting `pos_` are device keys, others fall through."""

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        if not key.startswith("pos_"):
            return None  # a staff token: TokenAuthentication further down the list handles it
        token = pos_token_by_hash(PosToken.hash_key(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.is_active or not token.store.is_active:
            raise exceptions.AuthenticationFailed("Token revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            # At most one write a minute per device: not a committed UPDATE on every request.
            PosToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return PosDevice(token), token


def issue_staff_token(user, *, now: datetime | None = None) -> tuple[StaffToken, str]:
    """A new API key for `user`, valid STAFF_TOKEN_DAYS days: the token and the raw key, which is
    never stored (the caller answers it once). The user's expired tokens are dropped."""
    now = now or timezone.now()
    StaffToken.objects.filter(user=user, expires_at__lte=now).delete()
    key = StaffToken.KEY_PREFIX + secrets.token_urlsafe(32)
    token = StaffToken.objects.create(
        user=user,
        key_hash=StaffToken.hash_key(key),
        key_prefix=key[:8],
        expires_at=now + timedelta(days=settings.STAFF_TOKEN_DAYS),
        last_used_at=now,  # signing in is a use; no write on the requests of the next minute
    )
    return token, key


def revoke_staff_tokens(user) -> int:
    """Delete every API token of `user` (a leaving staff member); returns how many."""
    return StaffToken.objects.filter(user=user).delete()[0]


class StaffTokenAuthentication(authentication.TokenAuthentication):
    """Staff API tokens, looked up by their SHA-256; refused once expired or once the user or the
    staff profile is switched off."""

    keyword = "Token"

    def authenticate_credentials(self, key: str):
        try:
            token = StaffToken.objects.select_related("user__staff").get(
                key_hash=StaffToken.hash_key(key)
            )
        except StaffToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        now = timezone.now()
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("Token expired.")
        user = token.user
        staff = getattr(user, "staff", None)
        if not user.is_active or (staff is not None and not staff.is_active):
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            StaffToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token


class PosTokenScheme(OpenApiAuthenticationExtension):
    target_class = "customers.auth.PosTokenAuthentication"
    name = "posToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A POS device: `Token pos_…` (python manage.py create_pos_token).",
        }


class StaffTokenScheme(OpenApiAuthenticationExtension):
    target_class = "customers.auth.StaffTokenAuthentication"
    name = "staffToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "A staff member: `Token stf_…` from POST /api/v1/auth/token/ "
                "(expires after STAFF_TOKEN_DAYS days)."
            ),
        }
