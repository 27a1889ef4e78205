"""The relabel job's write: which labels rows change, their staging and the switch.

Nightly only the fans whose `labels_key` (a hash of their stored values) moved are staged (a
COPY into a temporary table) and switched in one transaction: LabelChange rows, one
UPDATE … FROM, an INSERT of the missing rows and the stores' `StoreLabelling.as_of`.
A first run (every fan's row new) instead loads a new table by COPY, indexes it and swaps it in
under the live table's name (`build_labels_table`, `swap_labels`). See docs/scaling.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from customers.models import Customer, CustomerLabels, Store
from fanops import bulk
from segmentation import job, rules
from segmentation.job import Timer
from segmentation.models import LabelChange, RelabelRun, StoreLabelling

STAGE_TABLE = "segmentation_relabel_stage"
# The staged row of a fan whose labels row is (re)written: her new values (with monetary in
# cents); the remark names count only where `remarks_recomputed` (else the stored ones stay).
STAGE_COLUMNS = [
    ("customer_id", "bigint PRIMARY KEY"),
    ("has_labels", "boolean NOT NULL"),  # whether she had a labels row when the fans were read
    ("frequency", "integer NOT NULL"),
    ("monetary_cents", "bigint NOT NULL"),
    ("lifetime_sales", "integer NOT NULL"),
    ("first_sale", "date"),
    ("last_sale", "date"),
    ("window_first_sale", "date"),
    ("window_sales_cents", "bigint NOT NULL"),
    ("window_refund_cents", "bigint NOT NULL"),
    ("apple", "varchar(8) NOT NULL"),
    ("rfm_segment", "varchar(24) NOT NULL"),
    ("r_stage", "varchar(10) NOT NULL"),
    ("membership", "varchar(12) NOT NULL"),
    ("rhythm", "varchar(12) NOT NULL"),
    ("is_opinion_leader", "boolean NOT NULL"),
    ("remark_key", "bigint NOT NULL"),
    ("labels_key", "bigint NOT NULL"),
    ("remarks_recomputed", "boolean NOT NULL"),
    ("remark_store_account", "varchar(64) NOT NULL"),
    ("remark_personal_account", "varchar(64) NOT NULL"),
]
STAGE_CHUNK = 100_000  # rows per COPY: bounds the memory of a first run (every fan staged)
# The values of a labels row the job computes, hashed into its labels_key.
STORED_COLUMNS = [
    *(c for c in rules.OUTPUT_COLUMNS if c not in ("customer_id", "recency_days")),
    "is_opinion_leader",
    "remark_key",
]
CHANGE_GROUPS = [LabelChange.Group.APPLE, LabelChange.Group.RFM_SEGMENT, LabelChange.Group.R_STAGE]
COUNTED_GROUPS = ["apple", "rfm_segment", "r_stage", "membership", "rhythm"]


def labels_keys(labels: pd.DataFrame) -> np.ndarray:
    """The labels_key of each row: a 64-bit hash of its STORED_COLUMNS."""
    stored = labels[STORED_COLUMNS]
    return pd.util.hash_pandas_object(stored, index=False).to_numpy().view("int64")


def rows_to_write(labels: pd.DataFrame) -> np.ndarray:
    """Which fans' labels rows the switch writes: those without a row, and those whose new
    values hash differently from the row's `labels_key` (labels must hold its new keys)."""
    new_row = labels["has_labels"].to_numpy() == 0
    return new_row | (labels["labels_key"].to_numpy() != labels["old_labels_key"].to_numpy())


@contextmanager
def staged_labels(rows: pd.DataFrame) -> Iterator[None]:
    """The rows to write in this session's staging table for the block (dropped after it)."""
    frame = pd.DataFrame(
        {name: rows[name].array for name, _ in STAGE_COLUMNS}, index=rows.index, copy=False
    )
    with bulk.staged(STAGE_TABLE, STAGE_COLUMNS, frame, chunk=STAGE_CHUNK, date_format="%Y-%m-%d"):
        yield


