"""Mapping between `handoffs` rows and Handoff objects. No queries here."""

from __future__ import annotations

from typing import Any

from leadrelay.handoff.model import Handoff, HandoffOutcome, HandoffStatus

DUE_COLUMNS = {"accept": "accept_due_at", "first_touch": "first_touch_due_at", "touches": "touches_due_at"}


_STATUS = {status.value: status for status in HandoffStatus}
_OUTCOME = {outcome.value: outcome for outcome in HandoffOutcome}


def handoff_from_row(row: Any) -> Handoff:
    """A Handoff from a `handoffs` row."""
    due = {}
    if row.accept_due_at is not None:
        due["accept"] = row.accept_due_at
    if row.first_touch_due_at is not None:
        due["first_touch"] = row.first_touch_due_at
    if row.touches_due_at is not None:
        due["touches"] = row.touches_due_at
    return Handoff(
        row.id, row.lead_id, row.kind, row.from_function, row.to_function, row.opened_at, _STATUS[row.status],
        row.team, row.owner, _OUTCOME[row.outcome] if row.outcome else None, row.reason, row.policy_id,
        row.assigned_at, row.accepted_at, row.first_touch_at, row.last_touch_at, row.touches,
        row.touches_required, due, row.closed_at, row.reassignments or 0, tuple(row.excluded_reps or ()),
        row.quiet_until,
    )


def handoff_values(handoff: Handoff) -> dict[str, Any]:
    """Column values for storing a Handoff (without id)."""
    return {
        "lead_id": handoff.lead_id, "kind": handoff.kind, "from_function": handoff.from_function,
        "to_function": handoff.to_function, "team": handoff.team, "owner": handoff.owner,
        "status": handoff.status.value, "outcome": handoff.outcome.value if handoff.outcome else None,
        "reason": handoff.reason, "policy_id": handoff.policy_id, "opened_at": handoff.opened_at,
        "assigned_at": handoff.assigned_at, "accepted_at": handoff.accepted_at,
        "first_touch_at": handoff.first_touch_at, "last_touch_at": handoff.last_touch_at, "touches": handoff.touches,
        "touches_required": handoff.touches_required, "closed_at": handoff.closed_at,
        "reassignments": handoff.reassignments, "excluded_reps": list(handoff.excluded) or None,
        "quiet_until": handoff.quiet_until,
        **{column: handoff.due.get(clock) for clock, column in DUE_COLUMNS.items()},
    }
