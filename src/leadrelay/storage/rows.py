"""Mapping between table rows and domain objects (Lead, Activity, Handoff). No queries here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadrelay.domain.activities import Activity
from leadrelay.domain.handoff import Handoff, HandoffOutcome, HandoffStatus
from leadrelay.domain.lead import Lead, ScoringState
from leadrelay.domain.stages import Stage


def _stage(value: str | None) -> Stage | None:
    return Stage(value) if value else None


def lead_from_row(row: Any) -> Lead:
    """A Lead from a `leads` row (a Row or mapping)."""
    state = row.engine_state or {}
    return Lead(
        id=row.id,
        email=row.email,
        user_id=row.user_id,
        company_domain=row.company_domain,
        country=row.country,
        persona=row.persona,
        traits=dict(row.traits or {}),
        trait_times=dict(row.trait_times or {}),
        account_id=row.account_id,
        stage=_stage(row.stage),
        furthest_stage=_stage(row.furthest_stage),
        stage_changed_at=row.stage_changed_at,
        segment=row.segment,
        owner=row.owner,
        scoring=ScoringState(
            engagement=row.engagement_score,
            as_of=row.engagement_as_of,
            caps={k: list(v) for k, v in state.get("caps", {}).items()},
            fit_points=dict(state.get("fit_points", {})),
            fit=row.fit_score,
        ),
        armed=dict(state.get("armed", {})),
        hand_raised_at=state.get("hand_raised_at"),
        pending_hand=tuple(state["pending_hand"]) if state.get("pending_hand") else None,
        disqualified_by=row.disqualified_by,
        disqualified_from=_stage(row.disqualified_from),
        first_seen_at=row.first_seen_at,
        last_activity_at=row.last_activity_at,
        merged_into=row.merged_into,
        version=row.version,
    )


def lead_values(lead: Lead, now: datetime) -> dict[str, Any]:
    """Column values for storing a Lead (without id, created_at)."""
    s = lead.scoring
    return {
        "email": lead.email,
        "user_id": lead.user_id,
        "company_domain": lead.company_domain,
        "country": lead.country,
        "persona": lead.persona,
        "traits": lead.traits,
        "trait_times": lead.trait_times,
        "account_id": lead.account_id,
        "stage": lead.stage.value if lead.stage else None,
        "furthest_stage": lead.furthest_stage.value if lead.furthest_stage else None,
        "stage_changed_at": lead.stage_changed_at,
        "segment": lead.segment,
        "owner": lead.owner,
        "fit_score": s.fit,
        "engagement_score": s.engagement,
        "engagement_as_of": s.as_of,
        "engine_state": {"caps": s.caps, "fit_points": s.fit_points, "armed": lead.armed}
        | ({"hand_raised_at": lead.hand_raised_at} if lead.hand_raised_at is not None else {})
        | ({"pending_hand": list(lead.pending_hand)} if lead.pending_hand else {}),
        "disqualified_by": lead.disqualified_by,
        "disqualified_from": lead.disqualified_from.value if lead.disqualified_from else None,
        "first_seen_at": lead.first_seen_at,
        "last_activity_at": lead.last_activity_at,
        "merged_into": lead.merged_into,
        "version": lead.version,
        "updated_at": now,
    }


def activity_values(activity: Activity, lead_id: int) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if activity.properties:
        payload["properties"] = activity.properties
    if activity.traits:
        payload["traits"] = activity.traits
    if activity.context:
        payload["context"] = activity.context
    if activity.previous_id:
        payload["previous_id"] = activity.previous_id
    return {
        "source": activity.source,
        "message_id": activity.message_id,
        "lead_id": lead_id,
        "type": activity.type,
        "name": activity.name,
        "occurred_at": activity.occurred_at,
        "received_at": activity.received_at,
        "anonymous_id": activity.anonymous_id,
        "user_id": activity.user_id,
        "email": activity.email,
        "group_id": activity.group_id,
        "payload": payload,
    }


def activity_from_row(row: Any) -> Activity:
    payload = row.payload or {}
    return Activity(
        source=row.source,
        message_id=row.message_id,
        type=row.type,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        anonymous_id=row.anonymous_id,
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        properties=payload.get("properties", {}),
        traits=payload.get("traits", {}),
        context=payload.get("context", {}),
        group_id=row.group_id,
        previous_id=payload.get("previous_id"),
        id=row.id,
    )


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