def switch_labels(
    *, run: RelabelRun, as_of: date, store_ids: list[int] | None
) -> dict[str, dict[str, int]]:
    """Apply the staging table; the caller holds the transaction.

    1. LabelChange rows: staged fans whose labels row holds another apple, segment or stage
    (a fan's first row is not a change); 2. one UPDATE … FROM of the staged fans' rows; 3. INSERT
    of the staged fans without a row (fans deleted meanwhile are skipped); 4. the stores'
    `StoreLabelling.as_of`. Returns the change counts per group, "from→to".
    """
    labels = CustomerLabels._meta.db_table
    changes = LabelChange._meta.db_table
    customers = Customer._meta.db_table
    money = (
        "(s.monetary_cents::numeric / 100)"
        if connection.vendor == "postgresql"
        else "(s.monetary_cents / 100.0)"
    )
    exists = f"EXISTS (SELECT 1 FROM {customers} c WHERE c.id = s.customer_id)"
    remarks = ["remark_store_account", "remark_personal_account"]
    copied = [
        name
        for name, _ in STAGE_COLUMNS
        if name
        not in ("customer_id", "has_labels", "monetary_cents", "remarks_recomputed", *remarks)
    ]
    assignments = ", ".join(
        [f"monetary = {money}", "live_since = NULL"]
        + [f"{c} = s.{c}" for c in copied]
        + [f"{c} = CASE WHEN s.remarks_recomputed THEN s.{c} ELSE l.{c} END" for c in remarks]
    )
    columns = ["customer_id", "monetary", *copied, *remarks]
    values = ["s.customer_id", money, *(f"s.{c}" for c in copied + remarks)]
    params = {"run": run.pk, "started": run.started_at}
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {changes} (run_id, customer_id, "group", from_code, to_code) '
            + _moved_sql(STAGE_TABLE, labels),
            params,
        )
        cursor.execute(
            f"UPDATE {labels} AS l SET {assignments} FROM {STAGE_TABLE} s "
            f"WHERE l.customer_id = s.customer_id AND {NOT_LIVE}",
            params,
        )
        job.checkpoint("switch_updated")
        cursor.execute(
            f"""INSERT INTO {labels} ({", ".join(columns)})
                SELECT {", ".join(values)} FROM {STAGE_TABLE} s WHERE NOT s.has_labels AND {exists}
                ON CONFLICT (customer_id) DO NOTHING""",
            params,
        )
        counts = _change_counts(cursor, run)
    _labelled_as_of(as_of, store_ids=store_ids)
    return counts


# A row a sale relabelled live since the run started is newer than the run's read: kept.
NOT_LIVE = "(l.live_since IS NULL OR l.live_since < %(started)s)"


def _moved_sql(new: str, labels: str) -> str:
    """SELECT of the LabelChange rows (run, fan, group, from, to) of the fans whose row in
    `new` holds another apple, segment or stage than their row in `labels`."""
    groups = " UNION ALL ".join(f"SELECT '{group}' AS grp" for group in CHANGE_GROUPS)

    def of(row: str) -> str:
        cases = " ".join(f"WHEN '{gr}' THEN {row}.{gr}" for gr in CHANGE_GROUPS)
        return f"CASE g.grp {cases} END"

    return (
        f"SELECT %(run)s, s.customer_id, g.grp, {of('l')}, {of('s')} FROM {new} s "
        f"JOIN {labels} l ON l.customer_id = s.customer_id CROSS JOIN ({groups}) g "
        f"WHERE {of('l')} <> {of('s')} AND {NOT_LIVE}"
    )


def _change_counts(cursor, run: RelabelRun) -> dict[str, dict[str, int]]:
    """The run's LabelChange rows counted per group, "from→to" (with the `forecast` moves the
    run's forecasts recorded, when it made any)."""
    cursor.execute(
        f'SELECT "group", from_code, to_code, COUNT(*) FROM {LabelChange._meta.db_table} '
        'WHERE run_id = %s GROUP BY "group", from_code, to_code',
        [run.pk],
    )
    counts: dict[str, dict[str, int]] = {str(g): {} for g in CHANGE_GROUPS}
    for group, from_code, to_code, n in cursor.fetchall():
        counts.setdefault(group, {})[f"{from_code}→{to_code}"] = n
    return counts


def _labelled_as_of(as_of: date, *, store_ids: list[int] | None) -> None:
    """Every labelled store's `StoreLabelling.as_of` (the day its rows now hold)."""
    stores = store_ids if store_ids is not None else Store.objects.values_list("pk", flat=True)
    StoreLabelling.objects.bulk_create(
        [StoreLabelling(store_id=pk, as_of=as_of) for pk in stores],
        update_conflicts=True,
        unique_fields=["store"],
        update_fields=["as_of"],
    )


