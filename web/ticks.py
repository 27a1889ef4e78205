"""Today's ticks: which items of a Today list the signed-in user marked done.

They live in the session (no table, nothing to clean up): one list of fan ids per list and
period. Ticks of the birthday list last a day; the others last until the next relabel run.
Pure functions of the session's plain data.
"""

from __future__ import annotations

from datetime import date

TODAY_LISTS = ("birthdays", "sleeping", "remarks", "upgrades")


def tick_key(kind: str, run_id: int | None, today: date) -> str:
    return f"{kind}:{today.isoformat()}" if kind == "birthdays" else f"{kind}:run{run_id or 0}"


def ticked(ticks: dict[str, list[str]], *, run_id: int | None, today: date) -> dict[str, set[str]]:
    """The ticked fan ids (as strings) of every list for the current period."""
    return {kind: set(ticks.get(tick_key(kind, run_id, today), [])) for kind in TODAY_LISTS}


def toggle(
    ticks: dict[str, list[str]], *, kind: str, customer_id: int, run_id: int | None, today: date
) -> tuple[dict[str, list[str]], bool]:
    """The session's ticks with one item switched, and whether it is now done.

    Only the current periods' keys are kept: yesterday's and old runs' ticks are dropped.
    """
    key = tick_key(kind, run_id, today)
    done = set(ticks.get(key, []))
    done.symmetric_difference_update({str(customer_id)})
    current = {tick_key(k, run_id, today) for k in TODAY_LISTS}
    kept = {k: v for k, v in ticks.items() if k in current}
    kept[key] = sorted(done)
    return kept, str(customer_id) in done
