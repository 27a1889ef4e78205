"""Set-based reads and writes: pandas frames in and out of the database, staging tables and
advisory locks. PostgreSQL gets COPY; SQLite (the embedded default, tests) a plain fallback
with the same results.

API (all on Django's default `connection`; callers hold any transaction they need):

- `copy_frame(cursor, table, frame, columns=None, *, force_not_null=(), chunk=COPY_CHUNK,
  date_format=None, float_format=None) -> int`: insert `frame`'s `columns` (default: all, named
  as the table's columns) into `table`. PostgreSQL: CSV `COPY … FROM STDIN` in chunks, the next
  chunk formatted in a thread while the server ingests this one; NaN/None/NaT/NA are NULL,
  except in `force_not_null` columns (text: a `\\N` value stays text). SQLite: `executemany`
  of the same chunks. Integer columns with missing values: use the nullable `Int64` dtype.
  datetime64 columns are written with `date_format` (default ISO 8601; aware ones in UTC),
  floats with `float_format` (default: the shortest exact repr). Returns the number of rows.
- `copy_rows(cursor, table, columns, rows, *, force_not_null=(), chunk=COPY_CHUNK) -> int`: the
  same for a sequence of tuples of Python values (None is NULL), without building a frame:
  for writers that hold rows already (model instances turned into tuples, say).
- `read_frame(sql, params, columns) -> DataFrame`: the rows of `sql` as a frame typed by
  `columns` (name, dtype), in order: integer dtypes (never NULL), float (NULL → NaN), `str`
  (NULL → ''), `object` (as the driver returns it). PostgreSQL: all-integer columns are read as
  one binary `COPY … TO STDOUT` that numpy views as a record array (no parsing at all), others
  as a CSV COPY parsed by `pandas.read_csv`; both several times faster than fetching tuples.
- `create_table(cursor, table, columns, *, temporary=False, unlogged=False,
  if_not_exists=False)`: DDL from (name, SQL type) pairs; `unlogged` only on PostgreSQL.
- `staged(table, columns, frame=None, **copy_options)`: a context manager around a temporary
  table holding `frame` (copied with `copy_frame`; NOT NULL text columns are `force_not_null`),
  dropped when the block ends, however it ends. Typical use: stage rows, then one
  `UPDATE … FROM`/`INSERT … SELECT` inside the caller's transaction.
- `advisory_lock(name)`: a context manager that takes the lock `name` without waiting and
  yields whether it got it. PostgreSQL: a session-level advisory lock (seen by every process and
  machine on the database, released when the session ends, even on SIGKILL); SQLite: `flock()`
  on a file next to the database (released by the kernel when the process dies).
- `update_if_unlocked(queryset, name, **values) -> int`: `queryset.update(**values)` unless some
  session holds the lock `name`, decided in the same statement (PostgreSQL: `pg_locks`), so a
  session that takes the lock meanwhile is never overwritten.
- `lock_key(name)`, `lock_file_path(name)`: the PostgreSQL key and the SQLite file of a lock.

Table and column names are interpolated into SQL: pass constants, never user input.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import pandas as pd
from django.db import DatabaseError, connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

logger = logging.getLogger(__name__)

COPY_CHUNK = 100_000  # rows per COPY / executemany: bounds the memory of one formatted chunk
NULL = "\\N"
_TEXT_TYPES = ("varchar", "char", "text")


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


# --- writing frames -----------------------------------------------------------------------------


def copy_frame(
    cursor,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    force_not_null: Iterable[str] = (),
    chunk: int = COPY_CHUNK,
    date_format: str | None = None,
    float_format: str | None = None,
) -> int:
    """Insert `frame`'s `columns` into `table` (see the module docstring). Returns the row count."""
    names = list(frame.columns if columns is None else columns)
    if not len(frame):
        return 0
    null = NULL if connection.vendor == "postgresql" else None

    def chunk_rows(start: int) -> Iterator[tuple]:
        block = frame.iloc[start : start + chunk]
        values = [_column_values(block[name], null, date_format, float_format) for name in names]
        return zip(*values, strict=True)

    return _copy(cursor, table, names, len(frame), chunk, chunk_rows, force_not_null)


