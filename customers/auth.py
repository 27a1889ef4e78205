"""POS device authentication: `Authorization: Token <key>` where the key is a PosToken's."""

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from customers.models import PosToken


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
        PosToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return PosDevice(token), token
