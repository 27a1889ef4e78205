"""Builders for the page tests: fans with computed labels, relabel runs and their changes."""

from __future__ import annotations

import importlib.util
import os
from datetime import date
from pathlib import Path

from django.utils import timezone

from customers.models import Customer, CustomerLabels, Staff, Store
from segmentation.models import LabelChange, RelabelRun
from tests.factories import make_customer

# The browser tests drive Debian's Chromium (never a downloaded one); CHROMIUM overrides the path.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def browser_missing() -> str:
    """Why the browser tests cannot run here ('' when they can): no Playwright or no Chromium."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    return ""


def make_fan(
    *,
    store: Store,
    guide: Staff | None = None,
    apple: str = "green",
    r_stage: str = "active",
    rfm_segment: str = "general_value",
    remark_store: str = "",
    remark_personal: str = "",
    **fields,
) -> Customer:
    fan = make_customer(store=store, guide=guide, **fields)
    CustomerLabels.objects.create(
        customer=fan,
        apple=apple,
        r_stage=r_stage,
        rfm_segment=rfm_segment,
        frequency=1 if apple != "blossom" else 0,
        lifetime_sales=1 if apple != "blossom" else 0,
        remark_store_account=remark_store,
        remark_personal_account=remark_personal,
    )
    return fan


def make_run(*, as_of: date = date(2026, 1, 31), changes=()) -> RelabelRun:
    """A succeeded run with `changes` as (fan, group, from_code, to_code)."""
    run = RelabelRun.objects.create(
        as_of=as_of, status=RelabelRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    LabelChange.objects.bulk_create(
        LabelChange(run=run, customer=fan, group=group, from_code=old, to_code=new)
        for fan, group, old, new in changes
    )
    return run
