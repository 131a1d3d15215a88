"""Opportunities and the forecast over HTTP: list, read, move, override the probability, win, lose.

`GET /api/opportunities` lists deals in the caller's scope (a rep: their own; a manager:
their team's; admin and marketing: every deal), soonest expected close first, with a
cursor; `GET /api/opportunities/{id}` adds the contact and every change. The moves are
sales work: a rep on their own deals, a manager on their team's, an admin on any;
marketing only reads. A deal outside the caller's scope is "not found". With `version`
(as read), a deal someone changed since gets 409 and nothing changes.
`GET /api/forecast?by=month|rep|team|category` sums the pipeline (a manager: their team's).

The same service functions as `leadrelay opps ...` and `leadrelay forecast`; who may do
what is `authz`'s.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.bootstrap import App
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.sales import service as opps
from leadrelay.sales.model import GROUPINGS
from leadrelay.sales.queries import deal_owner, opportunity_page, visible_forecast

router = APIRouter(prefix="/api", tags=["opportunities"], responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1
DealId = Path(ge=1, le=_MAX_ID, description="The opportunity's id.", openapi_examples={"id": {"value": 7}})
Grouping = Literal[GROUPINGS]  # type: ignore[valid-type]
Version = Field(None, ge=0, le=_MAX_ID, description="The deal's version as read: a stale version gets 409 and "
                                                    "changes nothing.")


# --- request and response bodies -------------------------------------------------------

class AccountRef(BaseModel):
    id: int
    name: str | None
    domain: str | None


class Opportunity(BaseModel):
    id: int
    name: str
    kind: str = Field(description="new_business or expansion (a customer's).")
    account: AccountRef
    lead_id: int | None = Field(description="The contact it was converted from.")
    owner: str
    amount: float
    currency: str
    close_date: str = Field(description="Expected; the day it closed once won or lost.")
    stage: str
    probability: float = Field(description="Percent: the override if any, else the stage's default.")
    stage_probability: float
    probability_override: float | None
    weighted: float | None = Field(description="amount × probability while open; null once closed.")
    forecast_category: str = Field(description="pipeline, best_case, commit, closed or omitted.")
    status: str = Field(description="open, won or lost.")
    lost_reason: str | None
    created_at: str | None
    closed_at: str | None
    version: int = Field(description="Send it back as `version` to act only if nobody changed the deal.")


class OpportunityPage(BaseModel):
    opportunities: list[Opportunity]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Contact(BaseModel):
    id: int
    email: str | None
    stage: str | None


class Change(BaseModel):
    at: str | None
    actor: str = Field(description="user:REP, token:ID, ...")
    action: str = Field(description="opened, stage, probability, updated, won or lost.")
    changes: dict[str, list[Any]] = Field(description="Field → [before, after].")
    reason: str | None


class OpportunityDetail(Opportunity):
    contact: Contact | None
    history: list[Change]


class StageMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: SafeText = Field(max_length=80, description="An open deal stage of the playbook (win and lose have "
                                                       "their own endpoints).")
    version: int | None = Version


class ProbabilityOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    probability: Decimal | None = Field(description="Percent, 0 to 100; null: back to the stage's default.")
    version: int | None = Version


class Closing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Version


class Loss(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: SafeText = Field(max_length=80, description="One of the playbook's lost reasons.")
    version: int | None = Version


class DealChanged(BaseModel):
    opportunity: Opportunity


class LeadAfterClose(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    stage: str = Field(description="customer once won; lead (recycled to nurture) once lost, if the playbook says so.")
    version: int


class DealClosed(DealChanged):
    lead: LeadAfterClose | None = Field(description="The contact's lead, for a new-business deal.")


class Totals(BaseModel):
    open_pipeline: float
    weighted_pipeline: float
    commit: float
    best_case: float
    closed_won: float
    open_deals: int
    won_deals: int
    lost_deals: int


class ForecastRow(Totals):
    group: str = Field(description="The month (YYYY-MM), rep, team or category.")
    currency: str


class CurrencyTotals(Totals):
    currency: str


class SnapshotStory(BaseModel):
    model_config = ConfigDict(extra="allow")

    week: str
    taken_at: str | None
    currency: str
    open_pipeline: float
    weighted_pipeline: float
    commit: float
    best_case: float
    closed_won: float
    change_since: dict[str, float]
    open_then: float
    won_since: float
    lost_since: float
    still_open: float
    commit_then: float
    commit_won_since: float


class Forecast(BaseModel):
    as_of: str
    week: str
    by: str | None
    team: str | None = Field(description="A manager's forecast covers their team's deals only; null: every deal.")
    rows: list[ForecastRow] = Field(description="Per group and currency (amounts are never added across "
                                                "currencies); without `by`, one group: all.")
    totals: list[CurrencyTotals]
    snapshots: list[SnapshotStory] = Field(description="Each weekly snapshot: its totals, the change since, and "
                                                       "what became of the deals open then. Company-wide: empty "
                                                       "for a manager.")


# --- reading -------------------------------------------------------------------------------

@router.get("/opportunities", response_model=OpportunityPage, summary="List opportunities")
def list_opportunities(
    caller: Caller = Depends(allow(Action.READ_DEALS)),
    app: App = Depends(current_app),
    status: Literal["open", "won", "lost", "all"] = Query("open"),
    owner: str | None = Query(None, max_length=80, description="Rep id."),
    team: str | None = Query(None, max_length=80, description="Deals owned by the reps of this team."),
    stage: str | None = Query(None, max_length=80, description="A deal stage of the playbook."),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=400),
) -> OpportunityPage:
    """Soonest expected close first. A rep sees their own deals, a manager their team's."""
    owner_sets = (authz.visible_owners(caller, app.playbook),
                  authz.team_members(app.playbook, team) if team is not None else None)
    deals, next_cursor = opportunity_page(app, status=status, stage=stage, owner=owner, owner_sets=owner_sets,
                                          limit=limit, cursor=cursor)
    return OpportunityPage.model_validate({"opportunities": deals, "next_cursor": next_cursor})


