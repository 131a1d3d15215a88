"""Moving a lead by hand: recycle, reject, disqualify, reopen — each with a reason code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from leadrelay.bootstrap import App
from leadrelay.domain.errors import Conflict, InvalidTransition
from leadrelay.domain.lifecycle import move
from leadrelay.domain.stages import Stage, Transition
from leadrelay.services.leads import find_lead
from leadrelay.storage import repository as repo
from leadrelay.storage import tables as t
from leadrelay.storage.database import transaction
from leadrelay.storage.rows import lead_values

MANUAL = {
    Transition.RECYCLE: Stage.LEAD,
    Transition.REJECT: Stage.LEAD,
    Transition.DISQUALIFY: Stage.DISQUALIFIED,
    Transition.REOPEN: None,  # back to where it was before disqualification
}


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
    allowed = app.playbook.rules.reasons.get(kind, frozenset())
    if reason not in allowed:
        raise InvalidTransition(f"'{reason}' is not a {kind.value} reason in the playbook "
                                f"(one of {', '.join(sorted(allowed))})")
    now = app.clock()
    with transaction(app.engine) as conn:
        lead = find_lead(conn, ref)
        lead = repo.load_leads(conn, [lead.id], for_update=True)[lead.id]
        if expected_version is not None and lead.version != expected_version:
            raise Conflict(f"lead {lead.id} is at version {lead.version}, not {expected_version}: read it again")
        target = MANUAL[kind] or lead.disqualified_from or Stage.SUBSCRIBER
        change = move(lead, kind, target, at=now, actor=actor, reason=reason)
        if kind is Transition.DISQUALIFY:
            lead.disqualified_by = None  # a person's decision: never reopened automatically
        version = lead.version
        lead.version += 1
        result = conn.execute(
            update(t.leads).where(t.leads.c.id == lead.id, t.leads.c.version == version)
            .values(**lead_values(lead, now))
        )
        if result.rowcount != 1:
            raise Conflict(f"lead {lead.id} changed while it was being moved: try again")
        repo.insert_stage_changes(conn, [change], app.playbook.version)
    return {"id": lead.id, "from": change.from_stage.value if change.from_stage else None,
            "to": change.to_stage.value, "transition": kind.value, "reason": reason, "version": lead.version}
