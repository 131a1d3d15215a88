"""`/api/playbook`: read the active playbook, validate, backtest or simulate the routing of a candidate, activate a
version, list versions.

Every version ever activated (or recorded by a decision) is kept by its content hash;
score and stage rows name the version that decided them. Activation takes effect at
once in this process and within seconds in the others; it does not rescore stored
leads (run `leadrelay rescore` for that).
"""

from __future__ import annotations

import threading
from datetime import date

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadrelay.access.tokens import revoke_missing_people
from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidPlaybook
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller, Role
from leadrelay.entrypoints.api.errors import error_responses, one_at_a_time
from leadrelay.entrypoints.api.runtime import Runtime
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.playbook import service as playbooks
from leadrelay.playbook.backtest import backtest as run_backtest
from leadrelay.playbook.loader import parse_playbook
from leadrelay.playbook.redact import redacted
from leadrelay.playbook.route_simulation import MAX_BATCH, simulate_routes

router = APIRouter(prefix="/api/playbook", tags=["playbook"], responses=error_responses(400, 401, 403, 422, 429, 503))

MAX_TEXT = 1_000_000
Filename = Field(playbooks.DEFAULT_FILENAME, max_length=200, description="Name used in FILE:LINE messages.")


class HandBack(BaseModel):
    rep: str = Field(description="A rep's id the playbook does not name.")
    open_leads: int = Field(description="The open leads (handoffs) the rep still owns.")
    message: str = Field(description="In words: `rep tom has 2 open leads: the worker hands them back to routing at "
                                     "its next sweep`.")


HAND_BACK = ("The reps this playbook does not name who still own open leads: once it is active, the worker hands "
             "their leads back to routing at its next sweep. Empty when it drops nobody who holds a lead.")


class ActivePlaybook(BaseModel):
    version: str
    name: str
    source: str = Field(description="The file (or name) the text came from.")
    text: str
    redacted: bool = Field(default=False, description="True for reps and managers: the text leaves out the "
                           "notifications section (webhook URLs) and every email address.")
    activated_by: str | None = Field(description="Null while the playbook file rules (nobody activated one).")
    activated_at: str | None


class ActivatedPlaybook(ActivePlaybook):
    hand_back: list[HandBack] = Field(default_factory=list, description=HAND_BACK)


class PlaybookVersion(BaseModel):
    version: str
    name: str
    source: str
    created_at: str | None
    active: bool


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: SafeText = Field(max_length=MAX_TEXT, description="The playbook YAML.")
    filename: SafeText = Filename


class Validation(BaseModel):
    valid: bool
    version: str | None = Field(description="The version the text would have (a content hash), when valid.")
    issues: list[str] = Field(description="Every problem, as FILE:LINE: path: message.")
    hand_back: list[HandBack] = Field(default_factory=list, description=HAND_BACK + " (Empty for an invalid text.)")


class Activation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: SafeText | None = Field(None, max_length=MAX_TEXT, description="A new playbook to validate and activate.")
    version: str | None = Field(None, max_length=12, description="Or: a stored version to activate again (rollback).")
    filename: SafeText = Filename
    expected_active: str | None = Field(None, max_length=12, description="The version you believe is active; if "
                                        "another one is by now, 409 and nothing changes.")

    @model_validator(mode="after")
    def _one_source(self) -> Activation:
        if (self.text is None) == (self.version is None):
            raise ValueError("give exactly one of `text` or `version`")
        return self


@router.get("", response_model=ActivePlaybook, summary="The active playbook")
def read_active(app: App = Depends(current_app),
                caller: Caller = Depends(allow(Action.READ_PLAYBOOK))) -> ActivePlaybook:
    """Reps and managers read the rules without where notices go and whom they reach (see `playbook.redact`)."""
    active = _active(app)
    if caller.role in (Role.REP, Role.MANAGER):
        active.text, active.redacted = redacted(active.text), True
    return active


