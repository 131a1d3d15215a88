"""`/healthz` (the process answers) and `/readyz` (the database answers and its schema is current)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from leadrelay.api.errors import JsonResponse, error_response, error_responses
from leadrelay.api.runtime import Runtime
from leadrelay.storage.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    schema_revision: str
    playbook_version: str


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, summary="Readiness: database reachable, migrations current",
            responses=error_responses(503))
def readyz(request: Request) -> Ready | JsonResponse:
    runtime: Runtime = request.app.state.runtime
    app = runtime.app
    try:
        with app.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(app.engine), head_revision()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return error_response("not_ready", f"the database does not answer: {detail}")
    if current != head:
        return error_response("not_ready", f"the database schema is at {current}, not {head}: run leadrelay db upgrade")
    return Ready(status="ready", schema_revision=head, playbook_version=app.playbook.version)
