"""What a rep does with a lead handed to them: accept, reject, log a touch, recycle, disqualify, reassign.

The CLI calls these now; the HTTP API calls the same functions. Each is one transaction
and stores who did it; acting on a lead someone else owns is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, InvalidTransition, NotFound
from leadrelay.handoff.acting import not_before as _not_before
from leadrelay.handoff.acting import open_handoff as _open_handoff
from leadrelay.handoff.acting import when as _when
from leadrelay.handoff.desk import desk_of
from leadrelay.handoff.directory import handoffs_without_rep
from leadrelay.handoff.events import HandoffAccepted
from leadrelay.handoff.meeting_service import book_meeting
from leadrelay.handoff.routing import Load, route, why_not
from leadrelay.handoff.rows import handoff_from_row
from leadrelay.handoff.sla import ACCEPT
from leadrelay.handoff.touches import record_touch
from leadrelay.lead.service import check_reason, load_for_update, move_lead, moved, save_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.lead.store import load_leads
from leadrelay.storage.unit_of_work import UnitOfWork

TOUCH_KINDS = ("call", "email", "meeting", "social", "other")
MEETING_BOOKED = "meeting_booked"  # a touch with this outcome books a meeting


def accept(app: App, ref: str | int, *, rep: str, expected_version: int | None = None,
           at: datetime | None = None) -> dict[str, Any]:
    """The owner accepts the lead: the accept deadline is met, and an MQL becomes sales-accepted (SAL).

    `at` records an acceptance that happened earlier (a rep catching up on their notes).
    """
    now = _when(app, at)
    with UnitOfWork(app, now) as uow:
        conn, desk = uow.conn, desk_of(uow)
        lead = load_for_update(conn, ref, expected_version)
        handoff = _open_handoff(conn, lead, rep, app)
        _not_before(handoff, now)
        handoff.accept(now)
        desk.save(handoff, "status", "accepted_at")
        desk.record(HandoffAccepted(at=now, lead_id=lead.id, handoff_id=handoff.id, cause=f"user:{rep}", owner=rep))
        desk.write_pending()
        desk.cancel_timers(handoff.id, ACCEPT, "met")
        if lead.stage is Stage.MQL:
            move_lead(uow, lead, Transition.ADVANCE, Stage.SAL, actor=f"user:{rep}", reason="accepted", now=now)
        else:
            save_lead(conn, lead, now)
        desk.notice("lead.accepted", lead, now, actor=f"user:{rep}", owner=rep, why=f"accepted by {rep}",
                    handoff=handoff)
        uow.commit()
    assert lead.stage is not None  # a lead with an open handoff is in the funnel
    return {"id": lead.id, "stage": lead.stage.value, "owner": rep, "accepted_at": now.isoformat(),
            "version": lead.version}


def log_touch(app: App, ref: str | int, *, rep: str, kind: str, outcome: str, note: str | None = None,
              at: datetime | None = None) -> dict[str, Any]:
    """Record a call, email or meeting; it counts toward first-touch and persistence deadlines."""
    if kind not in TOUCH_KINDS:
        raise InvalidInput(f"unknown touch kind '{kind}' (one of {', '.join(TOUCH_KINDS)})")
    if not outcome or not outcome.strip():
        raise InvalidInput("a touch needs an outcome, e.g. connected, voicemail, no_answer, meeting_booked")
    at = _when(app, at)
    outcome = outcome.strip()
    with UnitOfWork(app) as uow:
        conn, desk = uow.conn, desk_of(uow)
        lead = load_for_update(conn, ref)
        handoff = _open_handoff(conn, lead, rep, app)
        _not_before(handoff, at)
        record_touch(desk, lead, handoff, rep=rep, kind=kind, outcome=outcome, note=note, at=at, cause=f"user:{rep}")
        if outcome == MEETING_BOOKED:  # the rep booked it on the call: a meeting without a time yet
            book_meeting(desk, lead, handoff, at=at, cause=f"user:{rep}", source="rep", host=rep)
        uow.commit()
    assert handoff.first_touch_at is not None  # the touch just logged
    return {"id": lead.id, "handoff": handoff.id, "touches": handoff.touches,
            "first_touch_at": handoff.first_touch_at.isoformat()}


def _back(app: App, ref: str | int, kind: Transition, *, rep: str, reason: str, target: Stage,
          expected_version: int | None) -> dict[str, Any]:
    check_reason(app, kind, reason)
    with UnitOfWork(app) as uow:
        lead = load_for_update(uow.conn, ref, expected_version)
        _open_handoff(uow.conn, lead, rep, app)
        change = move_lead(uow, lead, kind, target, actor=f"user:{rep}", reason=reason, now=uow.now)
        uow.commit()
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
    """Give the lead to `to`, or let routing pick someone other than the current owner; the SLA clock restarts.

    `to` must be on a team that serves the function the handoff is for (an SDR lead goes to an SDR).
    Routing never picks a rep who missed one of the handoff's deadlines; naming one with `to` is a
    person's decision and goes through, and the answer says so (`warning`).
    """
    with UnitOfWork(app) as uow:
        conn, desk, now = uow.conn, desk_of(uow), uow.now
        lead = load_for_update(conn, ref)
        handoff = _open_handoff(conn, lead, None)
        directory = desk.directory
        if to is not None and to not in directory.reps:
            raise NotFound(f"no rep '{to}' in the playbook")
        if to is not None and to == handoff.owner:
            raise InvalidInput(f"lead {lead.id} is already owned by {to}")
        if to is not None:
            unavailable = why_not(directory.reps[to], desk.loads_at(now).get(to) or Load(), now, None)
            if unavailable is not None and not unavailable.startswith(("at capacity", "daily quota")):
                raise InvalidInput(f"{to} cannot take leads now ({unavailable})")
            team = directory.teams.get(directory.reps[to].team)
            if team is None or team.function != handoff.to_function:
                raise InvalidInput(f"{to} is on team {directory.reps[to].team} "
                                   f"({team.function if team else 'no function'}), but this handoff goes to "
                                   f"{handoff.to_function}: pick a rep of a team whose function is "
                                   f"{handoff.to_function}")
        previous = handoff.owner
        if to is None:
            avoid = {rep: "missed this lead's SLA before" for rep in handoff.excluded}
            if previous:
                avoid[previous] = "current owner"
            trial = route(lead.lead_fields(lead.scoring.engagement), handoff.to_function, directory,
                          desk.loads_at(now), now, account_owner=desk.account_owner(lead), exclude=avoid)
            if trial.owner is None:
                raise InvalidTransition(f"nobody else can take lead {lead.id} now ({trial.reason}); "
                                        f"it stays with {previous or 'the queue'}")
        decision = desk.assign(handoff, lead, now, actor=actor, clocks="restart",
                               exclude=frozenset({previous}) if previous else frozenset(), owner=to)
        by = desk.actor_words(actor)
        save_lead(conn, lead, now)
        uow.commit()
    warning = f"{to} missed this lead's SLA before; given back by {by}" if to in handoff.excluded else None
    return {"id": lead.id, "from": previous, "to": decision.owner, "reason": decision.reason} | (
        {"warning": warning} if warning else {})


def hand_back_departed(uow: UnitOfWork) -> int:
    """The open leads of reps the playbook no longer names (removed from it) go back to routing: another rep gets
    each, or it waits in the queue, with the reason stored ("rep tom is no longer in the playbook") and the
    clocks started afresh for whoever takes it. Returns how many. Nothing to do the second time.

    The worker does it first in each sweep (`worker.hand_back_departed`), so a removed rep's timers never fire
    for them; any process that activates a version may call it too. The caller commits.
    """
    conn, desk, now = uow.conn, desk_of(uow), uow.now
    rows = handoffs_without_rep(conn, desk.rules.handoff.directory.reps, lock=True)
    if not rows:
        return 0
    leads = load_leads(conn, sorted({row.lead_id for row in rows}), for_update=True)
    for row in rows:
        lead = leads[row.lead_id]
        desk.hand_back(handoff_from_row(row), lead, now, why=f"rep {row.owner} is no longer in the playbook")
        save_lead(conn, lead, now)
    return len(rows)
