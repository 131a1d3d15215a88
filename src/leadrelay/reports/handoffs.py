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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from leadrelay.reports.cohorts import period_of, quantile_days
from leadrelay.reports.history import within
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox

DIMENSIONS = ("rep", "team", "source", "hour")
ROUTED = frozenset({"LeadAssigned", "LeadQueued"})
PERSISTENCE_DAYS = 7


@dataclass(frozen=True, slots=True)
class HandoffTimes:
    handoff_id: int
    opened_at: datetime
    dims: Mapping[str, str | None]
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


def handoff_times(conn: Connection, start: datetime | None, end: datetime | None, *,
                  owners: Iterable[str] | None = None) -> list[HandoffTimes]:
    """Every handoff to sales opened in [start, end), with its moments."""
    c, lc = h.handoffs.c, t.leads.c
    query = select(h.handoffs, lc.source).join(t.leads, lc.id == c.lead_id).where(c.to_function != "marketing")
    query = within(query, c.opened_at, start, end)
    if owners is not None:
        query = query.where(c.owner.in_(sorted(owners)))
    rows = conn.execute(query.order_by(c.id)).all()
    wanted = {row.id for row in rows}
    routed, received, touched = {}, {}, Counter()
    e, s, a, o, tc = h.domain_events.c, t.stage_changes.c, t.activities.c, outbox.c, h.touches.c
    assigned_at = {row.id: row.assigned_at for row in rows}
    lead_ids = sorted({row.lead_id for row in rows})
    sent: dict[int, list[datetime]] = {}
    for i in range(0, len(lead_ids), 5_000):  # every lookup by lead id: the indexed column of each table
        part = lead_ids[i:i + 5_000]
        # The event type is checked here, not in SQL: given both, SQLite picks the type index and reads every
        # event of that type once per chunk.
        for handoff_id, kind, at in conn.execute(select(e.handoff_id, e.type, e.recorded_at).where(
                e.lead_id.in_(part))):
            if kind in ROUTED and handoff_id in wanted and (handoff_id not in routed or at < routed[handoff_id]):
                routed[handoff_id] = at
        received.update(conn.execute(select(c.id, func.min(a.received_at)).select_from(h.handoffs).join(
            t.stage_changes, and_(s.lead_id == c.lead_id, s.at == c.opened_at)).join(
            t.activities, a.id == s.activity_id).where(c.lead_id.in_(part)).group_by(c.id)).all())
        for handoff_id, at in conn.execute(select(tc.handoff_id, tc.at).where(tc.lead_id.in_(part))):
            start = assigned_at.get(handoff_id)
            if start is not None and at < start + timedelta(days=PERSISTENCE_DAYS):
                touched[handoff_id] += 1
        for lead_id, sent_at in conn.execute(select(o.lead_id, o.sent_at).where(
                o.lead_id.in_(part), o.event_type == "lead.assigned", o.sent_at.is_not(None))):
            sent.setdefault(lead_id, []).append(sent_at)
    out = []
    for row in rows:
        routed_at = routed.get(row.id)
        notified_at = min((x for x in sent.get(row.lead_id, ()) if routed_at and x >= routed_at), default=None)
        out.append(HandoffTimes(
            row.id, row.opened_at, {"rep": row.owner, "team": row.team, "source": row.source,
                                    "hour": f"{row.opened_at.hour:02d}"},
            received.get(row.id), routed_at, notified_at, row.assigned_at, row.accepted_at, row.first_touch_at,
            row.accept_due_at, row.first_touch_due_at, row.quiet_until is not None, touched.get(row.id, 0)))
    return out


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def _p(values: list[float], q: float, scale: float) -> float | None:
    """The nearest-rank quantile of `values` / `scale`, to a tenth."""
    return quantile_days([v / scale for v in values], q)


def _share(hits: int, of: int) -> float | None:
    return round(hits / of, 4) if of else None


def _grouped(times: Iterable[HandoffTimes], by: str | None, period: str | None):
    out: dict[tuple[str | None, str], list[HandoffTimes]] = {}
    for x in times:
        group = (x.dims.get(by) or "(none)") if by else "all"
        out.setdefault((period_of(x.opened_at, period), group), []).append(x)
    return sorted(out.items(), key=lambda item: (item[0][0] or "", item[0][1]))


def speed_to_lead(times: Iterable[HandoffTimes], *, by: str | None = None, period: str | None = None) -> list[dict]:
    """Per group: system delay (seconds) and human delay (minutes), p50 and p90, and the shares within SLA."""
    rows = []
    for (bucket, group), members in _grouped(times, by, period):
        live = [x for x in members if not x.quiet]
        to_route = [v for x in live if (v := _seconds(x.received_at, x.routed_at)) is not None]
        to_notify = [v for x in live if (v := _seconds(x.routed_at, x.notified_at)) is not None]
        to_accept = [v for x in members if (v := _seconds(x.assigned_at, x.accepted_at)) is not None]
        to_touch = [v for x in members if (v := _seconds(x.assigned_at, x.first_touch_at)) is not None]
        accept_due = [x for x in members if x.accept_due_at is not None and x.assigned_at is not None]
        touch_due = [x for x in members if x.first_touch_due_at is not None and x.assigned_at is not None]
        rows.append({
            "group": group, "period": bucket, "handoffs": len(members),
            "system": {"received_to_routed_p50_s": _p(to_route, 0.5, 1),
                       "received_to_routed_p90_s": _p(to_route, 0.9, 1),
                       "routed_to_notified_p50_s": _p(to_notify, 0.5, 1),
                       "routed_to_notified_p90_s": _p(to_notify, 0.9, 1), "measured": len(to_route)},
            "human": {"assigned_to_accepted_p50_min": _p(to_accept, 0.5, 60),
                      "assigned_to_accepted_p90_min": _p(to_accept, 0.9, 60),
                      "accepted_within_sla": _share(sum(1 for x in accept_due if x.accepted_at is not None
                                                        and x.accepted_at <= x.accept_due_at), len(accept_due)),
                      "assigned_to_first_touch_p50_min": _p(to_touch, 0.5, 60),
                      "assigned_to_first_touch_p90_min": _p(to_touch, 0.9, 60),
                      "first_touch_within_sla": _share(sum(1 for x in touch_due if x.first_touch_at is not None
                                                           and x.first_touch_at <= x.first_touch_due_at),
                                                       len(touch_due)),
                      "never_touched": sum(1 for x in members
                                           if x.assigned_at is not None and x.first_touch_at is None)},
        })
    return rows


def persistence(times: Iterable[HandoffTimes], *, by: str | None = "rep", period: str | None = None) -> list[dict]:
    """Per group (by rep unless asked otherwise): touches per lead in the first week after assignment, and the
    leads never touched."""
    rows = []
    assigned = [x for x in times if x.assigned_at is not None]
    for (bucket, group), members in _grouped(assigned, by, period):
        counts = [float(x.touches_first_week) for x in members]
        never = sum(1 for x in members if x.first_touch_at is None)
        rows.append({"group": group, "period": bucket, "leads": len(members),
                     "touches_first_week": int(sum(counts)),
                     "touches_per_lead": round(sum(counts) / len(counts), 2) if counts else None,
                     "p50_touches": quantile_days(counts, 0.5), "never_touched": never,
                     "never_touched_share": _share(never, len(members))})
    return rows
