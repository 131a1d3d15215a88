"""SLA compliance counted by lead, not by timer; what the escalations did; marketing's MQLs month by month.

Definitions (the README says the same):

- Each handoff to sales with an SLA policy counts once, in the period it was opened. For
  each clock the policy runs (`accept`, `first_touch`, `touches`, `follow_up`), the handoff
  is *due* when it had that deadline, and then exactly one of:
  *breached* when the log has an `SlaBreached` for it, or the deadline passed with its work
  not done while the handoff was open (the worker may not have recorded it yet);
  *met* when its work was done (and nothing was breached);
  *closed before due* when the handoff closed (rejected, recycled, disqualified, merged,
  erased, ...) before the deadline, its work not done: nobody missed it;
  *pending* when the handoff is open and the deadline still ahead.
  Per clock, `compliance` is met ÷ (met + breached). Per group, `compliance` is the share of
  the handoffs settled (none of their deadlines pending, and at least one met or breached)
  that breached none of their deadlines: a handoff whose every deadline closed before due
  counts for neither side.
- `escalations` counts the escalation steps that ran, by action; `ended` says how the
  handoffs that breached ended (their outcome, or `open`).
- Marketing: the leads that first became MQLs in each calendar month of the range (UTC),
  against the playbook's `mqls_per_month`.

Each handoff becomes facts on the day it opened (`sla_facts`). What is still pending
depends on the moment the report is asked, so the facts keep each open deadline itself (as
the bucket, in epoch seconds) and the report compares it with `now`. A closed handoff's
facts no longer depend on the moment. `leadrelay sla report` (and `GET /api/sla`) shows these
same rows, a line per policy and deadline (`summary`). Standard library only.
"""

from __future__ import annotations

import calendar
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


def _state(x: HandoffTimes, clock: str) -> str | None:
    """How the handoff stands on one clock: None (no such deadline), `breached`, `met`, `closed` (closed before
    the deadline, its work not done) or `open` (still to do; past its deadline it counts as breached)."""
    deadline = _deadline(x, clock)
    if clock in x.breaches:
        return "breached"
    if deadline is None:
        return None
    if _met(x, clock):
        return "met"
    if x.closed_at is None:
        return "open"
    return "closed" if x.closed_at < deadline else "breached"  # it closed after the deadline passed, undone


def sla_facts(x: HandoffTimes) -> list[Fact]:
    """The SLA report's facts of one handoff to sales with a policy, on the day it opened.

    Per clock: `sla.due:C`; `sla.breached:C`; `sla.closed:C` (closed before due); `sla.open:C` with the
    deadline (epoch seconds) when the handoff is open and the work not done. Per handoff: `sla.h`;
    `sla.deadline` (it had one); `sla.breached` (any clock); else `sla.open` with its latest open deadline;
    else `sla.closed` when no deadline was met (every one closed before due); `sla.esc:ACTION` per escalation
    step; `sla.ended:OUTCOME` when breached.
    """
    if not x.to_sales or x.dims.get("policy") is None:
        return []
    day = x.opened_at.date()
    facts: list[Fact] = [("sla.h", day, None)]
    states = {clock: state for clock in CLOCKS if (state := _state(x, clock)) is not None}
    latest_open = None
    for clock, state in states.items():
        facts.append((f"sla.due:{clock}", day, None))
        deadline = _deadline(x, clock)
        if state == "breached":
            facts.append((f"sla.breached:{clock}", day, None))
        elif state == "closed":
            facts.append((f"sla.closed:{clock}", day, None))
        elif state == "open" and deadline is not None:  # an open clock always has its deadline
            seconds = int(deadline.timestamp())
            facts.append((f"sla.open:{clock}", day, seconds))
            latest_open = max(latest_open or seconds, seconds)
    if states:
        facts.append(("sla.deadline", day, None))
        if "breached" in states.values():
            facts += [("sla.breached", day, None), (f"sla.ended:{x.outcome or 'open'}", day, None)]
        elif latest_open is not None:
            facts.append(("sla.open", day, latest_open))
        elif "met" not in states.values():
            facts.append(("sla.closed", day, None))
    facts += [(f"sla.esc:{action}", day, None) for action in x.escalations]
    return facts


def _after(cell: Cell, now: datetime) -> int:
    """How many of the deadlines counted in `cell` are still ahead of `now`."""
    moment = now.timestamp()
    return sum(count for seconds, count in cell.counts.items() if seconds > moment)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def sla_rows(found: Tally, now: datetime) -> list[dict]:
    """Per group: compliance counted by handoff; each clock's due, met, breached, pending and closed before due,
    and its compliance; the escalation steps that ran and how the breached handoffs ended."""
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
            closed = cells.get(f"sla.closed:{clock}", _EMPTY).n
            met = due - breached - pending - closed
            clocks[clock] = {"due": due, "met": met, "breached": breached, "pending": pending,
                             "closed_before_due": closed, "compliance": _share(met, met + breached)}
        open_ = cells.get("sla.open", _EMPTY)
        pending = _after(open_, now)
        breached = cells.get("sla.breached", _EMPTY).n + open_.n - pending
        settled = cells.get("sla.deadline", _EMPTY).n - pending - cells.get("sla.closed", _EMPTY).n
        rows.append({"group": group, "period": period, "handoffs": handoffs, "breached": breached,
                     "compliance": _share(settled - breached, settled), "clocks": clocks,
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


def month_fraction(now: datetime) -> float:
    """How much of the calendar month has passed (the pro-rata bar for the MQL target)."""
    days = calendar.monthrange(now.year, now.month)[1]
    return min((now.day - 1 + now.hour / 24) / days, 1.0)


def summary(rows: list[dict], marketing: list[dict], now: datetime, target: int | None) -> dict:
    """`leadrelay sla report`: the SLA report's rows by policy (whole range, no period), a line per policy and
    deadline with the same figures, a line per policy with its handoffs, breaches and compliance; and marketing's
    MQLs this month (the report's line for the month) against the target, on track when at least the share of
    the month passed."""
    month = f"{now.astimezone(UTC):%Y-%m}"
    mqls = next((line["mqls"] for line in marketing if line["month"] == month), 0)
    return {
        "sales": [{"policy": row["group"], "deadline": clock, **figures}
                  for row in rows for clock, figures in row["clocks"].items()],
        "policies": [{"policy": row["group"], "handoffs": row["handoffs"], "breached": row["breached"],
                      "compliance": row["compliance"]} for row in rows],
        "marketing": {"month": month, "mqls": mqls, "target": target,
                      "on_track": None if target is None else mqls >= target * month_fraction(now.astimezone(UTC))},
    }
