"""`/api/leads`: list with filters and a cursor, one lead explained, and the moves people make.

The same service functions as `leadrelay leads ...`; this module only translates HTTP
and applies the caller's scope (`authz`): a lead outside it is "not found".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.access.tokens import Role
from leadrelay.activity.queries import lead_activities
from leadrelay.bootstrap import App
from leadrelay.core.errors import NotFound
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.model import Lead
from leadrelay.lead.queries import explain_lead, find_visible_lead
from leadrelay.lead.search import NEWEST_FIRST, OLDEST_FIRST, LeadFilters, search_leads
from leadrelay.lead.service import change_stage
from leadrelay.lead.stages import Stage, Transition
from leadrelay.predict.queries import with_prediction

router = APIRouter(prefix="/api/leads", tags=["leads"], responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1


Segment = Literal["new", "recycled"]


class LeadBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    email: str | None
    stage: Stage | None = Field(description="Null for a visitor not yet known.")
    segment: Segment | None
    owner: str | None
    persona: str | None
    fit_score: float
    engagement_score: float = Field(description="Decayed to now.")
    last_activity_at: str | None
    version: int | None = Field(None, description="Send it back as `version` to act only if nobody changed the lead.")


class LeadSummary(LeadBase):
    updated_at: str | None = None
    predicted: float | None = Field(None, description="The predictive score's probability of converting, beside the "
                                                      "rule scores; null until a model has scored the lead (or when "
                                                      "the playbook excludes a field the model reads).")


class LeadPage(BaseModel):
    leads: list[LeadSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Factor(BaseModel):
    field: str
    value: Any = Field(description="The lead's value (as the model read it: lower-cased text, a number, missing).")
    typical: Any = Field(description="The most typical value, the one the effect is measured against.")
    effect: float = Field(description="How far this value moves the probability from the typical value's.")


class Predicted(BaseModel):
    probability: float = Field(description="Of converting, from the model version that last scored the lead.")
    model_version: int
    scored_at: str
    factors: list[Factor] = Field(description="The fields that moved the probability most, largest first.")
    unusable: str | None = Field(None, description="Why this model is no longer used (the playbook now excludes a "
                                                   "field it reads): the figure is kept for the record only.")


class LeadDetail(LeadBase):
    """A lead with every point and stage move explained."""

    user_id: str | None = None
    company_domain: str | None = None
    country: str | None = None
    traits: dict[str, Any] = {}
    disqualified_by: str | None = None
    first_seen_at: str | None = None
    account: dict[str, Any] | None = None
    identities: list[dict[str, Any]] = []
    score_breakdown: dict[str, list[dict[str, Any]]] = {}
    history: list[dict[str, Any]] = Field([], description="Every stage move: from, to, at, transition, actor, "
                                                          "reason, playbook_version.")
    recent_activities: list[dict[str, Any]] = []
    merged_leads: list[int] = []
    ask_next: list[dict[str, Any]] = Field([], description="Progressive profiling: the fields to ask for next, most "
                                                           "telling first (field, could, points, why); the SQL "
                                                           "gate's criteria are in /next-fields.")
    unreadable: list[str] = Field([], description="Values the lead gave that the playbook reads but cannot use "
                                                  "(a country that is not one, a number that is not a number), "
                                                  "each with what reads it; they count as unknown.")
    alerts: list[dict[str, Any]] = Field([], description="Alerts that fired for the lead, newest first: at, alert, "
                                                         "why, told (false: recorded while loading history).")
    sequences: dict[str, dict[str, Any]] = Field({}, description="Progress through each nurture sequence of the "
                                                               "playbook: sent, opened, clicked, engaged, emails, "
                                                               "completed.")
    followups: list[dict[str, Any]] = Field([], description="Absence timers, newest first: followup, status "
                                                            "(pending, fired, cancelled, dropped), started_at, "
                                                            "due_at, closed_at.")
    predicted: Predicted | None = Field(None, description="The predictive score beside the rule scores (never "
                                                          "instead of them); null until a model has scored the lead.")


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: SafeText = Field(description="A reason code the playbook lists for this move.", max_length=80)
    version: int | None = Field(None, ge=0, le=_MAX_ID,
                                description="The lead's version as read: a stale version gets 409 and changes nothing.")


class MoveResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="allow")

    id: int
    transition: str
    reason: str | None
    version: int
    from_: str | None = Field(alias="from")
    to: str
    owner: str | None = None


LeadRef = Path(description="Lead id, email, user id or anonymous id.", max_length=320,
               openapi_examples={"email": {"value": "jane@acme.io"}, "id": {"value": "42"}})


@router.get("", response_model=LeadPage, summary="List leads")
def list_leads(
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
    stage: Stage | None = Query(None),
    owner: str | None = Query(None, max_length=80, description="Rep id."),
    team: str | None = Query(None, max_length=80, description="Leads owned by the reps of this team."),
    segment: Segment | None = Query(None, description="new, or recycled (sent back to nurture)."),
    fit_min: float | None = Query(None, allow_inf_nan=False),
    fit_max: float | None = Query(None, allow_inf_nan=False),
    engagement_min: float | None = Query(None, allow_inf_nan=False, description="Engagement decayed to now."),
    engagement_max: float | None = Query(None, allow_inf_nan=False),
    updated_since: datetime | None = Query(None, description="ISO-8601; without a zone, UTC."),
    include_anonymous: bool = Query(False, description="Include visitors not yet known (no stage)."),
    sort: Literal["-updated_at", "updated_at"] = Query(NEWEST_FIRST, description=f"{NEWEST_FIRST} (newest first) or "
                                                        f"{OLDEST_FIRST} (oldest first, for syncing)."),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=400),
) -> LeadPage:
    filters = LeadFilters(
        stage=stage.value if stage else None, owner=owner, segment=segment, fit_min=fit_min, fit_max=fit_max,
        engagement_min=engagement_min, engagement_max=engagement_max, updated_since=updated_since,
        include_anonymous=include_anonymous,
        owners_in=authz.team_members(app.playbook, team) if team is not None else None,
    )
    leads, next_cursor = search_leads(app, filters, visible=authz.visible_owners(caller, app.playbook),
                                      sort=sort, limit=limit, cursor=cursor)
    return LeadPage.model_validate({"leads": leads, "next_cursor": next_cursor})


@router.get("/{ref}", response_model=LeadDetail, summary="One lead, explained",
            responses=error_responses(404))
def show_lead(
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return with_prediction(app, explain_lead(app, lead.id))


class Activity(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    type: str
    name: str | None
    source: str
    message_id: str
    occurred_at: str
    received_at: str
    properties: dict[str, Any]
    traits: dict[str, Any]
    campaign: dict[str, Any] | None = Field(description="context.campaign: the UTM parameters.")
    page: dict[str, Any] | None = Field(description="context.page: path, url, title, referrer.")
    ip: str | None
    user_agent: str | None


class ActivityPage(BaseModel):
    activities: list[Activity]
    next_cursor: str | None


@router.get("/{ref}/activities", response_model=ActivityPage, summary="A lead's activities, latest first",
            responses=error_responses(404))
def list_activities(
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=400),
) -> ActivityPage:
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    items, next_cursor = lead_activities(app, lead.id, limit=limit, cursor=cursor)
    return ActivityPage.model_validate({"activities": items, "next_cursor": next_cursor})


def _visible_lead(app: App, caller: Caller, ref: str) -> Lead:
    """The lead `ref` names, if the caller may see it; otherwise NotFound, as if it did not exist."""
    text = ref.strip()
    if text.isdigit() and not (text.isascii() and 0 < int(text) <= _MAX_ID):
        raise NotFound(f"no lead {text}")  # not an id the store can hold
    with app.engine.connect() as conn:  # not there and not yours: the same statements, the same answer
        return find_visible_lead(conn, ref, authz.visible_owners(caller, app.playbook))


# As in `leadrelay leads recycle --rep`: a rep moves a lead through its open handoff, which must be theirs.
REP_MOVES = {Transition.RECYCLE: rep_actions.recycle, Transition.REJECT: rep_actions.reject,
             Transition.DISQUALIFY: rep_actions.disqualify}


def _mover(kind: Transition, action: Action):
    def move(
        body: Move,
        ref: str = LeadRef,
        caller: Caller = Depends(allow(action)),
        app: App = Depends(current_app),
    ) -> dict[str, Any]:
        lead = _visible_lead(app, caller, ref)
        assert lead.id is not None  # read from its row
        if caller.role is Role.REP and kind in REP_MOVES:
            assert caller.token.rep_id is not None  # a rep token names its rep
            return REP_MOVES[kind](app, lead.id, rep=caller.token.rep_id, reason=body.reason,
                                   expected_version=body.version)
        return change_stage(app, lead.id, kind, reason=body.reason, actor=caller.actor,
                            expected_version=body.version)

    move.__name__ = f"{kind.value}_lead"
    return move


_MOVES = [
    (Transition.RECYCLE, Action.MOVE_SALES, "Send a lead back to nurture (stage lead, segment recycled)."),
    (Transition.REJECT, Action.MOVE_SALES, "Reject a handed-over lead back to marketing."),
    (Transition.DISQUALIFY, Action.MOVE_QUALIFICATION, "Disqualify a lead (never reopened automatically)."),
    (Transition.REOPEN, Action.MOVE_QUALIFICATION, "Reopen a disqualified lead where it was."),
]

for _kind, _action, _help in _MOVES:
    router.add_api_route(
        f"/{{ref}}/{_kind.value}", _mover(_kind, _action), methods=["POST"], response_model=MoveResult,
        summary=f"{_kind.value.capitalize()} a lead", description=_help + " Needs a reason code from the playbook.",
        responses=error_responses(404, 409),
    )
