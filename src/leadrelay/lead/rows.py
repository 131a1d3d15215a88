"""Mapping between table rows and domain objects (Lead, Activity). No queries here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from leadrelay.lead.activities import Activity
from leadrelay.lead.model import Lead, ScoringState
from leadrelay.lead.stages import Stage

if TYPE_CHECKING:
    from leadrelay.storage.packing import Payloads


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
        source=row.source,
        campaign=row.campaign,
        owner=row.owner,
        scoring=ScoringState(
            engagement=row.engagement_score,
            as_of=row.engagement_as_of,
            caps={k: list(v) for k, v in state.get("caps", {}).items()},
            fit_points=dict(state.get("fit_points", {})),
            fit=row.fit_score,
        ),
        armed=dict(state.get("armed", {})),
        rearmed_at=state.get("rearmed_at"),
        alerts={k: list(v) for k, v in state.get("alerts", {}).items()},
        trail=[list(sample) for sample in state.get("trail", ())],
        sequences={k: {kind: list(ids) for kind, ids in v.items()} for k, v in state.get("sequences", {}).items()},
        followups={k: list(v) for k, v in state.get("followups", {}).items()},
        hand_raised_at=state.get("hand_raised_at"),
        pending_hand=tuple(state["pending_hand"]) if state.get("pending_hand") else None,
        disqualified_by=row.disqualified_by,
        disqualified_from=_stage(row.disqualified_from),
        first_seen_at=row.first_seen_at,
        last_activity_at=row.last_activity_at,
        merged_into=row.merged_into,
        version=row.version,
        predicted=row.predicted,
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
        "source": lead.source,
        "campaign": lead.campaign,
        "owner": lead.owner,
        "fit_score": s.fit,
        "engagement_score": s.engagement,
        "engagement_as_of": s.as_of,
        "engine_state": {"caps": s.caps, "fit_points": s.fit_points, "armed": lead.armed}
        | ({"hand_raised_at": lead.hand_raised_at} if lead.hand_raised_at is not None else {})
        | ({"rearmed_at": lead.rearmed_at} if lead.rearmed_at is not None else {})
        | ({"pending_hand": list(lead.pending_hand)} if lead.pending_hand else {})
        | ({"alerts": lead.alerts} if lead.alerts else {})
        | ({"trail": lead.trail} if lead.trail else {})
        | ({"sequences": lead.sequences} if lead.sequences else {})
        | ({"followups": lead.followups} if lead.followups else {}),
        "disqualified_by": lead.disqualified_by,
        "disqualified_from": lead.disqualified_from.value if lead.disqualified_from else None,
        "first_seen_at": lead.first_seen_at,
        "last_activity_at": lead.last_activity_at,
        "merged_into": lead.merged_into,
        "version": lead.version,
        "updated_at": now,
    }


def activity_values(activity: Activity, lead_id: int, packer: Payloads) -> dict[str, Any]:
    """An `activities` row for this activity, its payload packed (`leadrelay.storage.packing`)."""
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
        "payload": packer.pack(payload),
    }


def activity_from_row(row: Any, payload: dict[str, Any]) -> Activity:
    """An Activity from an `activities` row and its unpacked payload (`leadrelay.storage.packing.unpack`)."""
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
