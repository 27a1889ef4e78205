"""Issue 12 item 4 (logs): every handler masks phones, in the message, its arguments and the
exception text; django.server's request lines, gunicorn's access log and Celery workers too."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fanops.celery import app as celery_app
from fanops.logging import MaskPhoneFilter

ROOT = Path(__file__).resolve().parents[2]
PHONE = "13900139000"
MASKED = "139****9000"
RAW_PHONE = re.compile(r"1[3-9]\d{9}")


def _handlers_reached(name: str) -> list[logging.Handler]:
    """The handlers that write a record logged on `name` (its propagation chain; pytest's own
    capturing handlers and NullHandlers, which write nothing, left out)."""
    handlers, logger = [], logging.getLogger(name)
    while logger is not None:
        handlers += [
            h
            for h in logger.handlers
            if not isinstance(h, logging.NullHandler)
            and not type(h).__module__.startswith("_pytest")
        ]
        logger = logger.parent if logger.propagate else None
    return handlers


def _failing_insert() -> tuple:
    try:
        raise RuntimeError(
            'new row for relation "customers_customer" violates check constraint\n'
            f"DETAIL:  Failing row contains (7, {PHONE}, 王小丽)."
        )
    except RuntimeError:
        return sys.exc_info()


LOGGERS = ["django.server", "django.request", "django", "customers.services", "celery.task", ""]


@pytest.mark.parametrize("name", LOGGERS)
def test_every_handler_masks_message_arguments_and_exception_text(name):
    handlers = _handlers_reached(name)
    assert handlers, f"no handler for {name!r}"
    for handler in handlers:
        assert any(isinstance(f, MaskPhoneFilter) for f in handler.filters), handler
        record = logging.getLogger(name).makeRecord(
            name,
            logging.ERROR,
            __file__,
            1,
            '"%s" %s',
            (f"GET /fans/?q={PHONE} HTTP/1.1", "500"),
            _failing_insert(),
            sinfo=f"Stack (most recent call last):\n  lookup({PHONE!r})",
        )
        if name == "django.server":
            record.server_time = "02/Dec/2026 12:00:00"
        assert handler.filter(record)
        text = handler.format(record)
        assert "Failing row contains" in text and "GET /fans/" in text
        assert MASKED in text
        assert not RAW_PHONE.search(text), text


def test_django_logs_no_longer_go_to_an_unmasked_console_or_mail_admins():
    kinds = {type(h).__name__ for h in logging.getLogger("django").handlers}
    assert "AdminEmailHandler" not in kinds
    assert all(
        any(isinstance(f, MaskPhoneFilter) for f in h.filters) for h in _handlers_reached("django")
    )


def test_celery_workers_keep_the_masked_django_logging():
    root_before = list(logging.getLogger().handlers)
    celery_app.log.already_setup = False
    celery_app.log.setup_logging_subsystem(loglevel="INFO")
    assert logging.getLogger().handlers == root_before
    for handler in _handlers_reached("celery.task.customers"):
        assert any(isinstance(f, MaskPhoneFilter) for f in handler.filters), handler


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_access_log_masks_the_phone_in_the_query_string():
    port = _free_port()
    env = {**os.environ, "DEBUG": "1", "GUNICORN_BIND": f"127.0.0.1:{port}"}
    env.setdefault("WEB_CONCURRENCY", "1")
    env["WEB_CONCURRENCY"] = "1"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "fanops.wsgi:application",
            "--config",
            "gunicorn.conf.py",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/fans/?q={PHONE}"
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=5)  # redirected to the sign-in page
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        time.sleep(0.5)
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    access = [line for line in out.splitlines() if "GET /fans/" in line]
    assert access, out + err
    assert all(MASKED in line and not RAW_PHONE.search(line) for line in access), access
