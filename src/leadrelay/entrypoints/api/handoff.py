"""The handoff over HTTP: a rep accepts and works a lead, a manager reassigns it, everyone reads why it went where.

`POST /api/leads/{ref}/accept` and `/touches` are the owning rep's own work (a rep token:
only on a lead they own, acting as themselves); `/reassign` is a manager's or an admin's.
`GET /api/leads/{ref}/routing` explains every routing decision, `GET /api/queue` is a
rep's open handoffs (most urgent first), `GET /api/suppressions` who marketing must not
contact and `GET /api/sla` how well sales and marketing keep their promises.

The same service functions as `leadrelay leads accept|touch|reassign|route-explain|queue`,
`leadrelay suppression export` and `leadrelay sla report`; who may do what is `authz`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.leads import LeadRef, _visible_lead
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.queries import (
    CHANNELS,
    open_handoff_opened_at,
    rep_queue,
    route_explain,
    suppression_list,
)
from leadrelay.lead.search import utc
from leadrelay.reports.catalog import sla_summary

router = APIRouter(prefix="/api", tags=["handoff"], responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1
TouchKind = Literal[rep_actions.TOUCH_KINDS]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]


# --- request and response bodies -------------------------------------------------------

class Acceptance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0, le=_MAX_ID,
                                description="The lead's version as read: a stale version gets 409 and changes nothing.")


class Accepted(BaseModel):
    id: int
    stage: str = Field(description="An MQL becomes sal when accepted; other stages stay.")
    owner: str
    accepted_at: str
    version: int


class NewTouch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TouchKind = Field(description="call, email, meeting, social or other.")
    outcome: SafeText = Field(min_length=1, max_length=40,
                              description="e.g. connected, voicemail, no_answer, meeting_booked.")
    note: SafeText | None = Field(None, max_length=10_000, description="Free text.")
    at: datetime | None = Field(None, description="When it happened, if earlier (ISO-8601; without a zone, UTC): "
                                             "not before the handoff opened, not in the future. Default: now.")


class TouchLogged(BaseModel):
    id: int = Field(description="The lead.")
    handoff: int
    touches: int = Field(description="Touches logged on this handoff so far.")
    first_touch_at: str


class Reassignment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: SafeText | None = Field(default=None, max_length=80, description="The rep to give the lead to (a manager: a "
                                "rep of their team). Absent: routing picks someone other than the current owner.")


class Reassigned(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    from_: str | None = Field(alias="from", description="The owner before.")
    to: str | None = Field(description="The new owner; null when nobody can take it now (the lead waits in the "
                                       "team's queue).")
    reason: str
    warning: str | None = Field(None, description="Set when the rep named missed this lead's SLA before.")


class Handoff(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    lead_id: int
    kind: str = Field(description="mql, hand_raise, sal, sql, expansion, recycle, reject, ...")
    from_: str = Field(alias="from", description="The function handing over: marketing, sdr, ae, ...")
    to: str = Field(description="The function receiving.")
    team: str | None
    owner: str | None
    status: str = Field(description="queued (nobody could take it yet), open or closed.")
    outcome: str | None
    reason: str | None
    policy: str | None = Field(description="The SLA policy its deadlines come from.")
    opened_at: str | None
    assigned_at: str | None
    accepted_at: str | None
    first_touch_at: str | None
    touches: int
    touches_required: int | None
    accept_due_at: str | None
    first_touch_due_at: str | None
    touches_due_at: str | None
    follow_up_due_at: str | None = Field(description="The follow-up a meeting no-show opened, when there is one.")
    closed_at: str | None


class Candidate(BaseModel):
    model_config = ConfigDict(extra="allow")

    rep: str
    skipped: str | None = Field(description="Why the rep could not take it (inactive, at capacity, ...); "
                                            "null: eligible.")


class RoutingDecision(BaseModel):
    at: str | None
    handoff: int
    rule: str | None = Field(description="The routing rule that matched (null: account owner, reassignment, ...).")
    team: str | None
    owner: str | None
    reason: str
    actor: str = Field(description="rule:routing, rule:sla.POLICY, token:ID, user:REP, ...")
    candidates: list[Candidate]
    playbook_version: str | None


class Timer(BaseModel):
    handoff: int
    deadline: str = Field(description="accept, first_touch or touches.")
    step: str = Field(description="warning, breach or escalation.")
    action: str | None
    fire_at: str | None
    fired_at: str | None
    cancelled_at: str | None
    outcome: str | None


class RouteExplanation(BaseModel):
    id: int
    email: str | None
    owner: str | None
    decisions: list[RoutingDecision]
    handoffs: list[Handoff]
    timers: list[Timer]


class Deadline(BaseModel):
    name: str = Field(description="accept, first_touch, touches or follow_up (after a meeting no-show).")
    due_at: str
    met: bool = Field(description="The work it asks for is done (in time or late: the SLA report says which).")


class QueueItem(Handoff):
    email: str | None
    name: str | None = Field(description="From the lead's traits (name, or first and last name).")
    title: str | None
    company: str | None = Field(description="The company trait, else the account's name, else the email's domain.")
    phone: str | None
    fit_score: float
    engagement_score: float = Field(description="Decayed to now, as `GET /api/leads/{ref}` shows it.")
    next_due_at: str | None = Field(description="The nearest deadline whose work is not done; null: none left.")
    state: str = Field(description="breached (a deadline passed with its work not done), due_soon (within two "
                                   "hours) or on_time.")
    deadlines: list[Deadline] = Field(description="Every deadline of the handoff, in the order they fall due.")


class Queue(BaseModel):
    rep: str
    handoffs: list[QueueItem] = Field(description="Open handoffs, the nearest deadline whose work is not done first.")


class Suppression(BaseModel):
    lead_id: int
    email: str | None
    channel: str
    reason: str
    source: str = Field(description="handoff:ID, rule:ID, user:WHO, ...")
    permanent: bool = Field(description="Unsubscribes and bounces: never lifted automatically.")
    since: str | None


class SalesSla(BaseModel):
    """One deadline of one policy, counted by lead (a handoff counts once, whatever its timers), as the SLA report
    counts it."""

    policy: str
    deadline: str
    due: int = Field(description="Handoffs that had this deadline: met + breached + pending + closed_before_due.")
    met: int
    breached: int = Field(description="The log has its SlaBreached, or it passed undone while the handoff was open.")
    pending: int = Field(description="Open handoffs whose deadline is still ahead.")
    closed_before_due: int = Field(description="Handoffs closed before the deadline, its work not done: not counted "
                                               "in compliance.")
    compliance: float | None = Field(description="met / (met + breached); null before any deadline is decided.")


class PolicySla(BaseModel):
    policy: str
    handoffs: int
    breached: int = Field(description="Handoffs that breached at least one deadline.")
    compliance: float | None = Field(description="The share of the settled handoffs that breached no deadline.")


class MarketingSla(BaseModel):
    month: str
    mqls: int = Field(description="Leads that first became MQLs this calendar month (UTC).")
    target: int | None
    on_track: bool | None = Field(description="At least the target's share of the month passed so far.")


class SlaReport(BaseModel):
    sales: list[SalesSla]
    policies: list[PolicySla]
    marketing: MarketingSla


# --- rep actions on a lead ---------------------------------------------------------------

@router.post("/leads/{ref}/accept", response_model=Accepted, summary="Accept a lead handed to you (rep)",
             responses=error_responses(404, 409))
def accept(
    ref: str = LeadRef,
    body: Acceptance | None = Body(None),
    caller: Caller = Depends(allow(Action.ACT_AS_OWNER)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """The owning rep accepts the open handoff: its accept deadline is met, and an MQL becomes SAL."""
    body = body or Acceptance()
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    assert caller.token.rep_id is not None  # a rep token names its rep
    result = rep_actions.accept(app, lead.id, rep=caller.token.rep_id, expected_version=body.version)
    return {**result, "accepted_at": utc_iso(datetime.fromisoformat(result["accepted_at"]))}


@router.post("/leads/{ref}/touches", response_model=TouchLogged, status_code=201,
             summary="Log a call, email or meeting (rep)", responses=error_responses(404))
def log_touch(
    body: NewTouch,
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.ACT_AS_OWNER)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """A touch by the owning rep; it counts toward the first-touch and persistence deadlines."""
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    assert caller.token.rep_id is not None  # a rep token names its rep
    at = None if body.at is None else _since_handoff(app, lead.id, utc(body.at, "at"))
    result = rep_actions.log_touch(app, lead.id, rep=caller.token.rep_id, kind=body.kind, outcome=body.outcome,
                                   note=body.note, at=at)
    return {**result, "first_touch_at": utc_iso(datetime.fromisoformat(result["first_touch_at"]))}


@router.post("/leads/{ref}/reassign", response_model=Reassigned, response_model_exclude_unset=True,
             summary="Give a lead to another rep",
             responses=error_responses(404))
def reassign(
    ref: str = LeadRef,
    body: Reassignment | None = Body(None),
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """A manager (their team's leads, to their team's reps) or an admin; the SLA clock restarts.

    A rep gets 403 on their own lead and, like for any lead outside their scope, 404 on another's.
    """
    body = body or Reassignment()
    lead = _visible_lead(app, caller, ref)  # first: a lead the caller cannot see does not exist
    authz.require(caller, Action.REASSIGN)
    authz.require_assignee(caller, app.playbook, body.to)
    assert lead.id is not None  # read from its row
    return rep_actions.reassign(app, lead.id, actor=caller.actor, to=body.to)


@router.get("/leads/{ref}/routing", response_model=RouteExplanation, summary="Why a lead went where it went",
            responses=error_responses(404))
def routing(
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """Every routing decision (rule, candidates and why each was skipped, who was chosen), handoff and SLA timer."""
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return route_explain(app, lead.id)


# --- queues, suppression, SLA --------------------------------------------------------------

@router.get("/queue", response_model=Queue, summary="A rep's open handoffs, most urgent first",
            responses=error_responses(404))
def queue(
    rep: str | None = Query(None, max_length=80, description="The rep (a manager: of their team; an admin: any). "
                                                            "A rep token reads its own queue without it."),
    caller: Caller = Depends(allow(Action.READ_QUEUE)),
    app: App = Depends(current_app),
) -> Queue:
    owner = authz.queue_owner(caller, app.playbook, rep)
    return Queue.model_validate({"rep": owner, "handoffs": rep_queue(app, owner)})


@router.get("/suppressions", response_model=list[Suppression], summary="Who marketing must not contact")
def suppressions(
    channel: Channel | None = Query(None, description="email, ads or calls; absent: every channel."),
    caller: Caller = Depends(allow(Action.READ_SUPPRESSIONS)),
    app: App = Depends(current_app),
) -> list[dict[str, Any]]:
    """One line per lead and channel, with the oldest reason. A manager sees their team's leads only."""
    return suppression_list(app, channel, owners=authz.visible_owners(caller, app.playbook))


@router.get("/sla", response_model=SlaReport, summary="SLA compliance per policy; MQLs this month vs the target")
def sla(
    caller: Caller = Depends(allow(Action.READ_SLA)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    return sla_summary(app)


def _since_handoff(app: App, lead_id: int, at: datetime) -> datetime:
    """`at`, unless it is before the lead's open handoff was opened (a touch cannot predate the handoff)."""
    opened = open_handoff_opened_at(app, lead_id)
    if opened is not None and at < opened:
        raise InvalidInput(f"at: {utc_iso(at)} is before the handoff opened ({utc_iso(opened)})")
    return at
