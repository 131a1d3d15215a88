"""What `leadrelay serve` runs: the HTTP API and, beside it, the web app — one process, one App, one set of rules.

`create_app(app)` is the API (`entrypoints.api`) with the web app's pages (`entrypoints.web`:
the rep's and manager's pages, the dashboard, the ops pages) and their static files at `/static`.
The pages are not part of the API's OpenAPI schema.

`serve --worker` also runs the worker in each server process (`with_worker`), in a thread of its
own, from the server's start to its shutdown: a request's commit then wakes it in the process
(`storage.wake`), on SQLite as on PostgreSQL, with no second process to run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from leadrelay.bootstrap import App, bootstrap
from leadrelay.entrypoints.api.app import create_app as create_api
from leadrelay.entrypoints.web import dashboard, ops, pages
from leadrelay.settings import Settings

WORKER_ENV = "LEADRELAY_SERVE_WORKER"  # set by `serve --worker`: the worker's interval, in seconds
log = logging.getLogger("leadrelay.worker")


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
    server = create_app(bootstrap(settings, migrate=migrate))
    interval = os.environ.get(WORKER_ENV)
    if interval:
        with_worker(server, settings, float(interval))
    return server


def with_worker(server: FastAPI, settings: Settings, interval: float) -> None:
    """Run the worker (`leadrelay.worker.run`) beside `server`, from its start to its shutdown.

    The worker has an App of its own (its own connections, its own playbook follower), as a
    `leadrelay worker` process would; a shutdown lets its sweep and sends in flight finish.
    """
    from leadrelay.worker import SweepReport, run

    serving = server.router.lifespan_context

    def report(sweep: SweepReport) -> None:
        if sweep.timers or sweep.assigned or sweep.stale:  # what `leadrelay worker` prints, as a log line
            log.info("%s", sweep.summary())

    def work(app: App, stop: threading.Event) -> None:
        try:
            run(app, interval=interval, stop=stop, on_sweep=report)
        except Exception:  # a bug: said, and the server goes on serving
            log.exception("the worker stopped")

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[Any]:
        app = bootstrap(settings, migrate=False)
        stop = threading.Event()
        thread = threading.Thread(target=work, args=(app, stop), name="worker", daemon=True)
        thread.start()
        try:
            async with serving(api) as state:
                yield state
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
            app.close()

    server.router.lifespan_context = lifespan
