"""Where the pipe leaks: leads stalled in each stage now, and why leads went back or were lost.

Definitions (the README says the same):

- **Stalled**: a lead in a stage now with neither an activity nor a touch for `stall_days`
  days (default 14) before the report's moment. Counted per stage, with the oldest quiet day.
- **Went back**: every recycle, reject and disqualify in the stage history, with its reason
  code, per period of the move; **stale recycles** are the ones the worker made for leads
  nobody touched (the `HandoffStale` events that recycled).
- **Lost**: deals closed lost, with their reason, per period of closing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from leadrelay.core.time import utc_iso
from leadrelay.lead.stages import FUNNEL, Transition
from leadrelay.reports.cohorts import period_of
from leadrelay.reports.history import within
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t

BACK = (Transition.RECYCLE.value, Transition.REJECT.value, Transition.DISQUALIFY.value)
STALL_DAYS = 14


def leakage(conn: Connection, now: datetime, start: datetime | None, end: datetime | None, *,
            period: str | None = None, owners: Iterable[str] | None = None, stall_days: int = STALL_DAYS) -> dict:
    """Stalled leads per stage (as of `now`), and the reasons leads went back or were lost in [start, end)."""
    owners = sorted(owners) if owners is not None else None
    lc, hc = t.leads.c, h.handoffs.c
    last_touch = select(hc.lead_id, func.max(hc.last_touch_at).label("touched")).group_by(hc.lead_id).subquery()
    query = select(lc.stage, lc.last_activity_at, last_touch.c.touched).outerjoin(
        last_touch, last_touch.c.lead_id == lc.id).where(
        lc.merged_into.is_(None), lc.stage.in_([s.value for s in FUNNEL[1:-1]]))
    if owners is not None:
        query = query.where(lc.owner.in_(owners))
    since = now - timedelta(days=stall_days)
    stalled: Counter = Counter()
    oldest: dict[str, datetime] = {}
    for stage, activity_at, touched_at in conn.execute(query):
        quiet_since = max((x for x in (activity_at, touched_at) if x is not None), default=None)
        if quiet_since is None or quiet_since < since:
            stalled[stage] += 1
            if quiet_since is not None and (stage not in oldest or quiet_since < oldest[stage]):
                oldest[stage] = quiet_since
    sc = t.stage_changes.c
    moves = select(sc.transition, sc.reason, sc.at).where(sc.transition.in_(BACK))
    deals = select(s.opportunities.c.lost_reason, s.opportunities.c.closed_at).where(
        s.opportunities.c.status == "lost")
    stale = select(h.domain_events.c.at).where(h.domain_events.c.type == "HandoffStale",
                                               h.domain_events.c.data["recycled"].as_boolean().is_(True))
    moves = within(moves, sc.at, start, end)
    deals = within(deals, s.opportunities.c.closed_at, start, end)
    stale = within(stale, h.domain_events.c.at, start, end)
    if owners is not None:
        moves = moves.join(t.leads, lc.id == sc.lead_id).where(lc.owner.in_(owners))
        deals = deals.where(s.opportunities.c.owner.in_(owners))
        stale = stale.where(h.domain_events.c.lead_id.in_(select(lc.id).where(lc.owner.in_(owners))))
    back: Counter = Counter()
    for transition, reason, at in conn.execute(moves):
        back[(period_of(at, period), transition, reason or "(none)")] += 1
    lost: Counter = Counter()
    for reason, at in conn.execute(deals):
        lost[(period_of(at, period) if at else None, reason or "(none)")] += 1
    recycled_stale: Counter = Counter(period_of(at, period) for (at,) in conn.execute(stale))
    return {
        "stall_days": stall_days,
        "stalled": [{"stage": stage.value, "leads": stalled[stage.value],
                     "quiet_since": utc_iso(oldest.get(stage.value))}
                    for stage in FUNNEL[1:-1] if stalled[stage.value]],
        "went_back": [{"period": p, "transition": tr, "reason": r, "leads": n}
                      for (p, tr, r), n in sorted(back.items(), key=lambda i: (i[0][0] or "", i[0][1], -i[1]))],
        "stale_recycles": [{"period": p, "leads": n}
                           for p, n in sorted(recycled_stale.items(), key=lambda i: i[0] or "")],
        "lost": [{"period": p, "reason": r, "deals": n}
                 for (p, r), n in sorted(lost.items(), key=lambda i: (i[0][0] or "", -i[1]))],
    }
