"""API plumbing shared by every app: roles, error mapping, bodies (JSON only, 1 MiB), pagination,
throttling and the client address (one rule for DRF's throttles and django-axes: NUM_PROXIES).

The views themselves derive from `customers.actors.ScopedApi` (or `ScopedListApi`), which
resolve the caller to an actor of the customers app (an active `Staff` or a `PosDevice`).
"""

from __future__ import annotations

import io
import ipaddress

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, negotiation, pagination, parsers, status, throttling
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


def _refuse_a_body_over_the_limit(request) -> None:
    """413 for a declared body over DATA_UPLOAD_MAX_MEMORY_SIZE, whatever its content type."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    length = request.META.get("CONTENT_LENGTH")
    if limit is not None and length and str(length).isdigit() and int(length) > limit:
        raise PayloadTooLarge()


class ContentNegotiation(negotiation.DefaultContentNegotiation):
    """The API reads JSON only (DEFAULT_PARSER_CLASSES): another content type is a 415, and any
    body over 1 MiB a 413 before its parser is even chosen."""

    def select_parser(self, request, parsers):
        _refuse_a_body_over_the_limit(request)
        return super().select_parser(request, parsers)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser reads the stream itself, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check:
    enforce the limit here (413), without reading more than one byte past it (a chunked body has
    no length to check first)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if request is not None:
            _refuse_a_body_over_the_limit(request)
        data = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(data) > limit:
            raise PayloadTooLarge()
        parsed = super().parse(io.BytesIO(data), media_type, parser_context)
        problem = _unstorable_text(parsed)
        if problem:
            raise exceptions.ParseError(problem)
        return parsed


def _unstorable_text(value) -> str:
    """PostgreSQL cannot store NUL characters, and no database UTF-8 text holds a lone surrogate
    (`"\\ud800"` is valid JSON): refuse both at the door with a 400, never a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            return str(_("Text may not contain NUL (\\u0000) characters."))
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            return str(_("Text may not contain unpaired surrogates (\\ud800-\\udfff)."))
        return ""
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return ""
    for item in items:
        problem = _unstorable_text(item)
        if problem:
            return problem
    return ""


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind NUM_PROXIES trusted proxies the address the
    outermost of them saw (the NUM_PROXIES-th from the right of X-Forwarded-For; DRF's rule).

    A client-supplied X-Forwarded-For is never trusted beyond that: with NUM_PROXIES=0 (the
    default) it is ignored, so rotating the header does not make a new client. DRF's throttles
    (below) and django-axes (AXES_CLIENT_IP_CALLABLE) both use this function.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not proxies or not forwarded:
        return remote
    addresses = [address.strip() for address in forwarded.split(",")]
    candidate = addresses[-min(proxies, len(addresses))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # not an address (a misconfigured proxy count): the peer's
        return remote


class _ClientIpMixin:
    def get_ident(self, request) -> str:
        return client_ip(request)


class PerCredentialThrottle(_ClientIpMixin, throttling.SimpleRateThrottle):
    """One bucket per POS token or staff user; anonymous callers per address."""

    scope = "credential"

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AuthTokenThrottle(_ClientIpMixin, throttling.SimpleRateThrottle):
    """`POST /auth/token/`: per client address (the `auth_token` rate), against password guessing."""

    scope = "auth_token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


# --- django-axes (sign-in lockout), for the API and the sign-in page ---------------------------

AXES_USERNAME_MAX = 255  # axes' AccessAttempt.username


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The username axes records (AXES_USERNAME_CALLABLE): axes' own choice, cut to its column's
    255 characters, so a longer one is an ordinary failed sign-in instead of a failed INSERT."""
    source = credentials if credentials else getattr(request, "data", request.POST)
    username = source.get(settings.AXES_USERNAME_FORM_FIELD) if source else None
    return None if username is None else str(username)[:AXES_USERNAME_MAX]


def axes_lockout_response(
    request: HttpRequest, original_response=None, credentials: dict | None = None
) -> HttpResponse:
    """A locked-out caller (AXES_LOCKOUT_CALLABLE): JSON for the API, the page otherwise."""
    status_code = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/"):
        detail = _("Too many failed sign-in attempts. Try again in 15 minutes.")
        return JsonResponse({"detail": str(detail)}, status=status_code)
    return render(request, settings.AXES_LOCKOUT_TEMPLATE, status=status_code)
