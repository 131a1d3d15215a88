"""`leadrelay serve`: the HTTP API (Segment-compatible ingestion and REST) on uvicorn; with `--worker`, the worker too.

The server runs the playbook version activated last, and follows activations while it runs
(`leadrelay.playbook.follow`); started with `--playbook FILE` while another version is
active, it says so once, as the worker does.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from leadrelay.entrypoints.cli.context import load_settings, state
from leadrelay.entrypoints.cli.output import err_console

if TYPE_CHECKING:
    from sqlalchemy import Engine

LOG_LEVELS = ("debug", "info", "warning", "error")


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="Address to listen on (default: the host setting, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: the port setting, 8000)."),
    workers: int = typer.Option(None, "--workers", min=1, max=64,
                                help="Server processes (default: the workers setting, 1)."),
    log_level: str = typer.Option("info", "--log-level", help=f"One of {', '.join(LOG_LEVELS)}."),
    worker: bool = typer.Option(False, "--worker", help="Also run the worker in each server process, woken at once "
                                                        "by the server's commits (no `leadrelay worker` needed)."),
    worker_interval: float = typer.Option(1.0, "--worker-interval", min=0.05,
                                          help="With --worker: seconds between the worker's sweeps (the fallback "
                                               "to waking it)."),
) -> None:
    import uvicorn

    from leadrelay.logs import log_config
    from leadrelay.storage.database import connect
    from leadrelay.storage.migrate import upgrade

    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(f"one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    base = state(ctx).settings
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    settings = load_settings(**{**base.model_dump(), **overrides})
    engine = connect(settings.database_url)  # a database that does not answer fails here, in one line
    try:
        upgrade(engine)  # once, before any worker starts
        if state(ctx).explicit_playbook:
            _say_if_overruled(engine, settings.playbook)
    finally:
        engine.dispose()
    # Workers build their app from the environment (uvicorn imports the factory in each process).
    os.environ.update(LEADRELAY_DATABASE_URL=settings.database_url, LEADRELAY_PLAYBOOK=settings.playbook,
                      LEADRELAY_SERVE_MIGRATED="1", LEADRELAY_SERVE_WORKER=str(worker_interval) if worker else "")
    uvicorn.run("leadrelay.entrypoints.server:from_environment", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_config=log_config(log_level.upper()), access_log=False,
                server_header=False)


def _say_if_overruled(engine: Engine, path: str) -> None:
    """One line on stderr when the named playbook file is not what the server will run (another version is active)."""
    from leadrelay.bootstrap import resolve_playbook
    from leadrelay.playbook.follow import overruled

    note = overruled(engine, resolve_playbook(path), path)
    if note:
        err_console.print(note, markup=False, highlight=False)
