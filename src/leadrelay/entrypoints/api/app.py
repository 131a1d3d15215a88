"""The HTTP app: `create_app(app)` builds the FastAPI application around one App.

One router per concept (health, Segment ingestion, leads, playbook, tokens, reports);
a new concept (handoffs and rep queues, teams, suppression lists, the outbox,
qualification, opportunities and the forecast) is one
more module in this package and one more line in `ROUTERS`, with its entries in the
role-matrix test (tests/api/test_roles.py), which fails for a route it does not know.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from leadrelay import __version__
from leadrelay.bootstrap import App
from leadrelay.entrypoints.api import (
    handoff,
    health,
    ingest_segment,
    leads,
    meetings,
    model,
    opportunities,
    outbox,
    person,
    playbook,
    profiling,
    qualification,
    reports,
    segments,
    team,
    tokens,
)
from leadrelay.entrypoints.api.errors import JsonResponse, install_error_handlers
from leadrelay.entrypoints.api.middleware import RequestContext
from leadrelay.entrypoints.api.runtime import Runtime
from leadrelay.playbook.service import active_playbook

ROUTERS: list[APIRouter] = [
    health.router,
    ingest_segment.router,
    leads.router,
    playbook.router,
    model.router,
    tokens.router,
    reports.router,
    handoff.router,
    team.router,
    outbox.router,
    qualification.router,
    opportunities.router,
    profiling.router,
    segments.router,
    meetings.router,
    person.router,
]

DESCRIPTION = """\
LeadRelay's HTTP API.

* **Ingestion** speaks Segment's HTTP tracking API (`/v1/batch`, `/v1/identify`, ...): point a
  Segment or RudderStack SDK's `host` here and authenticate with a write key (Basic auth user
  name, empty password).
* **REST** (`/api/...`) reads and acts on leads with an API token: `Authorization: Bearer lrk_...`.
  Roles: admin, marketing, manager (their team's leads), rep (their own leads), ingest (write keys).
* **Errors** are always `{"code": "...", "message": "..."}`.
"""


def create_app(app: App) -> FastAPI:
    """The FastAPI application serving `app`. A playbook version activated in the database wins over `app.playbook`."""
    active = active_playbook(app.engine)
    if active is not None:
        app.playbook = active
    api = FastAPI(title="LeadRelay", version=__version__, description=DESCRIPTION,
                  default_response_class=JsonResponse, docs_url=None, redoc_url=None)
    api.state.runtime = Runtime(app)
    for router in ROUTERS:
        api.include_router(router)
    _docs(api)
    install_error_handlers(api)
    api.add_middleware(RequestContext, max_inflight=app.settings.max_inflight)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def _docs(api: FastAPI) -> None:
    """`/docs`: Swagger UI from files vendored in the package (`static/swagger-ui`), nothing from a CDN."""
    api.mount("/docs-assets", StaticFiles(directory=str(resources.files("leadrelay.entrypoints.api") / "static"
                                                          / "swagger-ui")), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="LeadRelay API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")


def _openapi(api: FastAPI) -> dict[str, Any]:
    if api.openapi_schema is None:
        schema = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["writeKey"] = {
            "type": "http", "scheme": "basic",
            "description": "A write key (lrw_...) as the user name, empty password: what Segment and RudderStack "
                           "SDKs send. Or `writeKey` in the body.",
        }
        api.openapi_schema = schema
    return api.openapi_schema
