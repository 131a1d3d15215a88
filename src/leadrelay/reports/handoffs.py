"""Reports on the handoff: speed to lead (system delay and human delay) and persistence.

Definitions (the README says the same):

- **System delay** is LeadLay's own: from the moment the activity that moved the lead was
  *received* to the moment the engine *routed* the handoff (its first assignment or queueing
  was decided), and from there to the moment the owner was *notified* (the first
  `lead.assigned` notice for the lead sent after that). Handoffs opened while loading
  history have no system delay: they were recorded long after the fact.
- **Human delay** is the rep's: from *assigned* to *accepted*, and from *assigned* to the
  *first touch*; `within_sla` is the share met by the handoff's own deadline.
- **Persistence**: touches a rep logged on each lead in the first 7 days after it was
  assigned to them, and the leads they never touched.

A handoff belongs to the period it was opened in; handoffs back to marketing are not counted.
Each handoff becomes facts (`handoff_facts`) on the day it opened, added up by the rollups
like the cohort reports' (see `reports.rollups`). Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadrelay.reports.cohorts import _EMPTY, _ordered, tally_facts
from leadrelay.reports.sketch import Fact, Tally, bucket

DIMENSIONS = ("rep", "team", "source", "hour")
PERSISTENCE_DAYS = 7


@dataclass(frozen=True, slots=True)
class HandoffTimes:
    handoff_id: int
    opened_at: datetime
    dims: Mapping[str, str | None]  # rep, team, source, hour, policy
    received_at: datetime | None  # the activity that moved the lead
    routed_at: datetime | None  # when the first routing decision was made (processing time)
    notified_at: datetime | None  # the first lead.assigned notice sent after that
    assigned_at: datetime | None
    accepted_at: datetime | None
    first_touch_at: datetime | None
    accept_due_at: datetime | None
    first_touch_due_at: datetime | None
    quiet: bool
    touches_first_week: int = 0
    # for the SLA report
    touches: int = 0
    touches_required: int | None = None
    touches_due_at: datetime | None = None
    outcome: str | None = None
    breaches: frozenset[str] = frozenset()  # the clocks the log has an SlaBreached for
    escalations: tuple[str, ...] = ()  # the actions of the escalation steps that ran
    to_sales: bool = True
    follow_up_due_at: datetime | None = None  # the latest follow-up a meeting no-show opened
    follow_up_met_at: datetime | None = None
    closed_at: datetime | None = None  # when the handoff closed (None: open)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def handoff_facts(x: HandoffTimes) -> list[Fact]:
    """Speed to lead's and persistence's facts of one handoff to sales, on the day it opened.

    `st.h` a handoff; `st.route`, `st.notify` system delays (seconds, live handoffs);
    `st.accept`, `st.touch` human delays (minutes); `st.accept_due`/`_met`, `st.touch_due`/`_met`
    deadlines and the ones met; `st.never` assigned, never touched. Persistence, for assigned
    handoffs: `ps.h`, `ps.touches` (touches in the first week, a bucket per count),
    `sum:ps.touches` (their sum), `ps.never`.
    """
    if not x.to_sales:
        return []
    day = x.opened_at.date()
    facts: list[Fact] = [("st.h", day, None)]
    if not x.quiet:
        for metric, value in (("st.route", _seconds(x.received_at, x.routed_at)),
                              ("st.notify", _seconds(x.routed_at, x.notified_at))):
            if value is not None:
                facts.append((metric, day, bucket(value)))
    for metric, value in (("st.accept", _seconds(x.assigned_at, x.accepted_at)),
                          ("st.touch", _seconds(x.assigned_at, x.first_touch_at))):
        if value is not None:
            facts.append((metric, day, bucket(value / 60)))
    if x.assigned_at is not None:
        for name, due, done in (("accept", x.accept_due_at, x.accepted_at),
                                ("touch", x.first_touch_due_at, x.first_touch_at)):
            if due is not None:
                facts.append((f"st.{name}_due", day, None))
                if done is not None and done <= due:
                    facts.append((f"st.{name}_met", day, None))
        facts += [("ps.h", day, None), ("ps.touches", day, bucket(x.touches_first_week)),
                  ("sum:ps.touches", day, x.touches_first_week)]
        if x.first_touch_at is None:
            facts += [("st.never", day, None), ("ps.never", day, None)]
    return facts


def speed_rows(found: Tally) -> list[dict]:
    """Per group: system delay (seconds) and human delay (minutes), p50 and p90, and the shares within SLA."""
    rows = []
    for (period, group), cells in _ordered(found):
        handoffs = cells.get("st.h", _EMPTY).n
        if handoffs <= 0:
            continue
        route, notify = cells.get("st.route", _EMPTY), cells.get("st.notify", _EMPTY)
        accept, touch = cells.get("st.accept", _EMPTY), cells.get("st.touch", _EMPTY)

        def share(name: str) -> float | None:
            due = cells.get(f"st.{name}_due", _EMPTY).n
            return round(cells.get(f"st.{name}_met", _EMPTY).n / due, 4) if due else None

        rows.append({
            "group": group, "period": period, "handoffs": handoffs,
            "system": {"received_to_routed_p50_s": route.quantile(0.5), "received_to_routed_p90_s": route.quantile(0.9),
                       "routed_to_notified_p50_s": notify.quantile(0.5),
                       "routed_to_notified_p90_s": notify.quantile(0.9), "measured": route.n},
            "human": {"assigned_to_accepted_p50_min": accept.quantile(0.5),
                      "assigned_to_accepted_p90_min": accept.quantile(0.9),
                      "accepted_within_sla": share("accept"),
                      "assigned_to_first_touch_p50_min": touch.quantile(0.5),
                      "assigned_to_first_touch_p90_min": touch.quantile(0.9),
                      "first_touch_within_sla": share("touch"),
                      "never_touched": cells.get("st.never", _EMPTY).n},
        })
    return rows


def persistence_rows(found: Tally) -> list[dict]:
    """Per group: touches per lead in the first week after assignment, and the leads never touched."""
    rows = []
    for (period, group), cells in _ordered(found):
        leads = cells.get("ps.h", _EMPTY).n
        if leads <= 0:
            continue
        touches, never = cells.get("sum:ps.touches", _EMPTY).n, cells.get("ps.never", _EMPTY).n
        rows.append({"group": group, "period": period, "leads": leads, "touches_first_week": touches,
                     "touches_per_lead": round(touches / leads, 2),
                     "p50_touches": cells.get("ps.touches", _EMPTY).quantile(0.5), "never_touched": never,
                     "never_touched_share": round(never / leads, 4)})
    return rows


SPEED_METRICS = ("st.h", "st.route", "st.notify", "st.accept", "st.touch", "st.accept_due", "st.accept_met",
                 "st.touch_due", "st.touch_met", "st.never")
PERSISTENCE_METRICS = ("ps.h", "ps.touches", "sum:ps.touches", "ps.never")


def _tally(times: Iterable[HandoffTimes], by: str | None, period: str | None) -> Tally:
    return tally_facts(((x.dims, handoff_facts(x)) for x in times), by=by, period=period)


def speed_to_lead(times: Sequence[HandoffTimes], *, by: str | None = None, period: str | None = None) -> list[dict]:
    """`speed_rows` of the handoffs."""
    return speed_rows(_tally(times, by, period))


def persistence(times: Sequence[HandoffTimes], *, by: str | None = "rep", period: str | None = None) -> list[dict]:
    """`persistence_rows` of the handoffs (by rep unless asked otherwise)."""
    return persistence_rows(_tally(times, by, period))