def label_counts(labels: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Fans per code of each computed group ('' counted as "none")."""
    return {
        group: {
            (str(code) or "none"): int(n)
            for code, n in labels[group].value_counts(sort=False).sort_index().items()
            if n
        }
        for group in COUNTED_GROUPS
    }


# --- a first run: the labels table built anew and swapped in ------------------------------------

SWAP_TABLE = "segmentation_relabel_swap"
# The labels row's columns a run writes (live_since stays NULL) and their binary COPY kinds.
SWAP_COLUMNS = [  # the fixed-width ones first: numpy lays them out as one block per row
    ("customer_id", "int8"), ("frequency", "int4"), ("monetary", "cents"),
    ("lifetime_sales", "int4"), ("window_sales_cents", "int8"),
    ("window_refund_cents", "int8"), ("is_opinion_leader", "bool"), ("remark_key", "int8"),
    ("labels_key", "int8"), ("first_sale", "date"), ("last_sale", "date"),
    ("window_first_sale", "date"), ("apple", "text"), ("rfm_segment", "text"),
    ("r_stage", "text"), ("membership", "text"), ("rhythm", "text"),
    ("remark_store_account", "text"), ("remark_personal_account", "text"),
]  # fmt: skip
_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ (USING .*)$")
_STATISTICS_DEF = re.compile(r"^CREATE STATISTICS \S+ (.*) FROM \S+$")


def swap_applies(labels: pd.DataFrame, rows: pd.DataFrame, *, store_ids: list[int] | None) -> bool:
    """Whether the switch builds a new labels table instead: a brand-wide first run on
    PostgreSQL (every fan staged, none with a row when the fans were read, all remark names
    built) of at least `RELABEL_SWAP_MIN_ROWS` fans (below it the INSERT into the live table
    costs little), with a live table nothing else depends on."""
    if connection.vendor != "postgresql" or store_ids is not None:
        return False
    if len(rows) < max(settings.RELABEL_SWAP_MIN_ROWS, 1) or len(rows) != len(labels):
        return False
    if (rows["has_labels"].to_numpy() != 0).any() or not rows["remarks_recomputed"].all():
        return False
    return _swappable(CustomerLabels._meta.db_table)


def _swappable(table: str) -> bool:
    """No trigger, rule, policy, view, inheritance or foreign key into `table`: the swap
    recreates its columns, indexes, constraints, statistics and storage options only."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (SELECT COUNT(*) FROM pg_trigger WHERE tgrelid = t.oid AND NOT tgisinternal)
                    + (SELECT COUNT(*) FROM pg_rewrite WHERE ev_class = t.oid)
                    + (SELECT COUNT(*) FROM pg_policy WHERE polrelid = t.oid)
                    + (SELECT COUNT(*) FROM pg_inherits WHERE inhrelid = t.oid OR inhparent = t.oid)
                    + (SELECT COUNT(*) FROM pg_constraint WHERE confrelid = t.oid)
                    + (SELECT COUNT(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                        WHERE d.refobjid = t.oid AND d.classid = 'pg_rewrite'::regclass)
                 FROM pg_class t WHERE t.oid = %s::regclass""",
            [table],
        )
        return cursor.fetchone()[0] == 0


def _schema_of(cursor, table: str) -> dict:
    """What the swap recreates of `table`: storage options, index and statistics definitions
    (name → the part after the table), constraint definitions (name → (type, definition))."""
    cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
    options = cursor.fetchone()[0] or []
    cursor.execute(
        """SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
             JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid
                                                          AND c.conrelid = x.indrelid)
            ORDER BY i.relname""",
        [table],
    )
    indexes = {}
    for name, definition in cursor.fetchall():
        unique, _, using = _INDEX_DEF.match(definition).groups()
        indexes[name] = (unique or "", using)
    cursor.execute(
        """SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype <> 'n' ORDER BY contype DESC, conname""",
        [table],
    )
    constraints = {name: (kind, definition) for name, kind, definition in cursor.fetchall()}
    cursor.execute(
        """SELECT stxname, pg_get_statisticsobjdef(oid) FROM pg_statistic_ext
            WHERE stxrelid = %s::regclass ORDER BY stxname""",
        [table],
    )
    statistics = {
        name: _STATISTICS_DEF.match(definition).group(1) for name, definition in cursor.fetchall()
    }
    return {"options": options, "indexes": indexes, "constraints": constraints,
            "statistics": statistics}  # fmt: skip


def build_labels_table(rows: pd.DataFrame, *, timer: Timer | None = None) -> None:
    """Load `rows` (every fan's new labels row) into a new table shaped like the live one,
    then build its indexes: COPY into a table without indexes and one sorted build per index,
    instead of 1M index insertions and deferred foreign-key checks. The caller holds the
    transaction: a failure (or kill -9) drops the table with it; nobody else sees it."""
    live = CustomerLabels._meta.db_table
    timer = timer or Timer()
    with timer.phase("load"), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")  # each index sorted in memory
        schema = _schema_of(cursor, live)
        options = f" WITH ({', '.join(schema['options'])})" if schema["options"] else ""
        cursor.execute(f"DROP TABLE IF EXISTS {SWAP_TABLE}")
        cursor.execute(
            f"CREATE TABLE {SWAP_TABLE} (LIKE {live} INCLUDING DEFAULTS INCLUDING STORAGE"
            f" INCLUDING COMPRESSION){options}"
        )
        bulk.copy_binary(
            cursor,
            SWAP_TABLE,
            [(name, kind, _swap_values(rows, name, kind)) for name, kind in SWAP_COLUMNS],
            chunk=STAGE_CHUNK,
        )
    with timer.phase("indexes"), connection.cursor() as cursor:
        for i, (kind, definition) in enumerate(schema["constraints"].values()):
            if kind in ("p", "u"):  # their indexes, built now; foreign keys once locked
                cursor.execute(
                    f"ALTER TABLE {SWAP_TABLE} ADD CONSTRAINT {_swap_name(i)} {definition}"
                )
        for i, (unique, using) in enumerate(schema["indexes"].values()):
            cursor.execute(f"CREATE {unique}INDEX {_swap_name(i, 'i')} ON {SWAP_TABLE} {using}")


def _swap_values(rows: pd.DataFrame, name: str, kind: str):
    """Column `name` of `rows` as `bulk.copy_binary` takes it (monetary: its cents)."""
    if name == "monetary":
        return rows["monetary_cents"].to_numpy()
    values = rows[name].array
    if kind == "text" and isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical(values)
    if kind == "text":
        return values.to_numpy(dtype=object)
    return values.to_numpy()


def _swap_name(i: int, kind: str = "c") -> str:
    """A temporary name for the swap table's i-th constraint/index/statistics object."""
    return f"{SWAP_TABLE}_{kind}{i}"


def swap_labels(*, run: RelabelRun, as_of: date) -> dict[str, dict[str, int]]:
    """Put the table `build_labels_table` built in the live one's place, in the caller's
    transaction; returns the change counts as `switch_labels` does.

    The fans' and the labels table are locked (fans first, as every order write takes them)
    for the few statements that follow: rows written since the fans were read (a live sale, a
    registration) win, as in `switch_labels`, fans deleted meanwhile are left out; then the
    foreign keys, statistics objects and planner statistics, and the renames, under the
    original names. Readers wait for the commit, then see the new table."""
    live = CustomerLabels._meta.db_table
    customers = Customer._meta.db_table
    changes = LabelChange._meta.db_table
    columns = ", ".join(f'"{c.column}"' for c in CustomerLabels._meta.concrete_fields)
    params = {"run": run.pk, "started": run.started_at}
    with connection.cursor() as cursor:
        schema = _schema_of(cursor, live)
        cursor.execute(f"LOCK TABLE {customers} IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f'INSERT INTO {changes} (run_id, customer_id, "group", from_code, to_code) '
            + _moved_sql(SWAP_TABLE, live),
            params,
        )
        cursor.execute(
            f"DELETE FROM {SWAP_TABLE} s USING {live} l WHERE s.customer_id = l.customer_id"
        )
        cursor.execute(f"INSERT INTO {SWAP_TABLE} ({columns}) SELECT {columns} FROM {live}")
        cursor.execute(
            f"DELETE FROM {SWAP_TABLE} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {customers} c WHERE c.id = s.customer_id)"
        )
        constraints = list(schema["constraints"].items())
        for i, (_, (kind, definition)) in enumerate(constraints):
            if kind not in ("p", "u"):
                cursor.execute(
                    f"ALTER TABLE {SWAP_TABLE} ADD CONSTRAINT {_swap_name(i)} {definition}"
                )
        for i, definition in enumerate(schema["statistics"].values()):
            cursor.execute(f"CREATE STATISTICS {_swap_name(i, 's')} {definition} FROM {SWAP_TABLE}")
        job.checkpoint("swap_locked")
        cursor.execute(f"DROP TABLE {live}")
        cursor.execute(f"ALTER TABLE {SWAP_TABLE} RENAME TO {live}")
        for i, (name, _) in enumerate(constraints):
            cursor.execute(f"ALTER TABLE {live} RENAME CONSTRAINT {_swap_name(i)} TO {name}")
        for i, name in enumerate(schema["indexes"]):
            cursor.execute(f"ALTER INDEX {_swap_name(i, 'i')} RENAME TO {name}")
        for i, name in enumerate(schema["statistics"]):
            cursor.execute(f"ALTER STATISTICS {_swap_name(i, 's')} RENAME TO {name}")
        cursor.execute(f"ANALYZE {live}")
        counts = _change_counts(cursor, run)
    _labelled_as_of(as_of, store_ids=None)
    return counts
