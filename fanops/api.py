"""API plumbing shared by every app: error mapping, body limit, pagination, throttling, scoping.

Every view under /api/v1/ derives from `ScopedApi` (or `ScopedListApi`): it resolves the
caller to an *actor* (an active `Staff` or a `PosDevice`) before anything else runs, refuses the
roles the view does not list, and leaves `self.actor` for the view to hand to the scoping
selectors of `customers/selectors.py`. A view that forgets to declare `roles`, or a list view that
declares a class-level `queryset` instead of starting from a selector, fails at import or on
first use, and `tests/api/test_authorization_matrix.py` fails for any route not in its table.
"""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
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


def actor_of_user(user) -> Any:
    """The actor behind `request.user`: a `PosDevice`, an active `Staff`, or None."""
    from customers.auth import PosDevice
    from customers.selectors import staff_of

    if isinstance(user, PosDevice):
        return user
    return staff_of(user)


def role_of(actor) -> str:
    from customers.auth import PosDevice

    return POS if isinstance(actor, PosDevice) else actor.role


class ScopedApiMixin:
    """Resolves `self.actor` and enforces `roles` before the handler runs.

    `roles` is either a set of roles for every method, or a dict from HTTP method to roles.
    Unauthenticated callers (or staff whose profile was deactivated) get 401, roles not
    listed get 403; objects outside the actor's stores are the selectors' business (404).
    """

    roles: frozenset[str] | dict[str, frozenset[str]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "queryset", None) is not None:
            raise ImproperlyConfigured(
                f"{cls.__name__} sets a class-level queryset; start from a scoping selector in get_queryset()."
            )

    def allowed_roles(self, method: str) -> frozenset[str]:
        roles = getattr(self, "roles", None)
        if roles is None:
            raise ImproperlyConfigured(f"{type(self).__name__} must declare the roles it serves.")
        if not isinstance(roles, dict):
            return roles
        if method == "OPTIONS":
            return frozenset().union(*roles.values())
        return roles.get("GET" if method == "HEAD" else method, frozenset())

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if any("\x00" in v for vs in request.query_params.lists() for v in [vs[0], *vs[1]]) or any(
            isinstance(v, str) and "\x00" in v for v in kwargs.values()
        ):
            raise exceptions.ParseError(_("Text may not contain NUL (\\u0000) characters."))
        actor = actor_of_user(request.user)
        if actor is None:
            raise exceptions.NotAuthenticated(_("Sign in as active staff or use a POS token."))
        if role_of(actor) not in self.allowed_roles(request.method):
            raise exceptions.PermissionDenied(_("Your role cannot do this."))
        self.actor = actor

    @property
    def role(self) -> str:
        return role_of(self.actor)


def __getattr__(name: str):
    """`ScopedApi` (an APIView) and `ScopedListApi` (a ListAPIView) with the mixin, built on first
    use: DRF's views module imports this module through the settings, so it cannot be imported
    at the top of this module."""
    if name not in ("ScopedApi", "ScopedListApi"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rest_framework import generics, views

    if name == "ScopedApi":
        base, doc = views.APIView, "An APIView that resolves `self.actor` and enforces `roles`."
    else:
        base, doc = (
            generics.ListAPIView,
            "A read-only list whose get_queryset() starts from a selector.",
        )
    cls = type(name, (ScopedApiMixin, base), {"__module__": __name__, "__doc__": doc})
    globals()[name] = cls
    return cls
