"""Helpers for the relabel tests: hold the relabel lock from another connection."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from django.db import connection

from fanops import bulk
from segmentation import services


@contextmanager
def lock_held_elsewhere() -> Iterator[None]:
    """Hold the relabel lock as another process would: its own PG session, or its own open file."""
    if connection.vendor == "postgresql":
        params = connection.get_connection_params()
        other = psycopg2.connect(**{k: v for k, v in params.items() if k != "cursor_factory"})
        other.autocommit = True
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [services.LOCK_KEY])
            yield
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [services.LOCK_KEY])
        finally:
            other.close()
        return
    with open(bulk.lock_file_path(services.LOCK_NAME), "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
