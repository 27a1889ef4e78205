"""Who is calling the API: an *actor*, and the base views that resolve it before anything runs.

Every view under /api/v1/ derives from `ScopedApi` (or `ScopedListApi`): it resolves the
caller to an actor (an active `Staff` or a `PosDevice`) before anything else runs, refuses the
roles the view does not list, and leaves `self.actor` for the view to hand to the scoping
selectors of `customers/selectors.py`. A view that forgets to declare `roles`, or a list view that
declares a class-level `queryset` instead of starting from a selector, fails at import or on
first use, and `tests/api/test_authorization_matrix.py` fails for any route not in its table.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, generics, views

from customers.auth import PosDevice
from customers.selectors import staff_of
from fanops.api import POS


def actor_of_user(user) -> Any:
    """The actor behind `request.user`: a `PosDevice`, an active `Staff`, or None."""
    if isinstance(user, PosDevice):
        return user
    return staff_of(user)


def role_of(actor) -> str:
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


class ScopedApi(ScopedApiMixin, views.APIView):
    """An APIView that resolves `self.actor` and enforces `roles`."""


class ScopedListApi(ScopedApiMixin, generics.ListAPIView):
    """A read-only list whose get_queryset() starts from a selector."""
