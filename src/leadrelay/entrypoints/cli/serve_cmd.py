"""`leadrelay serve`: the HTTP API (Segment-compatible ingestion and REST) on uvicorn."""

from __future__ import annotations

import os

import typer

from leadrelay.entrypoints.cli.context import load_settings, state

LOG_LEVELS = ("debug", "info", "warning", "error")


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="Address to listen on (default: the host setting, 127.0.0.1)."),
    port: int = typer.Option(None, "--port", min=1, max=65535, help="Port (default: the port setting, 8000)."),
    workers: int = typer.Option(None, "--workers", min=1, max=64,
                                help="Server processes (default: the workers setting, 1)."),
    log_level: str = typer.Option("info", "--log-level", help=f"One of {', '.join(LOG_LEVELS)}."),
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
    finally:
        engine.dispose()
    # Workers build their app from the environment (uvicorn imports the factory in each process).
    os.environ.update(LEADRELAY_DATABASE_URL=settings.database_url, LEADRELAY_PLAYBOOK=settings.playbook,
                      LEADRELAY_SERVE_MIGRATED="1")
    uvicorn.run("leadrelay.entrypoints.server:from_environment", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_config=log_config(log_level.upper()), access_log=False,
                server_header=False)
