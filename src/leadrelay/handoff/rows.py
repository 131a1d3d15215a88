"""Mapping between `handoffs` rows and Handoff objects. No queries here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadrelay.handoff.model import Handoff, HandoffOutcome, HandoffStatus
from leadrelay.storage import handoff_tables as h

DUE_COLUMNS = {"accept": "accept_due_at", "first_touch": "first_touch_due_at", "touches": "touches_due_at",
               "follow_up": "follow_up_due_at"}


_STATUS = {status.value: status for status in HandoffStatus}
_OUTCOME = {outcome.value: outcome for outcome in HandoffOutcome}


# Where each column sits in a row of `select(h.handoffs)` (the table's order; a query may add
# columns after them): reading by position is 50 times cheaper than by name, and a queue
# reads thousands of rows at once.
_AT = {name: index for index, name in enumerate(h.handoffs.c.keys())}
(_ID, _LEAD, _KIND, _FROM, _TO, _OPENED, _STATUS_AT, _TEAM, _OWNER, _OUTCOME_AT, _REASON, _POLICY, _ASSIGNED,
 _ACCEPTED, _FIRST_TOUCH, _LAST_TOUCH, _TOUCHES, _REQUIRED, _CLOSED, _REASSIGNED, _EXCLUDED, _QUIET,
 _ACCEPT_DUE, _FIRST_TOUCH_DUE, _TOUCHES_DUE, _FOLLOW_UP_DUE, _FOLLOW_UP_FROM, _FOLLOW_UP_MET) = (
    _AT[name] for name in (
    "id", "lead_id", "kind", "from_function", "to_function", "opened_at", "status", "team", "owner", "outcome",
    "reason", "policy_id", "assigned_at", "accepted_at", "first_touch_at", "last_touch_at", "touches",
    "touches_required", "closed_at", "reassignments", "excluded_reps", "quiet_until", *DUE_COLUMNS.values(),
    "follow_up_from", "follow_up_met_at"))
COLUMNS = tuple(_AT)  # a row's columns, in order (what `handoff_from_row` reads by position)


def handoff_from_row(row: Sequence[Any]) -> Handoff:
    """A Handoff from a row of `select(h.handoffs)` (columns in `COLUMNS` order)."""
    due = {}
    if row[_ACCEPT_DUE] is not None:
        due["accept"] = row[_ACCEPT_DUE]
    if row[_FIRST_TOUCH_DUE] is not None:
        due["first_touch"] = row[_FIRST_TOUCH_DUE]
    if row[_TOUCHES_DUE] is not None:
        due["touches"] = row[_TOUCHES_DUE]
    if row[_FOLLOW_UP_DUE] is not None:
        due["follow_up"] = row[_FOLLOW_UP_DUE]
    outcome = row[_OUTCOME_AT]
    return Handoff(
        row[_ID], row[_LEAD], row[_KIND], row[_FROM], row[_TO], row[_OPENED], _STATUS[row[_STATUS_AT]],
        row[_TEAM], row[_OWNER], _OUTCOME[outcome] if outcome else None, row[_REASON], row[_POLICY],
        row[_ASSIGNED], row[_ACCEPTED], row[_FIRST_TOUCH], row[_LAST_TOUCH], row[_TOUCHES], row[_REQUIRED], due,
        row[_CLOSED], row[_REASSIGNED] or 0, tuple(row[_EXCLUDED] or ()), row[_QUIET], row[_FOLLOW_UP_FROM],
        row[_FOLLOW_UP_MET],
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
        "quiet_until": handoff.quiet_until, "follow_up_from": handoff.follow_up_from,
        "follow_up_met_at": handoff.follow_up_met_at,
        **{column: handoff.due.get(clock) for clock, column in DUE_COLUMNS.items()},
    }
