"""`/api/funnel` and `/api/rejections`: the funnel report and the messages that were turned away."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from leadrelay.activity.queries import rejections as rejection_page
from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.reports.funnel import funnel as funnel_report

router = APIRouter(prefix="/api", tags=["reports"], responses=error_responses(400, 401, 403, 422, 429, 503))


class FunnelStage(BaseModel):
    stage: str
    current: int
    reached: int
    conversion_to_next: float | None


class Funnel(BaseModel):
    stages: list[FunnelStage]
    disqualified: int
    known_leads: int
    anonymous_visitors: int


class RejectionRow(BaseModel):
    id: int
    source: str
    position: str
    message_id: str | None
    reason: str
    payload: str | None = Field(description="The message as received (JSON text, cut at 10,000 characters). "
                                            "Data, never markup: escape it when you display it.")
    received_at: str


class RejectionPage(BaseModel):
    rejections: list[RejectionRow]
    next_cursor: int | None = Field(description="Pass as `before` for older rejections; null on the last page.")


@router.get("/funnel", response_model=Funnel, summary="Leads per stage and conversion to the next")
def funnel(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.READ_FUNNEL))) -> dict[str, Any]:
    with app.engine.connect() as conn:
        return funnel_report(conn)


@router.get("/rejections", response_model=RejectionPage, summary="Rejected messages, newest first")
def rejections(
    source: str | None = Query(None, max_length=64),
    before: int | None = Query(None, ge=1, le=2**63 - 1, description="Only rejections with a smaller id (paging)."),
    limit: int = Query(50, ge=1, le=500),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.READ_REJECTIONS)),
) -> RejectionPage:
    page, next_cursor = rejection_page(app, source=source, before=before, limit=limit)
    return RejectionPage(rejections=[RejectionRow(**row) for row in page], next_cursor=next_cursor)
