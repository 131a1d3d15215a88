"""What `leadrelay serve` runs: the HTTP API and, beside it, the web app — one process, one App, one set of rules.

`create_app(app)` is the API (`entrypoints.api`) with the web app's pages (`entrypoints.web`:
the rep's and manager's pages, the dashboard, the ops pages) and their static files at `/static`.
The pages are not part of the API's OpenAPI schema.
"""

from __future__ import annotations

import os
from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from leadrelay.bootstrap import App, bootstrap
from leadrelay.entrypoints.api.app import create_app as create_api
from leadrelay.entrypoints.web import dashboard, ops, pages
from leadrelay.settings import Settings


def create_app(app: App) -> FastAPI:
    """The API and the web app, serving `app`."""
    server = create_api(app)
    for web in (pages, dashboard, ops):
        server.include_router(web.router)
    server.mount("/static", StaticFiles(directory=str(resources.files("leadrelay.entrypoints.web") / "static")),
                 name="static")
    return server


def from_environment() -> FastAPI:
    """The app `leadrelay serve` runs in each worker process: settings from LEADRELAY_* variables.

    `serve` migrates the database once before starting workers, so workers do not race to do it.
    """
    migrate = os.environ.get("LEADRELAY_SERVE_MIGRATED") != "1"
    settings = Settings()
    return create_app(bootstrap(settings, migrate=migrate))