def copy_rows(
    cursor,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple],
    *,
    force_not_null: Iterable[str] = (),
    chunk: int = COPY_CHUNK,
) -> int:
    """Insert `rows` (tuples of Python values in `columns`' order; None is NULL) into `table`,
    as `copy_frame` does, without building a frame first. Returns the row count."""
    if not rows:
        return 0
    postgres = connection.vendor == "postgresql"

    def chunk_rows(start: int) -> Iterator[tuple]:
        block = rows[start : start + chunk]
        if not postgres:
            return iter(block)
        return (row if None not in row else tuple(_null(v) for v in row) for row in block)

    return _copy(cursor, table, list(columns), len(rows), chunk, chunk_rows, force_not_null)


BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
BINARY_TRAILER = b"\xff\xff"
_FIXED = {"int8": ">i8", "int4": ">i4", "float8": ">f8", "bool": "u1"}
_PG_EPOCH_DAYS = 10_957  # 2000-01-01, day 0 of PostgreSQL's binary dates, in Unix days


def copy_binary(
    cursor, table: str, columns: Sequence[tuple[str, str, np.ndarray]], *, chunk: int = COPY_CHUNK
) -> int:
    """Insert the arrays of `columns` — (name, kind, values) — into `table` with binary
    `COPY … FROM STDIN` (PostgreSQL only): numpy lays out the bytes, so no value is formatted
    or parsed as text. Kinds: "int8", "int4", "float8", "bool" (never NULL), "int4 null"
    (float values, NaN is NULL), "date" (datetime64, NaT is NULL), "cents" (int64 cents into a
    numeric of scale 2), "text" (str, never NULL).
    Returns the number of rows."""
    count = len(columns[0][2]) if columns else 0
    if not count:
        return 0
    quoted = ", ".join(_quote(name) for name, _, _ in columns)
    sql = f"COPY {_quote(table)} ({quoted}) FROM STDIN WITH (FORMAT binary)"
    raw = getattr(cursor, "cursor", cursor)

    def stream(start: int) -> io.BytesIO:
        block = [(kind, values[start : start + chunk]) for _, kind, values in columns]
        return io.BytesIO(_binary_rows(block))

    # The next chunk is laid out in a thread while the server ingests this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        starts = list(range(0, count, chunk))
        pending = pool.submit(stream, starts[0])
        for following in [*starts[1:], None]:
            buffer = pending.result()
            if following is not None:
                pending = pool.submit(stream, following)
            raw.copy_expert(sql, buffer, size=1 << 20)
    return count


def _binary_rows(columns: list[tuple[str, np.ndarray]]) -> bytes:
    """One binary COPY stream of `columns`' rows: each row is its field count, then each field's
    length and bytes. Built as pieces (one per fixed part, one per variable part), each a byte
    array with its length per row, then gathered into their places row by row."""
    n = len(columns[0][1])
    pieces = [_fixed(np.full(n, len(columns), dtype=">i2"))]
    for kind, values in columns:
        if kind in _FIXED:
            record = np.empty(n, dtype=[("length", ">i4"), ("value", _FIXED[kind])])
            record["length"] = np.dtype(_FIXED[kind]).itemsize
            record["value"] = values
            pieces.append(_fixed(record))
        elif kind == "cents":
            pieces.append(_fixed(_numeric_cents(np.asarray(values, dtype=np.int64))))
        elif kind == "int4 null":
            numbers = np.asarray(values, dtype="float64")
            null = np.isnan(numbers)
            pieces.append(_fixed(np.where(null, -1, 4).astype(">i4")))
            data = numbers[~null].astype(">i4")
            pieces.append((data.view(np.uint8), np.where(null, 0, 4)))  # NULLs have no bytes
        elif kind == "date":
            days = np.asarray(values).astype("datetime64[D]")
            null = np.isnat(days)
            pieces.append(_fixed(np.where(null, -1, 4).astype(">i4")))
            data = (days[~null].astype(np.int64) - _PG_EPOCH_DAYS).astype(">i4")
            pieces.append((data.view(np.uint8), np.where(null, 0, 4)))  # NULLs have no bytes
        elif kind == "text":
            data, lengths = _utf8(values)
            pieces.append(_fixed(lengths.astype(">i4")))
            pieces.append((data, lengths))
        else:
            raise ValueError(f"unknown binary COPY kind {kind!r}")
    pieces = _merged(pieces, n)
    lengths = np.stack([piece_lengths for _, piece_lengths in pieces])
    row_lengths = lengths.sum(axis=0)
    row_starts = np.cumsum(row_lengths) - row_lengths + len(BINARY_HEADER)
    piece_starts = row_starts + np.cumsum(lengths, axis=0) - lengths
    out = np.empty(len(BINARY_HEADER) + int(row_lengths.sum()) + 2, dtype=np.uint8)
    out[: len(BINARY_HEADER)] = np.frombuffer(BINARY_HEADER, dtype=np.uint8)
    out[-2:] = np.frombuffer(BINARY_TRAILER, dtype=np.uint8)
    for (data, piece_lengths), starts in zip(pieces, piece_starts, strict=True):
        width = int(piece_lengths[0]) if n else 0
        if (piece_lengths == width).all():  # the same length in every row: a 2-D placement
            out[starts[:, None] + np.arange(width)] = data.reshape(n, width)
            continue
        total = int(piece_lengths.sum())
        within = np.arange(total) - np.repeat(
            np.cumsum(piece_lengths) - piece_lengths, piece_lengths
        )
        out[np.repeat(starts, piece_lengths) + within] = data[:total]
    return out.tobytes()


