"""POS device authentication: `Authorization: Token <key>` where the key is a PosToken's."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from customers.models import PosToken

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
        try:
            token = PosToken.objects.select_related("store").get(key_hash=PosToken.hash_key(key))
        except PosToken.DoesNotExist:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not token.is_active or not token.store.is_active:
            raise exceptions.AuthenticationFailed("Token revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            # At most one write a minute per device: not a committed UPDATE on every request.
            PosToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return PosDevice(token), token


class StaffTokenAuthentication(authentication.TokenAuthentication):
    """Staff API tokens (DRF's authtoken), refused once the staff profile is deactivated."""

    def authenticate_credentials(self, key: str):
        user, token = super().authenticate_credentials(key)  # refuses inactive users
        staff = getattr(user, "staff", None)
        if staff is not None and not staff.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
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
            "description": "A staff member: `Token <key>` from POST /api/v1/auth/token/.",
        }
