"""SLA compliance counted by lead, not by timer; what the escalations did; marketing's MQLs month by month.

Definitions (the README says the same):

- Each handoff to sales with an SLA policy counts once, in the period it was opened. For
  each clock the policy runs (`accept`, `first_touch`, `touches`), the handoff is *due* when
  it had that deadline, *breached* when the log has an `SlaBreached` for it, *pending* when
  the deadline is still ahead and unmet, and *met* otherwise. `compliance` is the share of
  handoffs with a deadline that breached none of them.
- `escalations` counts the escalation steps that ran, by action; `ended` says how the
  handoffs that breached ended (their outcome, or `open`).
- Marketing: the leads that first became MQLs in each calendar month of the range (UTC),
  against the playbook's `mqls_per_month`.

Each handoff becomes facts on the day it opened (`sla_facts`). What is still pending
depends on the moment the report is asked, so the facts keep each open deadline itself (as
the bucket, in epoch seconds) and the report compares it with `now`. Standard library only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leadrelay.reports.cohorts import _EMPTY, _ordered
from leadrelay.reports.handoffs import HandoffTimes
from leadrelay.reports.sketch import Cell, Fact, Tally

CLOCKS = ("accept", "first_touch", "touches", "follow_up")
DIMENSIONS = ("policy", "rep", "team")


def _deadline(x: HandoffTimes, clock: str) -> datetime | None:
    return {"accept": x.accept_due_at, "first_touch": x.first_touch_due_at, "touches": x.touches_due_at,
            "follow_up": x.follow_up_due_at}[clock]


def _met(x: HandoffTimes, clock: str) -> bool:
    if clock == "accept":
        return x.accepted_at is not None
    if clock == "first_touch":
        return x.first_touch_at is not None
    if clock == "follow_up":
        return x.follow_up_met_at is not None
    return x.touches_required is not None and x.touches >= x.touches_required


def sla_facts(x: HandoffTimes) -> list[Fact]:
    """The SLA report's facts of one handoff to sales with a policy, on the day it opened.

    Per clock: `sla.due:C`, `sla.breached:C`, and `sla.open:C` with the deadline (epoch
    seconds) when it is neither met nor breached. Per handoff: `sla.h`; `sla.deadline` (it
    had one); `sla.breached` (any clock); `sla.open` with its latest open deadline, unless
    breached; `sla.esc:ACTION` per escalation step; `sla.ended:OUTCOME` when breached.
    """
    if not x.to_sales or x.dims.get("policy") is None:
        return []
    day = x.opened_at.date()
    facts: list[Fact] = [("sla.h", day, None)]
    latest_open = None
    for clock in CLOCKS:
        deadline, breached = _deadline(x, clock), clock in x.breaches
        if deadline is None and not breached:
            continue
        facts.append((f"sla.due:{clock}", day, None))
        if breached:
            facts.append((f"sla.breached:{clock}", day, None))
        elif deadline is not None and not _met(x, clock):
            seconds = int(deadline.timestamp())
            facts.append((f"sla.open:{clock}", day, seconds))
            latest_open = max(latest_open or seconds, seconds)
    if any(_deadline(x, clock) is not None for clock in CLOCKS) or x.breaches:
        facts.append(("sla.deadline", day, None))
        if x.breaches:
            facts += [("sla.breached", day, None), (f"sla.ended:{x.outcome or 'open'}", day, None)]
        elif latest_open is not None:
            facts.append(("sla.open", day, latest_open))
    facts += [(f"sla.esc:{action}", day, None) for action in x.escalations]
    return facts


def _after(cell: Cell, now: datetime) -> int:
    """How many of the deadlines counted in `cell` are still ahead of `now`."""
    moment = now.timestamp()
    return sum(count for seconds, count in cell.counts.items() if seconds > moment)


def sla_rows(found: Tally, now: datetime) -> list[dict]:
    """Per group: compliance counted by handoff, each clock's due, met, breached and pending, the escalation
    steps that ran and how the breached handoffs ended."""
    rows = []
    for (period, group), cells in _ordered(found):
        handoffs = cells.get("sla.h", _EMPTY).n
        if handoffs <= 0:
            continue
        clocks = {}
        for clock in CLOCKS:
            due = cells.get(f"sla.due:{clock}", _EMPTY).n
            if due <= 0:
                continue
            open_ = cells.get(f"sla.open:{clock}", _EMPTY)
            pending = _after(open_, now)
            # a deadline past with its work not done is breached, whether or not the worker has recorded it yet
            breached = cells.get(f"sla.breached:{clock}", _EMPTY).n + open_.n - pending
            clocks[clock] = {"due": due, "met": due - breached - pending, "breached": breached, "pending": pending}
        open_ = cells.get("sla.open", _EMPTY)
        breached = cells.get("sla.breached", _EMPTY).n + open_.n - _after(open_, now)
        settled = cells.get("sla.deadline", _EMPTY).n - _after(open_, now)
        rows.append({"group": group, "period": period, "handoffs": handoffs, "breached": breached,
                     "compliance": round(1 - breached / settled, 4) if settled else None, "clocks": clocks,
                     "escalations": _named(cells, "sla.esc:"), "ended": _named(cells, "sla.ended:")})
    return rows


def _named(cells: dict[str, Cell], prefix: str) -> dict[str, int]:
    return dict(sorted((metric[len(prefix):], cell.n) for metric, cell in cells.items()
                       if metric.startswith(prefix) and cell.n > 0))


def marketing_rows(mqls: dict[str, int], now: datetime, target: int | None) -> list[dict]:
    """Leads that first became MQLs, per calendar month, against the target (`met` is empty for the month still
    running)."""
    current = f"{now.astimezone(UTC):%Y-%m}"
    return [{"month": month, "mqls": n, "target": target,
             "met": None if target is None or month == current else n >= target}
            for month, n in sorted(mqls.items()) if n > 0]