def _merged(pieces: list, n: int) -> list:
    """`pieces` with each run of fixed-length pieces joined into one (fewer placements)."""
    out: list = []
    for data, lengths in pieces:
        fixed = n and (lengths == lengths[0]).all()
        if fixed and out and out[-1][2]:
            before, before_lengths, _ = out[-1]
            joined = np.hstack([before.reshape(n, -1), data.reshape(n, -1)]).reshape(-1)
            out[-1] = (joined, before_lengths + lengths, True)
        else:
            out.append((data, lengths, bool(fixed)))
    return [(data, lengths) for data, lengths, _ in out]


def _utf8(values) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of `values` one after the other, and each one's length. A Categorical's
    categories are encoded once and laid out by its codes."""
    if isinstance(values, pd.Categorical) and (values.codes >= 0).all():
        encoded = [str(category).encode() for category in values.categories]
        sizes = np.array([len(e) for e in encoded] or [0], dtype=np.int64)
        table = np.zeros((len(encoded) or 1, int(sizes.max())), dtype=np.uint8)
        for i, e in enumerate(encoded):
            table[i, : len(e)] = np.frombuffer(e, dtype=np.uint8)
        lengths = sizes[values.codes]
        keep = np.arange(table.shape[1]) < lengths[:, None]
        return table[values.codes][keep], lengths
    encoded = [str(value).encode() for value in values]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths


def _fixed(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A piece of the same length in every row."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint8).reshape(-1), np.full(len(values), values.itemsize)


def _numeric_cents(cents: np.ndarray) -> np.ndarray:
    """Binary numerics of scale 2: five base-10000 digits of weight 3 (up to 10**16 units, then
    the cents); the server strips the leading and trailing zero digits."""
    record = np.empty(
        len(cents),
        dtype=[("length", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"),
               ("dscale", ">i2"), ("digits", ">i2", (5,))],
    )  # fmt: skip
    record["length"] = 18
    record["ndigits"], record["weight"], record["dscale"] = 5, 3, 2
    record["sign"] = np.where(cents < 0, 0x4000, 0)
    units, hundredths = np.divmod(np.abs(cents), 100)
    for i, power in enumerate((10_000**3, 10_000**2, 10_000, 1)):
        record["digits"][:, i] = (units // power) % 10_000
    record["digits"][:, 4] = hundredths * 100
    return record


def _null(value):
    return NULL if value is None else value


def _copy(cursor, table, names, count, chunk, chunk_rows, force_not_null) -> int:
    """COPY (PostgreSQL) or executemany (SQLite) of `count` rows, `chunk` at a time."""
    quoted = ", ".join(_quote(name) for name in names)
    starts = list(range(0, count, chunk))
    if connection.vendor != "postgresql":
        placeholders = ", ".join(["%s"] * len(names))
        sql = f"INSERT INTO {_quote(table)} ({quoted}) VALUES ({placeholders})"
        for start in starts:
            cursor.executemany(sql, list(chunk_rows(start)))
        return count
    options = f"FORMAT csv, NULL '{NULL}'"
    forced = [_quote(name) for name in force_not_null]
    if forced:
        options += f", FORCE_NOT_NULL ({', '.join(forced)})"
    sql = f"COPY {_quote(table)} ({quoted}) FROM STDIN WITH ({options})"
    raw = getattr(cursor, "cursor", cursor)  # the psycopg2 cursor behind Django's wrapper

    def csv_chunk(start: int) -> io.StringIO:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(chunk_rows(start))
        buffer.seek(0)
        return buffer

    if len(starts) == 1:
        raw.copy_expert(sql, csv_chunk(0), size=1 << 20)
        return count
    # Format the next chunk in a thread while PostgreSQL ingests this one (psycopg2 releases the
    # GIL while it waits for the server): Python and the server work side by side.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(csv_chunk, starts[0])
        for following in [*starts[1:], None]:
            buffer = pending.result()
            if following is not None:
                pending = pool.submit(csv_chunk, following)
            raw.copy_expert(sql, buffer, size=1 << 20)
    return count


def _column_values(
    series: pd.Series, null, date_format: str | None, float_format: str | None
) -> np.ndarray:
    """A column as Python values for the CSV writer or the DB-API; `null` where missing."""
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if series.dt.tz is not None:  # instants: written in UTC (Django's connections are UTC)
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        if date_format in (None, "%Y-%m-%d"):
            unit = "D" if date_format else "us"
            text = np.datetime_as_string(series.to_numpy().astype(f"datetime64[{unit}]"), unit=unit)
            if null is None:  # SQLite: the text Django writes, "YYYY-MM-DD HH:MM:SS.ffffff"
                text = np.char.replace(text, "T", " ")
            values = text.astype(object)
        else:
            values = series.dt.strftime(date_format).to_numpy(dtype=object)
    elif float_format and series.dtype.kind == "f":
        values = np.asarray([float_format % v for v in series.fillna(0).tolist()], dtype=object)
    elif null is not None and isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiu":
        # PostgreSQL: numpy's own shortest repr, in C (3 × faster than the CSV writer's repr).
        values = series.to_numpy().astype(str).astype(object)
    else:
        values = series.to_numpy(dtype=object)
    if missing.any():
        values[missing] = null
    return values


# --- reading frames -----------------------------------------------------------------------------


def read_frame(sql: str, params, columns: Sequence[tuple[str, object]]) -> pd.DataFrame:
    """The rows of `sql` with `params`, typed by `columns` (see the module docstring)."""
    kinds = {name: np.dtype(kind) for name, kind in columns}
    if connection.vendor != "postgresql":
        if isinstance(params, dict):  # a list SQLite's SQL inlines cannot be bound, nor logged
            params = {key: value for key, value in params.items() if f"%({key})s" in sql}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=list(kinds))
        return _typed(frame, kinds)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        query = raw.mogrify(sql, params).decode()
        if all(kind.kind in "iu" for kind in kinds.values()):
            return _binary_integers(raw, query, kinds)
        buffer = io.StringIO()
        raw.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    if not buffer.getvalue():
        return _typed(pd.DataFrame(columns=list(kinds)), kinds)
    numbers = [name for name, kind in kinds.items() if kind.kind == "f"]
    return pd.read_csv(
        buffer,
        names=list(kinds),
        header=None,
        dtype={name: (str if kind.kind in "OU" else kind) for name, kind in kinds.items()},
        keep_default_na=False,
        na_values=dict.fromkeys(numbers, [""]),
    )


def _typed(frame: pd.DataFrame, kinds: dict[str, np.dtype]) -> pd.DataFrame:
    """The fallback's fetched rows as `read_frame` types them on PostgreSQL."""
    for name, kind in kinds.items():
        if kind.kind == "f":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(kind)
        elif kind.kind == "U":
            frame[name] = frame[name].fillna("").astype(str)
        elif kind.kind in "iub":
            frame[name] = frame[name].astype(kind)
    return frame


