"""Teams, reps and account owners over HTTP: who sells, how much they carry, and changing that at run time.

`GET /api/teams` lists the playbook's teams and their reps. `GET /api/reps` lists the
reps in the caller's scope with run-time overrides applied and their load (a rep:
themselves; a manager: their team; admin and marketing: everyone). `PATCH /api/reps/{id}`
and `POST /api/reps/{id}/away` change a rep at run time, and `PUT /api/accounts/{account}/owner`
gives an account to a rep (a manager: the reps of their team, and only accounts nobody or their team owns).
The playbook stays as written; these are the same overrides as `leadrelay reps set|away` and
`leadrelay accounts owner`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadrelay.bootstrap import App
from leadrelay.core.errors import NotFound
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller, Role
from leadrelay.entrypoints.api.errors import Forbidden, error_responses
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.handoff.directory import account_owner_of, list_reps, set_account_owner, set_rep

router = APIRouter(prefix="/api", tags=["team"], responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1
_MAX_INT = 2**31 - 1
RepId = Path(max_length=80, description="A rep id from the playbook.", openapi_examples={"rep": {"value": "alice"}})


class Manager(BaseModel):
    name: str
    email: str


class Team(BaseModel):
    id: str
    function: str = Field(description="The stage owner it serves: sdr, ae, customer_success, marketing.")
    strategy: str = Field(description="round_robin or least_loaded.")
    calendar: str | None
    working_hours_only: bool
    manager: Manager | None
    reps: list[str] = Field(description="Ids of its reps, in playbook order.")


class Rep(BaseModel):
    id: str
    name: str
    email: str
    team: str
    active: bool
    capacity: int | None = Field(description="Most open leads at once; null: no limit.")
    daily_quota: int | None = Field(description="Most new leads per day (the rep's own day); null: no limit.")
    weight: float
    open_leads: int
    assigned_today: int
    assigned_total: int = Field(description="What round robin weighs: every lead ever assigned, plus the credit of "
                                            "booked meetings (the playbook's meetings.credit), less what was taken "
                                            "back.")
    away: list[list[str]] = Field(description="[from, to] dates (inclusive), from the playbook and run-time changes.")
    timezone: str
    manager: str | None = Field(description="The manager's email.")


class RepChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: bool | None = Field(None, description="Take part in routing or not.")
    capacity: int | None = Field(None, ge=0, le=_MAX_INT)
    daily_quota: int | None = Field(None, ge=0, le=_MAX_INT)
    weight: float | None = Field(None, gt=0, le=1000, allow_inf_nan=False,
                                 description="Share of round-robin assignments relative to teammates.")

    @model_validator(mode="after")
    def _something(self) -> RepChange:
        if all(value is None for value in (self.active, self.capacity, self.daily_quota, self.weight)):
            raise ValueError("give at least one of active, capacity, daily_quota, weight")
        return self


class Away(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    start: date = Field(alias="from", description="First day away (YYYY-MM-DD, the rep's own calendar).")
    end: date = Field(alias="to", description="Last day away, inclusive.")


class NewAccountOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rep: SafeText = Field(max_length=80, description="The rep who owns the account from now on.")


class AccountOwner(BaseModel):
    account: int
    name: str | None
    domain: str | None
    owner: str


@router.get("/teams", response_model=list[Team], summary="The playbook's teams and their reps")
def teams(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.READ_TEAMS))) -> list[Team]:
    model = app.playbook.model
    reps = list(getattr(model, "reps", None) or [])
    return [
        Team(id=team.id, function=getattr(team.function, "value", team.function), strategy=team.strategy,
             calendar=team.calendar, working_hours_only=team.working_hours_only,
             manager=Manager(name=team.manager.name, email=team.manager.email) if team.manager else None,
             reps=[rep.id for rep in reps if rep.team == team.id])
        for team in getattr(model, "teams", None) or []
    ]


@router.get("/reps", response_model=list[Rep], summary="Reps with their settings and load")
def reps(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.READ_TEAMS))) -> list[dict]:
    """Playbook order, run-time changes applied. A rep sees themselves, a manager their team."""
    visible = authz.visible_reps(caller, app.playbook)
    return [rep for rep in list_reps(app) if visible is None or rep["id"] in visible]


@router.patch("/reps/{rep_id}", response_model=Rep, summary="Change a rep at run time",
              responses=error_responses(404))
def change_rep(
    body: RepChange,
    rep_id: str = RepId,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_REPS)),
) -> dict:
    """Active, capacity, daily quota, weight; absent or null: unchanged. Admin: any rep; a manager: their team's."""
    authz.require_manages_rep(caller, app.playbook, rep_id)
    return set_rep(app, rep_id, actor=caller.actor, active=body.active, capacity=body.capacity,
                   daily_quota=body.daily_quota, weight=body.weight)


@router.post("/reps/{rep_id}/away", response_model=Rep, summary="Mark a rep out of office",
             responses=error_responses(404))
def rep_away(
    body: Away,
    rep_id: str = RepId,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_REPS)),
) -> dict:
    """From one date to another, inclusive; routing skips them meanwhile. Added to the periods already set."""
    authz.require_manages_rep(caller, app.playbook, rep_id)
    return set_rep(app, rep_id, actor=caller.actor, away=(body.start, body.end))


@router.put("/accounts/{account}/owner", response_model=AccountOwner, summary="Make a rep the owner of an account",
            responses=error_responses(404))
def account_owner(
    body: NewAccountOwner,
    account: str = Path(max_length=253, description="Account id, group id or domain (a domain no account has "
                                                    "yet makes the account).",
                        openapi_examples={"domain": {"value": "acme.io"}}),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_ACCOUNTS)),
) -> dict[str, Any]:
    """New leads from the account go to its owner first (when the playbook's routing says so)."""
    authz.require_manages_rep(caller, app.playbook, body.rep, "give accounts to")
    text = account.strip()
    if not text or (text.isdigit() and not (text.isascii() and 0 < int(text) <= _MAX_ID)):
        raise NotFound(f"no account '{text}' (give an account id, group id or domain)")  # no id the store can hold
    if caller.role is Role.MANAGER:  # a manager gives their team's accounts, and new ones: never another team's
        try:
            current = account_owner_of(app, text)
        except NotFound:
            current = None  # no such account yet: a domain makes a new one, an id or group id is 404 below
        assert caller.token.team is not None  # a manager token names its team
        if current is not None and current not in authz.team_members(app.playbook, caller.token.team):
            raise Forbidden(f"account '{text}' is owned by {current}, who is not in your team: their manager or "
                            "an admin can give it to someone else")
    return set_account_owner(app, text, body.rep, actor=caller.actor)
