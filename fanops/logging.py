"""Logs never keep a raw phone: a filter on every handler masks mainland mobile numbers in the
message, its arguments and the exception text (PostgreSQL's "Failing row contains (… phone …)").

Used by settings.LOGGING (every handler, django.server's request lines included), by
gunicorn.conf.py (gunicorn's error and access logs) and by Celery workers, which keep Django's
logging instead of installing their own handlers (`_keep_django_logging`).
"""

import logging
import re

from celery import signals

PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1\d{2})[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_TRACEBACKS = logging.Formatter()


def mask_phones_in(text: str) -> str:
    return PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_record(record: logging.LogRecord) -> None:
    """Mask `record` in place, so every handler after this one sees the masked text too."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: keep both, masked
        message = f"{record.msg} {record.args}"
    record.msg, record.args = mask_phones_in(message), None
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set: render the traceback once, masked.
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_phones_in(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_phones_in(record.stack_info)


class MaskPhoneFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


@signals.setup_logging.connect
def _keep_django_logging(**kwargs) -> None:
    """A receiver here tells Celery not to configure logging: its workers log through
    settings.LOGGING (the masked handlers), not through handlers of their own."""
