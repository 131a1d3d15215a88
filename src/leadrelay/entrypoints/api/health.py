"""`/healthz` (the process answers) and `/readyz` (the database answers and its schema is current)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from pydantic import BaseModel

from leadrelay.core.errors import StorageUnavailable
from leadrelay.entrypoints.api.errors import JsonResponse, error_response, error_responses
from leadrelay.entrypoints.api.runtime import Runtime
from leadrelay.storage.migrate import schema_revisions

log = logging.getLogger("leadrelay.entrypoints.api")
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
        current, head = schema_revisions(app.engine)
    except StorageUnavailable as exc:  # anyone may ask: the database's address goes to the log, not to them
        log.warning("not ready: %s", exc.message)
        return error_response("not_ready", "the database does not answer")
    if current != head:
        return error_response("not_ready", f"the database schema is at {current}, not {head}: run leadrelay db upgrade")
    return Ready(status="ready", schema_revision=head, playbook_version=app.playbook.version)
