"""API plumbing shared by every app: roles, error mapping, body limit, pagination, throttling.

The views themselves derive from `customers.actors.ScopedApi` (or `ScopedListApi`), which
resolve the caller to an actor of the customers app (an active `Staff` or a `PosDevice`).
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, pagination, parsers, status, throttling
from rest_framework.exceptions import ValidationError

POS = "pos"
GUIDE = "guide"
MANAGER = "manager"
HQ = "hq"
STAFF = frozenset({GUIDE, MANAGER, HQ})
EVERYONE = STAFF | {POS}
MANAGERS = frozenset({MANAGER, HQ})
HQ_ONLY = frozenset({HQ})


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is larger than 1 MiB.")
    default_code = "payload_too_large"


def exception_handler(exc, context):
    """Services raise Django's ValidationError; the API answers it like DRF's own (400)."""
    # Imported here: rest_framework.views reads DEFAULT_PARSER_CLASSES, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = ValidationError(detail=exc.message_dict)
        else:
            exc = ValidationError(detail={"detail": exc.messages})
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    return drf_exception_handler(exc, context)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser reads the stream itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check:
    enforce the limit here (413), without reading more than one byte past it."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and length and str(length).isdigit() and int(length) > limit:
            raise PayloadTooLarge()
        data = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(data) > limit:
            raise PayloadTooLarge()
        parsed = super().parse(io.BytesIO(data), media_type, parser_context)
        if _has_nul(parsed):
            raise exceptions.ParseError(_("Text may not contain NUL (\\u0000) characters."))
        return parsed


def _has_nul(value) -> bool:
    """PostgreSQL cannot store or compare text with NUL characters: refuse them at the door."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class PerCredentialThrottle(throttling.SimpleRateThrottle):
    """One bucket per POS token or staff user; anonymous callers per address."""

    scope = "credential"

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthTokenThrottle(throttling.SimpleRateThrottle):
    """`POST /auth/token/`: per client address (the `auth_token` rate), against password guessing."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
