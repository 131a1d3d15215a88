"""`/api/reports/{name}`, `/api/funnel` and `/api/rejections`: cohort reports, the funnel now, and the
messages turned away."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.activity.queries import rejections as rejection_page
from leadrelay.bootstrap import App
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.reports.catalog import REPORTS, report_request, run_report
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


class ReportResult(BaseModel):
    # leakage adds its sections: stalled, went_back, stale_recycles, no_shows, lost
    model_config = ConfigDict(extra="allow")

    report: str
    params: dict[str, Any] = Field(description="The parameters that made the rows (defaults filled in).")
    rows: list[dict[str, Any]] = Field(description="conversion: group, period, entered, converted, rate, "
                                                   "median_days, p90_days. funnel: group, period, stage, entered, "
                                                   "mode, stages (stage, reached, rate, median_days, p90_days, "
                                                   "via_hand_raise).")


@router.get("/reports/{name}", response_model=ReportResult, summary="A cohort report over the stage history")
def report(
    name: str = Path(..., max_length=40, description=f"One of {', '.join(REPORTS)}."),
    start: date | None = Query(None, alias="from", description="First day (UTC), inclusive."),
    end: date | None = Query(None, alias="to", description="Last day (UTC), inclusive."),
    by: str | None = Query(None, max_length=40,
                           description="source, campaign, persona, segment, country, team or rep."),
    period: str | None = Query(None, max_length=20, description="month, week or quarter (sources: month, or all "
                                "for one line per source over the whole range)."),
    stage: str | None = Query(None, max_length=20, description="funnel: the cohort's stage (default subscriber)."),
    mode: str | None = Query(None, max_length=20, description="funnel: in_order (default) or any_order."),
    from_stage: str | None = Query(None, max_length=20, description="conversion: the stage the cohort entered."),
    to_stage: str | None = Query(None, max_length=20, description="conversion: the stage it should reach."),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.READ_REPORTS)),
) -> dict[str, Any]:
    """A rep's numbers count their own leads, a manager's their team's; admin and marketing see every lead."""
    request = report_request(name, start=start, end=end, by=by, period=period, stage=stage, mode=mode,
                             from_stage=from_stage, to_stage=to_stage)
    return run_report(app, request, owners=authz.visible_owners(caller, app.playbook))
