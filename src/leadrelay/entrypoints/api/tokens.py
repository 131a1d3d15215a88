"""`/api/me` and `/api/tokens`: who a token is, and (admin) creating, listing and revoking tokens.

A new token's secret is in the creation answer and nowhere else, ever.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.access import tokens
from leadrelay.access.tokens import Role
from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.playbook.service import effective_playbook

router = APIRouter(prefix="/api", tags=["tokens"], responses=error_responses(400, 401, 403, 422, 429, 503))


class TokenOut(BaseModel):
    id: int
    role: Role
    rep_id: str | None
    team: str | None
    source: str | None = Field(description="Write keys: the source their activities are recorded under.")
    label: str | None
    created_at: str
    revoked_at: str | None
    last_used_at: str | None
    valid_until: str | None = Field(None, description="When the token stops working; null: until revoked.")


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    rep_id: SafeText | None = Field(None, max_length=80, description="Role rep: the rep (an id in the playbook).")
    team: SafeText | None = Field(None, max_length=80, description="Role manager: the team (an id in the playbook).")
    source: SafeText | None = Field(None, max_length=64, description="Role ingest: the source name.")
    label: SafeText | None = Field(None, max_length=200, description="What the token is for, for people.")
    valid_for_days: int | None = Field(None, ge=1, le=3650, description="The token expires this many days from "
                                       "now; leave out for a token that lives until revoked.")


class CreatedToken(BaseModel):
    token: TokenOut
    secret: str = Field(description="Shown this once; only its hash is stored.")


@router.get("/me", response_model=TokenOut, summary="The token making this request")
def me(caller: Caller = Depends(allow(Action.WHOAMI))) -> dict:
    return caller.token.as_dict()


@router.get("/tokens", response_model=list[TokenOut], summary="Every token (no secrets)")
def list_tokens(
    include_revoked: bool = Query(False),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_TOKENS)),
) -> list[dict]:
    return [token.as_dict() for token in tokens.list_tokens(app.engine, include_revoked=include_revoked)]


@router.post("/tokens", response_model=CreatedToken, status_code=201, summary="Create a token or write key")
def create_token(
    body: NewToken,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_TOKENS)),
) -> CreatedToken:
    token, secret = tokens.create_token(
        app.engine, body.role, now=app.clock(), rep_id=body.rep_id, team=body.team, source=body.source,
        label=body.label, playbook=effective_playbook(app),
        valid_for=timedelta(days=body.valid_for_days) if body.valid_for_days else None,
    )
    return CreatedToken(token=TokenOut(**token.as_dict()), secret=secret)


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut, summary="Revoke a token for good",
             responses=error_responses(404))
def revoke_token(
    token_id: int = Path(ge=1, le=2**63 - 1),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_TOKENS)),
) -> dict:
    return tokens.revoke_token(app.engine, token_id, now=app.clock()).as_dict()
