"""Standard WeChat remark names of the relabel job (SPEC §3), rebuilt only where their inputs
changed: the inputs are hashed into each labels row's `remark_key`; nightly, a few fans' names
are read and recomputed with `tagging.remarks`."""

from __future__ import annotations

import hashlib
import inspect
from datetime import date

import numpy as np
import pandas as pd
from django.conf import settings

from customers.models import Staff
from segmentation import selectors
from tagging import remarks as tagging_remarks


def _as_date(value) -> date | None:
    """A date from a pandas/numpy value (None when missing)."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[D]").item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def remark_salt() -> str:
    """16 characters that change whenever the remark rules or their settings change."""
    source = inspect.getsource(tagging_remarks)
    text = f"{settings.REMARK_SEPARATOR}|{settings.REMARK_MAX_LENGTH}|{source}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _abbreviations(frame: pd.DataFrame, abbreviation_of) -> np.ndarray:
    """The guide abbreviation of each row, computed once per distinct (name, override)."""
    codes, guides = pd.factorize(frame["guide_name"] + "\x1f" + frame["guide_abbreviation"])
    by_guide = []
    for key in guides:
        name, _, override = key.partition("\x1f")
        by_guide.append(abbreviation_of(name, override) if (name or override) else "")
    return np.asarray(by_guide + [""], dtype=object)[codes]


def _look_up(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """values[i] where keys[i] == wanted, row by row; 0 where no key matches (exact int64)."""
    position = pd.Index(keys).get_indexer(wanted)
    found = position >= 0
    out = np.zeros(len(wanted), dtype="int64")
    out[found] = np.asarray(values, dtype="int64")[position[found]]
    return out


def _referrer_name_hashes(frame: pd.DataFrame) -> np.ndarray:
    """The name hash of each row's referrer (0 without one), looked up among the rows first."""
    referrer = frame["referrer_id"].to_numpy()
    out = _look_up(frame["customer_id"].to_numpy(), frame["name_hash"].to_numpy(), referrer)
    elsewhere = (out == 0) & (referrer != selectors.MISSING)
    if elsewhere.any():  # referrers outside the rows (a run for some stores)
        found = selectors.name_hashes(np.unique(referrer[elsewhere]))
        keys = np.fromiter(found.keys(), dtype="int64", count=len(found))
        hashes = np.fromiter(found.values(), dtype="int64", count=len(found))
        out[elsewhere] = _look_up(keys, hashes, referrer[elsewhere])
    return out


def _guide_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A hash of each row's guide's name and abbreviation (0 without a guide)."""
    guides = list(Staff.objects.values_list("pk", "name", "abbreviation"))
    keys = np.asarray([pk for pk, _, _ in guides], dtype="int64")
    texts = np.asarray(
        [f"{name}\x1f{abbreviation}" for _, name, abbreviation in guides], dtype=object
    )
    hashes = pd.util.hash_array(texts).view("int64")
    return _look_up(keys, hashes, frame["guide_id"].to_numpy())


def remark_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Standard WeChat remark names of each row of `frame`: remark_key, remarks_recomputed,
    remark_store_account and remark_personal_account ('' where not recomputed: keep the stored).

    `frame` holds the fan columns of `selectors.FAN_COLUMNS` and the classified labels. The
    rules are `tagging.remarks` (SPEC §3). A fan's names are recomputed only when the hash of
    their inputs (her name and member_since, her guide's name and abbreviation, her referrer's
    name, apple, old/new fan, first sale, the remark settings and rules) differs from the
    stored one: nightly, a few fans, whose names are then read.
    """
    # Only the fans whose customer row was read (a night: those saved or touched since the last
    # run) can have new inputs; the others keep their key.
    read = np.flatnonzero(frame["inputs_read"].to_numpy() == 1)
    sub = frame.iloc[read] if len(read) < len(frame) else frame
    inputs = pd.DataFrame(
        {
            "name": sub["name_hash"],
            "member_since": sub["member_since"],
            "guide": _guide_hashes(sub),
            "referrer": _referrer_name_hashes(sub),
            "apple": sub["apple"],
            "old_fan": sub["lifetime_sales"] >= 2,
            "first_sale": sub["first_sale"],
        },
        copy=False,  # no consolidation of 1M-row blocks
    )
    hashed = pd.util.hash_pandas_object(inputs, index=False, hash_key=remark_salt()).to_numpy()
    key = frame["old_remark_key"].to_numpy().copy()
    key[read] = hashed.view("int64")
    stale = (frame["has_labels"].to_numpy() == 0) | (frame["old_remark_key"].to_numpy() != key)
    rows = np.flatnonzero(stale)
    fans = selectors.remark_inputs(frame["customer_id"].to_numpy()[rows])
    abbreviations = _abbreviations(fans, tagging_remarks.guide_abbreviation)
    first_sales = frame["first_sale"].to_numpy()[rows]
    first_dates = fans["member_since"].to_numpy()
    first_dates = np.where(np.isnat(first_dates), first_sales, first_dates)
    apples = frame["apple"].to_numpy()[rows]
    lifetime = frame["lifetime_sales"].to_numpy()[rows]
    store_names = np.full(len(frame), "", dtype=object)
    personal_names = np.full(len(frame), "", dtype=object)
    names = fans["name"].to_numpy(dtype=object)
    store_names[rows] = tagging_remarks.store_account_remarks(
        abbreviations=abbreviations, fan_names=names, first_dates=first_dates
    )
    personal_names[rows] = tagging_remarks.personal_account_remarks(
        fan_names=names,
        apples=apples,
        lifetime_sales=lifetime,
        first_sales=first_sales,
        referrer_names=fans["referrer_name"].to_numpy(dtype=object),
    )
    out = pd.DataFrame(index=frame.index)
    out["remark_key"] = key
    out["remarks_recomputed"] = stale
    out["remark_store_account"] = store_names
    out["remark_personal_account"] = personal_names
    return out
