"""`/api/outbox` (admin): the notifications waiting, sent and given up, and replaying them.

The same functions as `leadrelay outbox list|retry`. A replayed message keeps its message
id (the `webhook-id` header), so a receiver that dedupes ignores one it already has.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadrelay.bootstrap import App
from leadrelay.delivery.dispatcher import retry as retry_messages
from leadrelay.delivery.outbox import STATUSES, disabled_endpoints, list_messages
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.schemas import SafeText

router = APIRouter(prefix="/api/outbox", tags=["outbox"], responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1
Status = Literal[STATUSES]  # type: ignore[valid-type]


class OutboxMessage(BaseModel):
    id: int
    message_id: str = Field(description="The webhook-id: the same on every retry.")
    event_type: str
    channel: str = Field(description="webhook, slack or email.")
    target: str = Field(description="The channel id (webhook, Slack) or the email address.")
    lead_id: int | None
    status: str = Field(description="pending, sent, dead (attempts exhausted) or disabled (held for a disabled "
                                    "endpoint).")
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    sent_at: str | None
    payload: dict[str, Any] | None = Field(None, description="With `payload=true`: the message as sent.")


class DisabledEndpoint(BaseModel):
    id: str
    kind: str
    disabled_at: str | None
    reason: str | None


class OutboxPage(BaseModel):
    messages: list[OutboxMessage] = Field(description="Newest first.")
    disabled_endpoints: list[DisabledEndpoint] = Field(description="Endpoints whose messages are held (after a "
                                                                   "410); retry with `enable_endpoint`.")


class Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=_MAX_ID)]] = Field(
        [], max_length=1000, description="Outbox message ids (sent ones too: a replay).")
    dead: bool = Field(False, description="Every message in the dead letters.")
    enable_endpoint: SafeText | None = Field(None, max_length=80, description="Re-enable this endpoint (disabled "
                                             "after a 410) and requeue the messages held for it.")

    @model_validator(mode="after")
    def _something(self) -> Retry:
        if not self.ids and not self.dead and self.enable_endpoint is None:
            raise ValueError("give ids, dead: true or enable_endpoint")
        return self


class RetryReport(BaseModel):
    requeued: list[int] = Field(description="Messages pending again, due now, with a fresh set of attempts.")
    already_pending: list[int]
    enabled_endpoint: str | None
    still_disabled: list[str] = Field(description="Endpoints of requeued messages that stay disabled (their "
                                                  "messages will be held again).")


@router.get("", response_model=OutboxPage, summary="The newest outbox messages")
def list_outbox(
    status: Status | None = Query(None, description="pending, sent, dead or disabled."),
    limit: int = Query(50, ge=1, le=500),
    payload: bool = Query(False, description="Include each message's payload."),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_OUTBOX)),
) -> dict[str, Any]:
    with app.engine.connect() as conn:
        messages = list_messages(conn, status=status, limit=limit, with_payload=payload)
        held = disabled_endpoints(conn)
    return {"messages": messages, "disabled_endpoints": held}


@router.post("/retry", response_model=RetryReport, summary="Send messages again", responses=error_responses(404))
def retry(
    body: Retry,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.MANAGE_OUTBOX)),
) -> RetryReport:
    """By id, every dead message (`dead`), or those held for an endpoint (`enable_endpoint`)."""
    report = retry_messages(app.engine, body.ids, app.clock(), dead=body.dead,
                            enable_endpoint=body.enable_endpoint)
    return RetryReport(requeued=report.reset, already_pending=report.skipped, enabled_endpoint=report.enabled,
                       still_disabled=report.still_disabled)
