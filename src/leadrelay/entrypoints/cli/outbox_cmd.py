"""`leadrelay outbox list|retry`: see the notifications waiting, sent and given up, and replay them."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, err_console, fmt, print_json, when

# leadrelay.storage.outbox_tables.STATUSES, spelled out so that `--help` need not import SQLAlchemy
# (test_cli_startup.py checks that the two agree).
STATUSES = ("pending", "sent", "dead", "disabled", "withdrawn")

app = typer.Typer(help="Notifications to webhooks, Slack and email: what waits, what was sent, what died.",
                  no_args_is_help=True)


def _engine(ctx: typer.Context):
    # The outbox does not need the playbook: a broken playbook must not hide the dead letters.
    from leadrelay.storage.database import connect
    from leadrelay.storage.migrate import upgrade

    engine = connect(state(ctx).settings.database_url)
    try:
        upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@app.command("list", help="The newest outbox messages, with their status, attempts and last error.")
def list_(
    ctx: typer.Context,
    status: str = typer.Option(None, "--status", "-s", help=f"Only messages in this status ({', '.join(STATUSES)})."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many to show."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    from leadrelay.delivery.outbox import disabled_endpoints, list_messages

    engine = _engine(ctx)
    try:
        with engine.connect() as conn:
            rows = list_messages(conn, status=status, limit=limit, with_payload=as_json)
            held = disabled_endpoints(conn)
    finally:
        engine.dispose()
    if as_json:
        print_json(rows)
        return
    from rich.table import Column, Table

    table = Table("id", Column("message id", no_wrap=True, min_width=36), "event", "channel", "target", "status",
                  "attempts", "next attempt", "sent", "last error")
    for r in rows:
        table.add_row(str(r["id"]), r["message_id"], r["event_type"], r["channel"], r["target"], r["status"],
                      str(r["attempts"]), when(r["next_attempt_at"]) if r["status"] == "pending" else "-",
                      when(r["sent_at"]), fmt(r["last_error"]))
    console.print(table)
    for endpoint in held:
        console.print(f"endpoint {endpoint['id']} ({endpoint['kind']}) is disabled since "
                      f"{when(endpoint['disabled_at'])}: {fmt(endpoint['reason'])} — "
                      f"`leadrelay outbox retry --enable-endpoint {endpoint['id']}` to resume", highlight=False)


@app.command("retry", help="Send messages again: by id, every dead one (--dead), or those held for an endpoint.")
def retry(
    ctx: typer.Context,
    ids: list[int] = typer.Argument(None, help="Outbox message ids (the `id` column of `outbox list`)."),
    dead: bool = typer.Option(False, "--dead", help="Every message in the dead letters."),
    enable_endpoint: str = typer.Option(None, "--enable-endpoint",
                                        help="Re-enable this endpoint (disabled after a 410) "
                                             "and requeue its messages."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    if not ids and not dead and enable_endpoint is None:
        raise typer.BadParameter("give message ids, --dead or --enable-endpoint ID", param_hint="IDS")
    from leadrelay.delivery.dispatcher import retry as retry_messages

    engine = _engine(ctx)
    try:
        report = retry_messages(engine, ids or [], datetime.now(UTC), dead=dead, enable_endpoint=enable_endpoint)
    finally:
        engine.dispose()
    if as_json:
        print_json({"requeued": report.reset, "already_pending": report.skipped, "enabled_endpoint": report.enabled,
                    "still_disabled": report.still_disabled})
        return
    if report.enabled:
        console.print(f"endpoint {report.enabled} enabled", highlight=False)
    console.print(f"{len(report.reset)} message(s) queued again"
                  + (f": {', '.join(map(str, report.reset))}" if 0 < len(report.reset) <= 20 else ""), highlight=False)
    if report.skipped:
        console.print(f"already pending: {', '.join(map(str, report.skipped))}", highlight=False)
    for endpoint in report.still_disabled:
        err_console.print(f"warning: endpoint {endpoint} is disabled, so its messages will be held again; "
                          f"add --enable-endpoint {endpoint}", highlight=False)
