"""API plumbing shared by every app: error mapping, pagination, throttling."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import pagination, throttling
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Services raise Django's ValidationError; the API answers it like DRF's own (400)."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            exc = ValidationError(detail=exc.message_dict)
        else:
            exc = ValidationError(detail={"detail": exc.messages})
    return drf_exception_handler(exc, context)


class Pagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class PerCredentialThrottle(throttling.SimpleRateThrottle):
    """One bucket per POS token or staff user; anonymous callers per address."""

    scope = "credential"

    def get_cache_key(self, request, view):
        user = request.user
        if user is not None and user.is_authenticated:
            ident = user.pk
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
