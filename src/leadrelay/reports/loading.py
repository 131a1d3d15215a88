"""Reading leads as the reports see them (`LeadRecord`), a chunk of leads at a time, every lookup by lead id.

What each report needs of a lead: its dimensions and stage now, when it went quiet, its
stage history (with reasons, and who moved it: an SLA ladder's return is not a rep's
rejection), its handoffs with their moments (the activity that moved the
lead was received, routed, notified, assigned, accepted, first touch, deadlines, breaches,
escalations, touches in the first week), its routing decisions, its deals won and lost,
and the recycles the worker made when nobody touched it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, select

from leadrelay.lead.stages import Stage
from leadrelay.reports.handoffs import PERSISTENCE_DAYS, HandoffTimes
from leadrelay.reports.records import LeadRecord
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox

ROUTED = frozenset({"LeadAssigned", "LeadQueued"})
_EVENTS = ROUTED | {"SlaBreached", "Escalated", "HandoffStale", "MeetingNoShow"}


def load_records(conn: Connection, lead_ids: Sequence[int]) -> dict[int, LeadRecord]:
    """The leads among `lead_ids` that are not merged away, as the reports see them."""
    lc, sc, hc, ec, dc, rc = (t.leads.c, t.stage_changes.c, h.handoffs.c, h.domain_events.c, s.opportunities.c,
                              h.routing_decisions.c)
    records: dict[int, LeadRecord] = {}
    for row in conn.execute(select(lc.id, lc.source, lc.campaign, lc.persona, lc.segment, lc.country, lc.owner,
                                   lc.stage, lc.last_activity_at).where(lc.id.in_(lead_ids),
                                                                        lc.merged_into.is_(None))):
        records[row.id] = LeadRecord(row.id, {"source": row.source, "campaign": row.campaign, "persona": row.persona,
                                              "segment": row.segment, "country": row.country, "rep": row.owner},
                                     row.stage, row.last_activity_at)
    ids = sorted(records)
    if not ids:
        return records
    moved_by: dict[tuple[int, datetime], int] = {}  # (lead, moment) -> the activity that moved it then
    for lead_id, to_stage, at, how, reason, actor, activity_id in conn.execute(
            select(sc.lead_id, sc.to_stage, sc.at, sc.transition, sc.reason, sc.actor, sc.activity_id).where(
                sc.lead_id.in_(ids)).order_by(sc.lead_id, sc.at, sc.id)):
        records[lead_id].moves.append((Stage(to_stage), at, how, reason, actor))
        if activity_id is not None:
            moved_by.setdefault((lead_id, at), activity_id)
    # The type is checked here, not in SQL: given both, SQLite picks the type index over the lead's.
    events = [row for row in conn.execute(select(ec.lead_id, ec.type, ec.handoff_id, ec.at, ec.recorded_at, ec.data)
                                          .where(ec.lead_id.in_(ids))) if row.type in _EVENTS]
    for row in events:
        if row.type == "HandoffStale" and (row.data or {}).get("recycled") is True:
            records[row.lead_id].stale_recycles.append(row.at)
        elif row.type == "MeetingNoShow":
            records[row.lead_id].no_shows.append(row.at)
    handoffs = conn.execute(select(h.handoffs).where(hc.lead_id.in_(ids)).order_by(hc.id)).all()
    if handoffs:
        _handoffs(conn, records, handoffs, moved_by, events)
    for lead_id, status, kind, amount, currency, reason, closed_at, owner in conn.execute(
            select(dc.lead_id, dc.status, dc.kind, dc.amount, dc.currency, dc.lost_reason, dc.closed_at,
                   dc.owner).where(dc.lead_id.in_(ids), dc.status.in_(["won", "lost"]))):
        if status == "lost":
            records[lead_id].lost.append((owner, reason, closed_at))
        elif kind == "new_business":
            records[lead_id].won.append((Decimal(amount), currency))
    decisions: dict[int, list] = {}
    for handoff_id, at, rule, team, owner in conn.execute(
            select(rc.handoff_id, rc.at, rc.rule_id, rc.team, rc.owner).where(rc.lead_id.in_(ids)).order_by(
                rc.handoff_id, rc.at, rc.id)):
        decisions.setdefault(handoff_id, []).append((at, rule, team, owner))
    for row in handoffs:
        if row.id in decisions:
            records[row.lead_id].routing.append((row.opened_at, row.assigned_at, row.owner, decisions[row.id]))
    return records


def _handoffs(conn: Connection, records: dict[int, LeadRecord], handoffs: Sequence[Any],
              moved_by: dict[tuple[int, datetime], int], events: Sequence[Any]) -> None:
    """Each handoff's moments, and the last touch into the lead's quiet moment."""
    ids = sorted({row.lead_id for row in handoffs})
    tc, oc, ac = h.touches.c, outbox.c, t.activities.c
    routed: dict[int, datetime] = {}
    breaches: dict[int, set[str]] = {}
    escalations: dict[int, list[str]] = {}
    for _, kind, handoff_id, _, recorded_at, data in events:
        if handoff_id is None:
            continue
        if kind in ROUTED and (handoff_id not in routed or recorded_at < routed[handoff_id]):
            routed[handoff_id] = recorded_at
        elif kind == "SlaBreached":
            breaches.setdefault(handoff_id, set()).add(cast(str, (data or {}).get("clock")))  # SlaBreached has one
        elif kind == "Escalated":
            escalations.setdefault(handoff_id, []).append((data or {}).get("action") or "?")
    assigned_at = {row.id: row.assigned_at for row in handoffs}
    first_week: dict[int, int] = {}
    for handoff_id, at in conn.execute(select(tc.handoff_id, tc.at).where(tc.lead_id.in_(ids))):
        start = assigned_at.get(handoff_id)
        if start is not None and at < start + timedelta(days=PERSISTENCE_DAYS):
            first_week[handoff_id] = first_week.get(handoff_id, 0) + 1
    sent: dict[int, list[datetime]] = {}
    for lead_id, sent_at in conn.execute(select(oc.lead_id, oc.sent_at).where(
            oc.lead_id.in_(ids), oc.event_type == "lead.assigned", oc.sent_at.is_not(None))):
        sent.setdefault(lead_id, []).append(sent_at)
    wanted = {moved_by[(row.lead_id, row.opened_at)] for row in handoffs if (row.lead_id, row.opened_at) in moved_by}
    received: dict[int, datetime] = dict(conn.execute(
        select(ac.id, ac.received_at).where(ac.id.in_(sorted(wanted)))).tuples().all()) if wanted else {}
    for row in handoffs:
        record = records.get(row.lead_id)
        if record is None:
            continue
        if row.last_touch_at is not None and (record.quiet_since is None or row.last_touch_at > record.quiet_since):
            record.quiet_since = row.last_touch_at
        routed_at = routed.get(row.id)
        notified_at = min((x for x in sent.get(row.lead_id, ()) if routed_at and x >= routed_at), default=None)
        activity = moved_by.get((row.lead_id, row.opened_at))
        record.handoffs.append(HandoffTimes(
            row.id, row.opened_at, {"rep": row.owner, "team": row.team, "source": record.dims["source"],
                                    "hour": f"{row.opened_at.hour:02d}", "policy": row.policy_id},
            received.get(activity) if activity is not None else None, routed_at, notified_at, row.assigned_at,
            row.accepted_at, row.first_touch_at, row.accept_due_at, row.first_touch_due_at,
            row.quiet_until is not None, first_week.get(row.id, 0), touches=row.touches,
            touches_required=row.touches_required, touches_due_at=row.touches_due_at, outcome=row.outcome,
            breaches=frozenset(breaches.get(row.id, ())), escalations=tuple(escalations.get(row.id, ())),
            to_sales=row.to_function != "marketing", follow_up_due_at=row.follow_up_due_at,
            follow_up_met_at=row.follow_up_met_at, closed_at=row.closed_at))


def visible_records(conn: Connection, owners: Sequence[str] | None) -> list[LeadRecord]:
    """The leads whose work one of `owners` did or does: owned, handed over, routed or sold to them (None:
    every lead in the funnel)."""
    lc, hc, rc, dc = t.leads.c, h.handoffs.c, h.routing_decisions.c, s.opportunities.c
    ids: set[int] = set()
    queries = [select(lc.id).where(lc.stage.is_not(None))] if owners is None else [
        select(lc.id).where(lc.owner.in_(owners)), select(hc.lead_id).where(hc.owner.in_(owners)),
        select(rc.lead_id).where(rc.owner.in_(owners)),
        select(dc.lead_id).where(dc.owner.in_(owners), dc.lead_id.is_not(None))]
    for query in queries:
        ids.update(conn.scalars(query))
    ordered = sorted(ids)
    out: list[LeadRecord] = []
    for i in range(0, len(ordered), 2_000):
        found = load_records(conn, ordered[i:i + 2_000])
        out += [found[lead_id] for lead_id in sorted(found)]
    return out
