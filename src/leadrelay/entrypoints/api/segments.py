"""`GET /api/segments/export` (marketing, admin): leads by stage, segment, persona and suppression, as CSV or JSON,
for the email tool. The same function as `leadrelay segment export`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.handoff.segments import as_csv, segment_export

router = APIRouter(prefix="/api/segments", tags=["segments"], responses=error_responses(400, 401, 403, 422, 429, 503))


@router.get("/export", summary="Leads by stage, segment, persona and suppression, for the email tool",
            response_model=list[dict[str, Any]],
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def export(
    stage: str | None = Query(None, max_length=16),
    segment: str | None = Query(None, max_length=16, description="new or recycled."),
    persona: str | None = Query(None, max_length=80),
    reason: str | None = Query(None, max_length=80, description="Recycled or rejected with this reason."),
    suppressed: bool | None = Query(None, description="true: only leads marketing may not use the channel for; "
                                                      "false: only those it may."),
    channel: str = Query("email", max_length=16, description="email, ads or calls."),
    format: Literal["json", "csv"] = Query("json"),
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.EXPORT_SEGMENTS)),
) -> Any:
    rows = segment_export(app, stage=stage, segment=segment, persona=persona, reason=reason, suppressed=suppressed,
                          channel=channel)
    if format == "csv":
        return Response(as_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="leadrelay-segment.csv"'})
    return rows