@router.get("/opportunities/{deal_id}", response_model=OpportunityDetail,
            summary="One opportunity with its contact and every change", responses=error_responses(404))
def show_opportunity(
    deal_id: int = DealId,
    caller: Caller = Depends(allow(Action.READ_DEALS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    _visible_deal(app, caller, deal_id)
    return opps.show_opportunity(app, deal_id)


# --- working a deal ------------------------------------------------------------------------

@router.post("/opportunities/{deal_id}/move", response_model=DealChanged, summary="Move a deal to another stage",
             responses=error_responses(404, 409))
def move(
    body: StageMove,
    deal_id: int = DealId,
    caller: Caller = Depends(allow(Action.CHANGE_DEALS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """To another open stage of the playbook; its default probability applies again (an override is dropped)."""
    _visible_deal(app, caller, deal_id)
    return opps.move_opportunity(app, deal_id, body.stage, expected_version=body.version,
                                 **authz.working_deals_as(caller))


@router.post("/opportunities/{deal_id}/probability", response_model=DealChanged,
             summary="Override a deal's probability", responses=error_responses(404, 409))
def probability(
    body: ProbabilityOverride,
    deal_id: int = DealId,
    caller: Caller = Depends(allow(Action.CHANGE_DEALS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """The owner's own figure until the next stage move; null goes back to the stage's default."""
    _visible_deal(app, caller, deal_id)
    percent = None if body.probability is None else format(body.probability, "f")  # as typed, in any refusal
    return opps.set_probability(app, deal_id, percent, expected_version=body.version,
                                **authz.working_deals_as(caller))


@router.post("/opportunities/{deal_id}/win", response_model=DealClosed, summary="Close a deal as won",
             responses=error_responses(404, 409))
def win(
    deal_id: int = DealId,
    body: Closing | None = Body(None),
    caller: Caller = Depends(allow(Action.CHANGE_DEALS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """Closed today in the won stage; a new-business deal makes its lead a customer."""
    body = body or Closing()
    _visible_deal(app, caller, deal_id)
    return opps.win_opportunity(app, deal_id, expected_version=body.version, **authz.working_deals_as(caller))


@router.post("/opportunities/{deal_id}/lose", response_model=DealClosed, summary="Close a deal as lost",
             responses=error_responses(404, 409))
def lose(
    body: Loss,
    deal_id: int = DealId,
    caller: Caller = Depends(allow(Action.CHANGE_DEALS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """With one of the playbook's lost reasons; per the playbook, its lead goes back to nurture."""
    _visible_deal(app, caller, deal_id)
    return opps.lose_opportunity(app, deal_id, body.reason, expected_version=body.version,
                                 **authz.working_deals_as(caller))


# --- the forecast ----------------------------------------------------------------------------

@router.get("/forecast", response_model=Forecast, summary="Open, weighted, commit, best case and won, per currency")
def sales_forecast(
    by: Grouping | None = Query(None, description="Group by month (of the close date), rep, team or category."),
    caller: Caller = Depends(allow(Action.READ_FORECAST)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """Admin and marketing: every deal, with the weekly snapshots' story. A manager: their team's deals."""
    return visible_forecast(app, authz.forecast_owners(caller, app.playbook), by=by, team=caller.token.team)


def _visible_deal(app: App, caller: Caller, deal_id: int) -> None:
    """NotFound, as if it did not exist, unless the caller may see the deal."""
    authz.ensure_deal_visible(caller, app.playbook, deal_owner(app, deal_id), deal_id)
