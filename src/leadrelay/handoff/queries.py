"""Reading the handoff: why a lead went where it went, a rep's queue, a team's board, suppression lists.

SLA compliance is a report: `reports.catalog.sla_summary` (`leadrelay sla report`, `GET /api/sla`).
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.core.numbers import shown
from leadrelay.core.time import utc_iso
from leadrelay.handoff.model import OPEN_STATUSES, OWNED_STATUSES
from leadrelay.lead.queries import find_lead
from leadrelay.lead.scoring import decayed
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t

CHANNELS = ("email", "ads", "calls")



def handoff_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "lead_id": row.lead_id, "kind": row.kind, "from": row.from_function, "to": row.to_function,
        "team": row.team, "owner": row.owner, "status": row.status, "outcome": row.outcome, "reason": row.reason,
        "policy": row.policy_id, "opened_at": utc_iso(row.opened_at), "assigned_at": utc_iso(row.assigned_at),
        "accepted_at": utc_iso(row.accepted_at), "first_touch_at": utc_iso(row.first_touch_at),
        "touches": row.touches, "touches_required": row.touches_required,
        "accept_due_at": utc_iso(row.accept_due_at), "first_touch_due_at": utc_iso(row.first_touch_due_at),
        "touches_due_at": utc_iso(row.touches_due_at), "follow_up_due_at": utc_iso(row.follow_up_due_at),
        "closed_at": utc_iso(row.closed_at),
        "deadlines": [d | {"due_at": utc_iso(d["due_at"])} for d in deadlines(row)],
    }


def route_explain(app: App, ref: str | int) -> dict[str, Any]:
    """Every routing decision for a lead: rule matched, candidates and why each was skipped, who was chosen."""
    with app.engine.connect() as conn:
        lead = find_lead(conn, ref)
        d = h.routing_decisions.c
        decisions = [
            {"at": utc_iso(r.at), "handoff": r.handoff_id, "rule": r.rule_id, "team": r.team, "owner": r.owner,
             "reason": r.reason, "actor": r.actor, "candidates": r.candidates, "playbook_version": r.playbook_version}
            for r in conn.execute(select(h.routing_decisions).where(d.lead_id == lead.id).order_by(d.at, d.id))
        ]
        handoffs = [handoff_dict(r) for r in conn.execute(
            select(h.handoffs).where(h.handoffs.c.lead_id == lead.id).order_by(h.handoffs.c.id))]
        timers = [
            {"handoff": r.handoff_id, "deadline": r.deadline, "step": r.step, "action": r.action,
             "fire_at": utc_iso(r.fire_at), "fired_at": utc_iso(r.fired_at), "cancelled_at": utc_iso(r.cancelled_at),
             "outcome": r.outcome}
            for r in conn.execute(select(h.sla_timers).where(h.sla_timers.c.lead_id == lead.id)
                                  .order_by(h.sla_timers.c.fire_at, h.sla_timers.c.id))
        ]
    return {"id": lead.id, "email": lead.email, "owner": lead.owner, "decisions": decisions,
            "handoffs": handoffs, "timers": timers}


def deadlines(row: Any) -> list[dict[str, Any]]:
    """A handoff's deadlines in the order they fall due: name (accept, first_touch, touches, follow_up: after a
    meeting no-show), when, and whether the work it asks for is done (`met`: done, in time or late; the SLA report
    says which)."""
    touched = row.touches_required is not None and row.touches >= row.touches_required
    found = [{"name": name, "due_at": due, "met": met} for name, due, met in (
        ("accept", row.accept_due_at, row.accepted_at is not None),
        ("first_touch", row.first_touch_due_at, row.first_touch_at is not None),
        ("touches", row.touches_due_at, touched),
        ("follow_up", row.follow_up_due_at, row.follow_up_met_at is not None)) if due is not None]
    return sorted(found, key=lambda d: d["due_at"])


def next_deadline(row: Any) -> datetime | None:
    """The nearest deadline whose work is not done yet, or None."""
    return min((d["due_at"] for d in deadlines(row) if not d["met"]), default=None)


def standing(row: Any, now: datetime, soon: timedelta = timedelta(hours=2)) -> str:
    """`breached` (a deadline passed with its work not done), `due_soon` (within `soon`), `queued` (no rep yet) or
    `on_time`."""
    nearest = next_deadline(row)
    return ("queued" if row.status == "queued" else "breached" if nearest is not None and nearest <= now
            else "due_soon" if nearest is not None and nearest <= now + soon else "on_time")


def rep_queue(app: App, rep: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """A rep's open handoffs, the nearest deadline whose work is not done first; each with that deadline, how it
    stands, every deadline with its met mark, and the lead's engagement decayed to now (as on the lead's page)."""
    if rep not in app.playbook.rules.handoff.directory.reps:
        raise NotFound(f"no rep '{rep}' in the playbook")
    now = now or app.clock()
    c = h.handoffs.c
    lc = t.leads.c
    with app.engine.connect() as conn:
        rows = conn.execute(select(h.handoffs, lc.email, lc.traits, lc.fit_score, lc.engagement_score,
                                   lc.engagement_as_of, lc.company_domain, t.accounts.c.name.label("account_name"))
                            .join(t.leads, lc.id == c.lead_id).outerjoin(t.accounts, t.accounts.c.id == lc.account_id)
                            .where(c.status.in_(OWNED_STATUSES), c.owner == rep)).all()
    half_life = app.playbook.rules.half_life_seconds
    out = []
    for r in sorted(rows, key=lambda r: (next_deadline(r) is None, next_deadline(r) or now, r.opened_at, r.id)):
        engagement = decayed(r.engagement_score, r.engagement_as_of, now.timestamp(), half_life)
        out.append(handoff_dict(r) | {"email": r.email} | lead_contact(r) | {
            "engagement_score": round(engagement, 2), "next_due_at": utc_iso(next_deadline(r)),
            "state": standing(r, now)})  # every deadline with its met mark comes with `handoff_dict`
    return out


def person_name(traits: dict[str, Any]) -> str | None:
    """A lead's name from its traits (`name`, else `first_name last_name`), or None."""
    return traits.get("name") or " ".join(str(traits[k]) for k in ("first_name", "last_name") if traits.get(k)) \
        or None


