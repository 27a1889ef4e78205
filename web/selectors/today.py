"""Reads behind Today: the guide's worklists of the day, from the last relabel run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from customers.models import Staff, Store
from fanops.vocabulary import RStage
from segmentation.models import RelabelRun
from segmentation.selectors import apple_upgrades_of_last_run, label_changes_of_last_run, last_run
from tagging.selectors import remark_mismatches, upcoming_birthdays
from web.selectors.common import tag_names
from web.selectors.fans import scoped_fans
from web.ticks import ticked

BIRTHDAYS_WITHIN = 7
LIST_MAX = 100


@dataclass(frozen=True)
class TodayPage:
    today: date
    run: RelabelRun | None
    lists: dict[str, list[dict]]  # kind → items {"customer", "done", …}


def today_page(
    *, staff: Staff, store: Store | None, today: date, ticks: dict[str, list[str]]
) -> TodayPage:
    """Birthdays in 7 days, fans gone sleeping / pre-churn last night, remark names to update in
    WeChat, apple upgrades to congratulate; a guide's own fans only. `ticks` is the session's."""
    fans = scoped_fans(staff=staff, store=store)
    mine = fans.filter(guide=staff) if staff.role == Staff.Role.GUIDE else fans
    run = last_run()
    names = tag_names()
    lists = {
        "birthdays": [
            {"customer": c, "when": c.next_birthday, "days": (c.next_birthday - today).days}
            for c in upcoming_birthdays(customers=mine, today=today, within_days=BIRTHDAYS_WITHIN)
        ],
        "sleeping": [
            {"customer": c.customer, "to": names.get(f"r_stage:{c.to_code}", c.to_code)}
            for c in label_changes_of_last_run(
                customers=mine, group="r_stage", to_codes=[RStage.SLEEPING, RStage.PRE_CHURN]
            )[:LIST_MAX]
        ],
        "remarks": [
            {"customer": c, "standard": c.standard_store_remark or c.standard_personal_remark}
            for c in remark_mismatches(customers=mine).order_by("id")[:LIST_MAX]
        ],
        "upgrades": [
            {
                "customer": c.customer,
                "from": names.get(f"apple:{c.from_code}", c.from_code),
                "to": names.get(f"apple:{c.to_code}", c.to_code),
                "to_code": c.to_code,
            }
            for c in apple_upgrades_of_last_run(customers=mine)[:LIST_MAX]
        ],
    }
    done = ticked(ticks, run_id=run.pk if run else None, today=today)
    for kind, items in lists.items():
        for item in items:
            item["done"] = str(item["customer"].pk) in done[kind]
    return TodayPage(today=today, run=run, lists=lists)
