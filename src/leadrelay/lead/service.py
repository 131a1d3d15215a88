"""Moving a lead by hand or by an SLA rule: recycle, reject, disqualify, reopen — each with a reason code.

Every caller goes through `move_lead`, inside its unit of work: the lifecycle table is
checked, the lead is written with its version checked, the history row is stored and
the handoff consequences (close, return to marketing, suppression, notices) follow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from leadrelay.core.app import App
from leadrelay.core.errors import Conflict, InvalidTransition
from leadrelay.lead import store as repo
from leadrelay.lead.events import StageMoveProposed, StagesMoved
from leadrelay.lead.lifecycle import StageChange, move
from leadrelay.lead.model import Lead
from leadrelay.lead.queries import lead_id_for
from leadrelay.lead.stages import Stage, Transition
from leadrelay.storage.unit_of_work import UnitOfWork

MANUAL = {
    Transition.RECYCLE: Stage.LEAD,
    Transition.REJECT: Stage.LEAD,
    Transition.DISQUALIFY: Stage.DISQUALIFIED,
    Transition.REOPEN: None,  # back to where it was before disqualification
}


def check_reason(app: App, kind: Transition, reason: str) -> None:
    """A person's reason must be one the playbook lists for this kind of move."""
    allowed = app.playbook.rules.reasons.get(kind, frozenset())
    if reason not in allowed:
        raise InvalidTransition(f"'{reason}' is not a {kind.value} reason in the playbook "
                                f"(one of {', '.join(sorted(allowed))})")


def load_for_update(conn: Connection, ref: str | int, expected_version: int | None = None) -> Lead:
    lead_id = lead_id_for(conn, ref)  # the id only: the row is read once, locked
    lead = repo.load_leads(conn, [lead_id], for_update=True)[lead_id]
    if expected_version is not None and lead.version != expected_version:
        raise Conflict(f"lead {lead.id} is at version {lead.version}, not {expected_version}: read it again")
    return lead


def save_lead(conn: Connection, lead: Lead, now: datetime) -> None:
    """Write a lead back, failing with Conflict if someone else wrote it since it was read."""
    repo.LeadWriter(conn).save(lead, now)


def move_lead(uow: UnitOfWork, lead: Lead, kind: Transition, target: Stage, *, actor: str,
              reason: str | None, now: datetime, history: bool = False) -> StageChange:
    """Move, store the history row, and let the other concepts react — all in the unit of work.

    Before the move, `StageMoveProposed` lets a handler refuse it (the SQL gate does); after,
    `StagesMoved` lets the handoff open, close or retarget (see `leadrelay.core.bus`).
    `history`: the move records what happened long ago (an import), not a decision made now.
    """
    uow.publish(StageMoveProposed(lead, kind, target, now, history))
    writer = repo.lead_writer(uow)
    change = move(lead, kind, target, at=now, actor=actor, reason=reason)
    if kind is Transition.DISQUALIFY:
        lead.disqualified_by = None  # a person's (or SLA's) decision: never reopened automatically
    writer.insert_stage_changes([change], uow.app.playbook.version)
    uow.publish(StagesMoved([change]))
    writer.save(lead, now)
    return change


def change_stage(
    app: App,
    ref: str | int,
    kind: Transition,
    *,
    reason: str,
    actor: str,
    expected_version: int | None = None,
) -> dict[str, Any]:
    """Apply a named backward transition for a person. The reason must be one the playbook lists.

    `expected_version` (optional) makes the change fail with Conflict if the lead changed
    since the caller read it.
    """
    if kind not in MANUAL:
        raise InvalidTransition(f"'{kind.value}' is not a move a person makes; use one of "
                                f"{', '.join(k.value for k in MANUAL)}")
    check_reason(app, kind, reason)
    with UnitOfWork(app) as uow:
        lead = load_for_update(uow.conn, ref, expected_version)
        target = MANUAL[kind] or lead.disqualified_from or Stage.SUBSCRIBER
        change = move_lead(uow, lead, kind, target, actor=actor, reason=reason, now=uow.now)
        uow.commit()
    return moved(lead, change)


def moved(lead: Lead, change: StageChange) -> dict[str, Any]:
    return {"id": lead.id, "from": change.from_stage.value if change.from_stage else None,
            "to": change.to_stage.value, "transition": change.transition.value, "reason": change.reason,
            "owner": lead.owner, "version": lead.version}