def lead_contact(row: Any) -> dict[str, Any]:
    """Who the lead is, for a rep about to call: name, title, company, phone, and the scores as stored."""
    traits = row.traits or {}
    return {"name": person_name(traits), "title": traits.get("title"),
            "company": traits.get("company") or row.account_name or row.company_domain, "phone": traits.get("phone"),
            "fit_score": shown(row.fit_score, 2), "engagement_score": shown(row.engagement_score, 2)}


def team_board(app: App, team: str, now: datetime, *, soon: timedelta = timedelta(hours=2)) -> list[dict[str, Any]]:
    """A team's open handoffs (queued ones too), each with its next deadline and how it stands (see `standing`);
    breaches first."""
    c = h.handoffs.c
    with app.engine.connect() as conn:
        rows = conn.execute(select(h.handoffs, t.leads.c.email).join(t.leads, t.leads.c.id == c.lead_id)
                            .where(c.status.in_(OPEN_STATUSES), c.team == team).order_by(c.opened_at, c.id)).all()
    order = {"breached": 0, "due_soon": 1, "queued": 2, "on_time": 3}
    out = [handoff_dict(row) | {"email": row.email, "next_due_at": utc_iso(next_deadline(row)),
                                "state": standing(row, now, soon)} for row in rows]
    return sorted(out, key=lambda x: (order[x["state"]], x["next_due_at"] or "", x["opened_at"]))


def lead_touches(app: App, lead_id: int) -> list[dict[str, Any]]:
    """Every touch logged on a lead, newest first: who, how, the outcome and the note."""
    c = h.touches.c
    with app.engine.connect() as conn:
        rows = conn.execute(select(h.touches).where(c.lead_id == lead_id).order_by(c.at.desc(), c.id.desc()))
        return [{"at": utc_iso(r.at), "rep": r.rep, "kind": r.kind, "outcome": r.outcome, "note": r.note,
                 "handoff": r.handoff_id} for r in rows]


def suppression_list(app: App, channel: str | None = None, *,
                     owners: Set[str] | None = None) -> list[dict[str, Any]]:
    """Leads marketing must not contact, per channel, with why and since when.

    With `owners`, only the leads these reps own (what a manager may see)."""
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"unknown channel '{channel}' (one of {', '.join(CHANNELS)})")
    s = h.suppressions.c
    query = (select(t.leads.c.id, t.leads.c.email, s.channel, s.reason, s.source, s.permanent, s.created_at)
             .join(t.leads, t.leads.c.id == s.lead_id).where(s.lifted_at.is_(None)))
    if channel:
        query = query.where(s.channel == channel)
    if owners is not None:
        query = query.where(t.leads.c.owner.in_(sorted(owners)))
    with app.engine.connect() as conn:
        rows = conn.execute(query.order_by(t.leads.c.email, s.channel, s.created_at))
        seen, out = set(), []
        for r in rows:
            if (r.id, r.channel) in seen:
                continue  # one line per lead and channel: the oldest reason
            seen.add((r.id, r.channel))
            out.append({"lead_id": r.id, "email": r.email, "channel": r.channel, "reason": r.reason,
                        "source": r.source, "permanent": r.permanent, "since": utc_iso(r.created_at)})
        return out


def open_handoff_opened_at(app: App, lead_id: int) -> datetime | None:
    """When the lead's open handoff was opened; None when it has none."""
    c = h.handoffs.c
    with app.engine.connect() as conn:
        return conn.scalar(select(c.opened_at).where(c.lead_id == lead_id, c.status != "closed")
                           .order_by(c.id.desc()).limit(1))
