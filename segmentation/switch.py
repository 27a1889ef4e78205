"""The relabel job's write: which labels rows change, their staging and the switch.

Nightly only the fans whose `labels_key` (a hash of their stored values) moved are staged (a
COPY into a temporary table) and switched in one transaction: LabelChange rows, one
UPDATE … FROM, an INSERT of the missing rows and the stores' `StoreLabelling.as_of`.
See docs/scaling.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import numpy as np
import pandas as pd
from django.db import connection

from customers.models import Customer, CustomerLabels, Store
from fanops import bulk
from segmentation import job, rules
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
    # A row a sale relabelled live since the run started is newer than the run's read: kept.
    params = {"run": run.pk, "started": run.started_at}
    not_live = "(l.live_since IS NULL OR l.live_since < %(started)s)"
    groups = " UNION ALL ".join(f"SELECT '{group}' AS grp" for group in CHANGE_GROUPS)

    def of(row: str) -> str:
        return (
            "CASE g.grp "
            + " ".join(f"WHEN '{gr}' THEN {row}.{gr}" for gr in CHANGE_GROUPS)
            + " END"
        )

    moved = (
        f"SELECT %(run)s, s.customer_id, g.grp, {of('l')}, {of('s')} FROM {STAGE_TABLE} s "
        f"JOIN {labels} l ON l.customer_id = s.customer_id CROSS JOIN ({groups}) g "
        f"WHERE {of('l')} <> {of('s')} AND {not_live}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {changes} (run_id, customer_id, "group", from_code, to_code) {moved}',
            params,
        )
        cursor.execute(
            f"UPDATE {labels} AS l SET {assignments} FROM {STAGE_TABLE} s "
            f"WHERE l.customer_id = s.customer_id AND {not_live}",
            params,
        )
        job.checkpoint("switch_updated")
        cursor.execute(
            f"""INSERT INTO {labels} ({", ".join(columns)})
                SELECT {", ".join(values)} FROM {STAGE_TABLE} s WHERE NOT s.has_labels AND {exists}
                ON CONFLICT (customer_id) DO NOTHING""",
            params,
        )
        cursor.execute(
            f'SELECT "group", from_code, to_code, COUNT(*) FROM {changes} WHERE run_id = %(run)s '
            'GROUP BY "group", from_code, to_code',
            params,
        )
        counts: dict[str, dict[str, int]] = {str(g): {} for g in CHANGE_GROUPS}
        for group, from_code, to_code, n in cursor.fetchall():
            counts[group][f"{from_code}→{to_code}"] = n
    stores = store_ids if store_ids is not None else Store.objects.values_list("pk", flat=True)
    StoreLabelling.objects.bulk_create(
        [StoreLabelling(store_id=pk, as_of=as_of) for pk in stores],
        update_conflicts=True,
        unique_fields=["store"],
        update_fields=["as_of"],
    )
    return counts


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
