"""What a rep does with a lead handed to them: accept, reject, log a touch, recycle, disqualify, reassign.

The CLI calls these now; the HTTP API calls the same functions. Each is one transaction
and stores who did it; acting on a lead someone else owns is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from leadrelay.bootstrap import App
from leadrelay.domain.errors import InvalidInput, InvalidTransition, NotFound
from leadrelay.domain.lead import Lead
from leadrelay.domain.sla import ACCEPT, FIRST_TOUCH, TOUCHES
from leadrelay.domain.stages import Stage, Transition
from leadrelay.services.handoffs import HandoffDesk
from leadrelay.services.transitions import check_reason, load_for_update, move_lead, moved, save_lead
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.database import transaction

TOUCH_KINDS = ("call", "email", "meeting", "social", "other")


def _when(app: App, at: datetime | None) -> datetime:
    now = app.clock()
    if at is None:
        return now
    if at > now:
        raise InvalidInput(f"that is in the future ({at.isoformat()})")
    return at


def _not_before(handoff, at: datetime) -> None:
    if at < handoff.opened_at:
        raise InvalidInput(f"{at.isoformat()} is before the handoff opened ({handoff.opened_at.isoformat()})")


def _open_handoff(conn, lead: Lead, rep: str | None):
    row = conn.execute(select(h.handoffs).where(h.handoffs.c.lead_id == lead.id, h.handoffs.c.status != "closed")
                       .order_by(h.handoffs.c.id.desc()).limit(1)).first()
    if row is None:
        raise InvalidTransition(f"lead {lead.id} has no open handoff")
    if rep is not None and row.owner != rep:
        owner = row.owner or f"nobody yet (queued for {row.team or row.to_function})"
        raise InvalidTransition(f"lead {lead.id} is owned by {owner}, not {rep}")
    return row


def accept(app: App, ref: str | int, *, rep: str, expected_version: int | None = None,
           at: datetime | None = None) -> dict[str, Any]:
    """The owner accepts the lead: the accept deadline is met, and an MQL becomes sales-accepted (SAL).

    `at` records an acceptance that happened earlier (a rep catching up on their notes).
    """
    now = _when(app, at)
    with transaction(app.engine) as conn:
        lead = load_for_update(conn, ref, expected_version)
        row = _open_handoff(conn, lead, rep)
        _not_before(row, now)
        if row.accepted_at is not None:
            raise InvalidTransition(f"lead {lead.id} was already accepted at {row.accepted_at.isoformat()}")
        desk = HandoffDesk(conn, app, now)
        conn.execute(update(h.handoffs).where(h.handoffs.c.id == row.id).values(accepted_at=now))
        desk.cancel_timers(row.id, ACCEPT, "met")
        if lead.stage is Stage.MQL:
            move_lead(conn, app, lead, Transition.ADVANCE, Stage.SAL, actor=f"user:{rep}", reason="accepted",
                      now=now, desk=desk)
        else:
            save_lead(conn, lead, now)
        desk.notice("lead.accepted", lead, now, actor=f"user:{rep}", owner=rep)
        desk.flush()
    return {"id": lead.id, "stage": lead.stage.value, "owner": rep, "accepted_at": now.isoformat(),
            "version": lead.version}


def log_touch(app: App, ref: str | int, *, rep: str, kind: str, outcome: str, note: str | None = None,
              at: datetime | None = None) -> dict[str, Any]:
    """Record a call, email or meeting; it counts toward first-touch and persistence deadlines."""
    if kind not in TOUCH_KINDS:
        raise InvalidInput(f"unknown touch kind '{kind}' (one of {', '.join(TOUCH_KINDS)})")
    if not outcome or not outcome.strip():
        raise InvalidInput("a touch needs an outcome, e.g. connected, voicemail, no_answer, meeting_booked")
    now = app.clock()
    at = _when(app, at)
    with transaction(app.engine) as conn:
        lead = load_for_update(conn, ref)
        row = _open_handoff(conn, lead, rep)
        _not_before(row, at)
        conn.execute(insert(h.touches).values(lead_id=lead.id, handoff_id=row.id, rep=rep, kind=kind,
                                              outcome=outcome.strip(), note=note, at=at))
        touches = row.touches + 1
        values: dict[str, Any] = {"touches": touches, "last_touch_at": max(at, row.last_touch_at or at)}
        desk = HandoffDesk(conn, app, now)
        if row.first_touch_at is None:
            values["first_touch_at"] = at
            desk.cancel_timers(row.id, FIRST_TOUCH, "met")
        if row.touches_required is not None and touches >= row.touches_required:
            desk.cancel_timers(row.id, TOUCHES, "met")
        conn.execute(update(h.handoffs).where(h.handoffs.c.id == row.id).values(**values))
    return {"id": lead.id, "handoff": row.id, "touches": touches, "first_touch_at": (row.first_touch_at or at).isoformat()}


def _back(app: App, ref: str | int, kind: Transition, *, rep: str, reason: str, target: Stage,
          expected_version: int | None) -> dict[str, Any]:
    check_reason(app, kind, reason)
    now = app.clock()
    with transaction(app.engine) as conn:
        lead = load_for_update(conn, ref, expected_version)
        _open_handoff(conn, lead, rep)
        change = move_lead(conn, app, lead, kind, target, actor=f"user:{rep}", reason=reason, now=now)
    return moved(lead, change)


def reject(app: App, ref: str | int, *, rep: str, reason: str, expected_version: int | None = None) -> dict:
    """The owner refuses the handoff: back to marketing (stage lead) with the reason."""
    return _back(app, ref, Transition.REJECT, rep=rep, reason=reason, target=Stage.LEAD,
                 expected_version=expected_version)


def recycle(app: App, ref: str | int, *, rep: str, reason: str, expected_version: int | None = None) -> dict:
    """Back to nurture (stage lead, segment recycled) with one of the playbook's recycle reasons."""
    return _back(app, ref, Transition.RECYCLE, rep=rep, reason=reason, target=Stage.LEAD,
                 expected_version=expected_version)


def disqualify(app: App, ref: str | int, *, rep: str, reason: str, expected_version: int | None = None) -> dict:
    return _back(app, ref, Transition.DISQUALIFY, rep=rep, reason=reason, target=Stage.DISQUALIFIED,
                 expected_version=expected_version)


def reassign(app: App, ref: str | int, *, actor: str, to: str | None = None) -> dict[str, Any]:
    """Give the lead to `to`, or let routing pick someone other than the current owner; the SLA clock restarts."""
    now = app.clock()
    with transaction(app.engine) as conn:
        lead = load_for_update(conn, ref)
        row = _open_handoff(conn, lead, None)
        desk = HandoffDesk(conn, app, now)
        if to is not None and to not in desk.directory.reps:
            raise NotFound(f"no rep '{to}' in the playbook")
        if to is not None and to == row.owner:
            raise InvalidInput(f"lead {lead.id} is already owned by {to}")
        if row.owner and row.status == "open":
            desk.loads[row.owner].open = max(desk.loads[row.owner].open - 1, 0)
        decision = desk.assign(row.id, lead, row.kind, row.to_function, now, actor=actor,
                               exclude=frozenset({row.owner}) if row.owner else frozenset(), owner=to)
        if decision.owner is None:
            conn.execute(update(h.handoffs).where(h.handoffs.c.id == row.id).values(status="queued"))
        save_lead(conn, lead, now)
        desk.flush()
    return {"id": lead.id, "from": row.owner, "to": decision.owner, "reason": decision.reason}