def _binary_integers(raw, query: str, kinds: dict[str, np.dtype]) -> pd.DataFrame:
    """One binary COPY of integer, never-NULL columns, viewed by numpy as a record array."""
    buffer = io.BytesIO()
    raw.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT binary)", buffer)
    data = buffer.getbuffer()
    # Header: 11-byte signature, flags, extension length (0); each row: field count, then per
    # field its length and big-endian value; trailer: -1.
    fields = [("count", ">i2")]
    for name, kind in kinds.items():
        fields += [(f"{name}__length", ">i4"), (name, ">" + kind.str[1:])]
    record = np.dtype(fields)
    body = len(data) - 19 - 2
    if body % record.itemsize:
        raise ValueError("unexpected row layout in the binary COPY (a NULL or a wider type?)")
    rows = np.frombuffer(data, dtype=record, offset=19, count=body // record.itemsize)
    return pd.DataFrame({name: rows[name].astype(kind) for name, kind in kinds.items()}, copy=False)


# --- tables -------------------------------------------------------------------------------------


def create_table(
    cursor,
    table: str,
    columns: Sequence[tuple[str, str]],
    *,
    temporary: bool = False,
    unlogged: bool = False,
    if_not_exists: bool = False,
) -> None:
    """CREATE [TEMPORARY | UNLOGGED] TABLE [IF NOT EXISTS] `table` (name type, …)."""
    kind = "TEMPORARY " if temporary else ""
    if unlogged and not temporary and connection.vendor == "postgresql":
        kind = "UNLOGGED "  # no WAL: scratch data that a crash may lose
    exists = "IF NOT EXISTS " if if_not_exists else ""
    body = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
    cursor.execute(f"CREATE {kind}TABLE {exists}{table} ({body})")


@contextmanager
def staged(
    table: str,
    columns: Sequence[tuple[str, str]],
    frame: pd.DataFrame | None = None,
    **copy_options,
) -> Iterator[str]:
    """A temporary `table` holding `frame`, dropped when the block ends; yields its name.

    An earlier table of that name in this session (a run that died half-way on a kept
    connection) is dropped first. When the block fails, the drop is best effort: inside an
    aborted transaction it cannot run, and the rollback removes the table anyway.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        create_table(cursor, table, columns, temporary=True)
    try:
        if frame is not None:
            texts = [
                name
                for name, sql_type in columns
                if sql_type.lower().startswith(_TEXT_TYPES) and "not null" in sql_type.lower()
            ]
            with connection.cursor() as cursor:
                copy_frame(
                    cursor,
                    table,
                    frame,
                    [name for name, _ in columns],
                    force_not_null=texts,
                    **copy_options,
                )
        yield table
    except BaseException:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        except DatabaseError:
            logger.info("staging table %s is left to the rollback", table)
        raise
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


# --- locks --------------------------------------------------------------------------------------


def lock_key(name: str) -> int:
    """The advisory lock key of `name`: the first 8 bytes of sha256(name) as a signed bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def lock_file_path(name: str) -> str:
    """SQLite: the file whose flock() is the lock `name` (next to the database when it is a file)."""
    database = str(connection.settings_dict["NAME"])
    if "mode=memory" in database or ":memory:" in database:
        database += f"|pid {os.getpid()}"  # an in-memory database lives in this process only
    elif database and os.sep in database:
        return f"{database}.{name}.lock"
    digest = hashlib.sha256(database.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"fanops-{name}-{digest}.lock")


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields False (at once) when another session has it."""
    if connection.vendor == "postgresql":
        key = lock_key(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    handle = open(lock_file_path(name), "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


# A bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low 32), objsubid 1.
_LOCK_HELD_SQL = """EXISTS (
    SELECT 1 FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND objsubid = 1
       AND classid::bigint = %s AND objid::bigint = %s
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"""


def update_if_unlocked(queryset: QuerySet, name: str, **values) -> int:
    """`queryset.update(**values)` unless a session holds the lock `name`; rows updated.

    PostgreSQL: one UPDATE whose WHERE reads pg_locks, so the check and the write are one
    statement (a row a lock holder writes after it took the lock is never matched: lock first,
    then write). SQLite: the file lock is held for the UPDATE.
    """
    if connection.vendor == "postgresql":
        key = lock_key(name) & 0xFFFF_FFFF_FFFF_FFFF
        free = RawSQL(
            f"NOT {_LOCK_HELD_SQL}", [key >> 32, key & 0xFFFF_FFFF], output_field=BooleanField()
        )
        return queryset.filter(free).update(**values)
    with advisory_lock(name) as acquired:
        return queryset.update(**values) if acquired else 0
