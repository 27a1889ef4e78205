"""Reads behind Today: the worklist of follow-ups (Overdue / Today / Upcoming) and the guide's
place on her store's leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from customers.models import Staff, Store
from followups.selectors import Worklist, actionable, leaderboard_for, worklist


@dataclass(frozen=True)
class TodayPage:
    today: date
    worklist: Worklist
    my_rank: dict | None  # a guide's own leaderboard row (with `rank`), else None


def today_page(*, staff: Staff, store: Store | None, today: date) -> TodayPage:
    """A guide's own follow-ups; a manager's (HQ: the chosen store's) for the whole store."""
    follow_ups = actionable(staff)
    if store is not None:
        follow_ups = follow_ups.filter(store=store)
    my_rank = None
    if staff.role == Staff.Role.GUIDE:
        rows = leaderboard_for(actor=staff, store_id=staff.store_id, today=today)
        my_rank = rows[0] if rows else None
    return TodayPage(
        today=today, worklist=worklist(follow_ups=follow_ups, today=today), my_rank=my_rank
    )