@router.get("/versions", response_model=list[PlaybookVersion], summary="Every stored playbook version")
def list_versions(app: App = Depends(current_app),
                  caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> list[dict]:
    return playbooks.list_versions(app)


@router.post("/validate", response_model=Validation, summary="Validate a candidate playbook")
def validate(candidate: Candidate, app: App = Depends(current_app),
             caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> Validation:
    """Every problem in the text; for a valid one, also the reps it drops who still own open leads."""
    try:  # as `playbooks.check`, keeping the parsed playbook: a valid text is parsed once
        parsed = parse_playbook(candidate.text, candidate.filename)
    except InvalidPlaybook as exc:
        return Validation(valid=False, version=None, issues=list(exc.issues))
    return Validation(valid=True, version=parsed.version, issues=[],
                      hand_back=[HandBack(**rep) for rep in playbooks.hand_back(app.engine, parsed)])


class BacktestRequest(Candidate):
    since: date | None = Field(None, description="Count moves from this day on (the replay still starts at each "
                                                 "lead's first activity).")


class BacktestSide(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str
    mqls: int
    sals: int
    mqls_per_month: dict[str, int]
    sals_per_month: dict[str, int]
    mql_precision: float | None = Field(description="Of its MQLs, the share that converted in the real history "
                                                    "(reached opportunity or customer, or won a deal).")
    sal_precision: float | None
    mql_recall: float | None = Field(description="Of the leads that converted, the share it made MQLs.")
    recall: float | None = Field(description="Of the leads that converted, the share it made MQLs or sent to sales.")
    handoffs: int
    queued_share: float | None = Field(description="The share of its handoffs nobody could have taken.")
    leads_per_team: dict[str, int]
    leads_per_rep: dict[str, int]
    load_per_rep: dict[str, float] = Field(description="Handoffs per rep per day over the range.")


class ChangedLead(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    lead: int
    email: str | None
    from_: str | None = Field(alias="from", description="Its final stage under the active playbook.")
    to: str | None = Field(description="Its final stage under the candidate.")
    at: str | None = Field(description="When the move that made the difference happened.")
    because: str = Field(description="The move that made the difference, with its rule.")


class Backtest(BaseModel):
    since: str | None
    leads: int
    activities: int
    converters: int
    days: int
    active: BacktestSide
    candidate: BacktestSide
    changed_count: int
    changed: list[ChangedLead] = Field(description="The leads that would end in another stage (up to 1,000).")
    seconds: float
    activities_per_second: int | None


@router.post("/backtest", response_model=Backtest, response_model_by_alias=True,
             summary="Backtest a candidate playbook on the stored history")
def backtest(body: BacktestRequest, app: App = Depends(current_app),
             caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> dict:
    """Replay the stored history through the candidate and the active playbook, side by side: MQLs and SALs per
    month, precision and recall against what converted, routing and SLA load, and the leads that would change
    stage. Nothing in the store changes and nobody is told. A candidate that does not validate: 422 with every
    issue as FILE:LINE. One backtest runs at a time per process (it takes seconds of CPU): another meanwhile gets
    429 with Retry-After."""
    candidate = parse_playbook(body.text, body.filename)
    return one_at_a_time(_BACKTESTING, "a backtest is running in this process: retry in a few seconds",
                         lambda: run_backtest(app, candidate, since=body.since))


_BACKTESTING = threading.Lock()  # a backtest holds the CPU for seconds: one at a time, so requests keep flowing



class RouteSimulationRequest(Candidate):
    lead: SafeText | None = Field(None, max_length=320, description="Route this lead's latest handoff to sales (id, "
                                                                    "email, user id or anonymous id)...")
    last: int | None = Field(None, ge=1, le=MAX_BATCH, description="...or the last N handoffs to sales, oldest "
                                                                   "first, from empty loads.")


class RouteSimulation(BaseModel):
    candidate: str = Field(description="The candidate's version.")
    active: str
    handoffs: int
    changed: int = Field(description="Handoffs the candidate would give to someone else.")
    per_rep: dict[str, dict[str, int]] = Field(description="rep -> {actual, simulated} counts.")
    routes: list[dict] = Field(description="Per handoff: lead, email, handoff, function, opened_at, actual (who "
                                           "really got it), simulated (owner, rule, reason, every candidate rep "
                                           "with why it was skipped), changed.")


@router.post("/route-simulation", response_model=RouteSimulation,
             summary="Route real handoffs by a candidate playbook")
def route_simulation(body: RouteSimulationRequest, app: App = Depends(current_app),
                     caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> dict:
    """Who the candidate's teams, reps and rules would have given one lead (`lead`) or the last N handoffs
    (`last`), every candidate rep and why each was skipped — the explanation of `route-explain` — beside who
    really got it. Nothing in the store changes. A candidate that does not validate: 422 with every issue as
    FILE:LINE; neither or both of `lead` and `last`: 400."""
    candidate = parse_playbook(body.text, body.filename)
    return one_at_a_time(_BACKTESTING, "a backtest or routing simulation is running in this process: retry in a "
                         "few seconds", lambda: simulate_routes(app, candidate, lead=body.lead, last=body.last))


@router.post("/activate", response_model=ActivatedPlaybook, summary="Activate a playbook version",
             responses=error_responses(404, 409))
def activate(body: Activation, request: Request, app: App = Depends(current_app),
             caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> ActivatedPlaybook:
    """The active playbook after the change, and `hand_back`: the reps it drops who still own open leads."""
    if body.text is not None:
        # Text sent without a filename came from no file: stored under who sent it, not the default name.
        source = body.filename if "filename" in body.model_fields_set else f"sent over the API by {caller.actor}"
        playbooks.activate(app, body.text, caller.actor, filename=body.filename, source=source,
                           expected_active=body.expected_active)
    else:
        assert body.version is not None  # Activation takes exactly one of text and version
        playbooks.activate_version(app, body.version, caller.actor, expected_active=body.expected_active)
    runtime: Runtime = request.app.state.runtime
    runtime.use(app.playbook)
    revoke_missing_people(app.engine, app.playbook, now=app.clock())  # a removed rep's token is dead for good
    hand_back = [HandBack(**rep) for rep in playbooks.hand_back(app.engine, app.playbook)]
    return ActivatedPlaybook(**_active(app).model_dump(), hand_back=hand_back)


def _active(app: App) -> ActivePlaybook:
    playbook = app.playbook
    activation = playbooks.activation(app.engine)
    if activation is not None and activation["version"] != playbook.version:
        activation = None  # this process has not followed the newest activation yet
    return ActivePlaybook(
        version=playbook.version, name=playbook.model.name, source=playbook.source, text=playbook.text,
        activated_by=activation["activated_by"] if activation else None,
        activated_at=activation["activated_at"] if activation else None,
    )
