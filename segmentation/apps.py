import hashlib
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from django.apps import AppConfig
from django.conf import settings
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _hashtextextended(text: str | None, seed: int) -> int | None:
    """A stand-in for PostgreSQL's hashtextextended(text, seed): a signed 64-bit hash (not the
    same numbers; the relabel job only compares hashes computed by one database)."""
    if text is None:
        return None
    digest = hashlib.blake2b(
        text.encode(), digest_size=8, salt=seed.to_bytes(8, "big", signed=True)
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _local_day(instant: str | None) -> int | None:
    """PostgreSQL's `(instant AT TIME ZONE TIME_ZONE)::date - DATE '1970-01-01'` for SQLite's
    UTC text instants (segmentation.forecasts)."""
    if instant is None:
        return None
    moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
    return (moment.astimezone(ZoneInfo(settings.TIME_ZONE)).date() - date(1970, 1, 1)).days


def _register_sqlite_functions(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "hashtextextended", 2, _hashtextextended, deterministic=True
        )
        connection.connection.create_function("fanops_local_day", 1, _local_day, deterministic=True)


class SegmentationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "segmentation"
    verbose_name = _("segmentation")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from customers.signals import orders_recorded
        from segmentation.live import forget_last_run, relabel_fans_of_orders
        from segmentation.models import RelabelRun

        connection_created.connect(_register_sqlite_functions)
        orders_recorded.connect(relabel_fans_of_orders, dispatch_uid="segmentation.live")
        # A run saved in this process (a test, a shell) may reuse a rolled-back id: the live
        # relabel's per-process copy of the last run must not outlive it.
        for signal in (post_save, post_delete):
            signal.connect(forget_last_run, sender=RelabelRun, dispatch_uid="segmentation.live")
