"""`leadrelay <noun> <verb>`: the command line. Errors become one line on stderr and a trusted exit code.

Exit codes: 0 done; 1 error, nothing changed; 2 bad usage; 3 done, but some input was
rejected (the good input was kept; the rejections are listed).

Start-up matters here: `--help` and a simple read must answer at once. So importing this
module imports Typer and the command modules only; each command imports the services,
SQLAlchemy, Alembic, FastAPI or the demo it needs when it runs
(tests/e2e/test_cli_startup.py holds this).
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from leadrelay.core.errors import InvalidPlaybook, LeadRelayError
from leadrelay.entrypoints.cli import (
    demo_cmd,
    handoff_cmd,
    ingest_cmd,
    leads_cmd,
    meetings_cmd,
    model_cmd,
    outbox_cmd,
    person_cmd,
    playbook_cmd,
    reports_cmd,
    route_cmd,
    sales_cmd,
    segment_cmd,
    serve_cmd,
    tokens_cmd,
)
from leadrelay.entrypoints.cli.context import CliState
from leadrelay.entrypoints.cli.output import (
    EXIT_ERROR,
    EXIT_REJECTED,
    database_failure,
    err_console,
    print_error,
    reset_consoles,
)


class LeadRelayCommand(TyperGroup):
    """The root command. Its `main` turns LeadRelay errors into one clear line and exit code 1
    however it is invoked: the console script, `python -m leadrelay`, or a test's CliRunner.

    It always exits with the command's code (`standalone_mode` is accepted for Click's
    signature and ignored): the translation needs Click's non-standalone mode inside.
    """

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> NoReturn:
        reset_consoles()  # a fresh console per invocation: the width and colour of this environment
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False,
                                windows_expand_args=windows_expand_args, **extra)
        except InvalidPlaybook as exc:
            for issue in exc.issues:  # an issue may quote a pattern such as [a-z]: text, not markup
                print_error(issue)
            sys.exit(EXIT_ERROR)
        except LeadRelayError as exc:
            print_error(exc.message)
            sys.exit(EXIT_ERROR)
        except click.ClickException as exc:  # usage errors: exit 2 with click's message
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            err_console.print("aborted")
            sys.exit(EXIT_ERROR)
        except Exception as exc:  # the database failed under the command (it went away, the disk is full)
            detail = database_failure(exc)
            if detail is None:
                raise
            print_error(detail)
            sys.exit(EXIT_ERROR)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=LeadRelayCommand,
    name="leadrelay",
    help="LeadRelay: score, qualify and hand over leads between marketing and sales.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global(
    ctx: typer.Context,
    database: str = typer.Option(None, "--database", "-d", envvar="LEADRELAY_DATABASE_URL",
                                 help="Database URL (default sqlite:///leadrelay.db)."),
    playbook: str = typer.Option(None, "--playbook", "-p", envvar="LEADRELAY_PLAYBOOK",
                                 help="Playbook file; it must exist (default playbook.yaml, else the built-in "
                                      "starter)."),
) -> None:
    overrides = {k: v for k, v in {"database_url": database, "playbook": playbook}.items() if v}
    ctx.obj = CliState(overrides=overrides, explicit_playbook=playbook is not None)
    ctx.call_on_close(ctx.obj.close)


app.command("init", help="Write a commented starter playbook (playbook.yaml) into DIR.")(playbook_cmd.init)
app.add_typer(playbook_cmd.app, name="playbook")
app.command("ingest", help="Ingest Segment-spec messages from a JSON-lines file (or - for stdin).")(ingest_cmd.ingest)
app.command("import",
            help="Import leads from a CSV export (HubSpot, Salesforce, a spreadsheet).")(ingest_cmd.import_csv)
app.command("rescore", help="Replay every stored activity through the current playbook.")(ingest_cmd.rescore)
app.add_typer(leads_cmd.app, name="leads")
leads_cmd.app.command("accept", help="Accept a lead handed to you (an MQL becomes SAL).")(handoff_cmd.accept)
leads_cmd.app.command("touch", help="Log a call, email or meeting with its outcome.")(handoff_cmd.touch)
leads_cmd.app.command("reassign", help="Give a lead to another rep (or let routing pick).")(handoff_cmd.reassign)
leads_cmd.app.command("route-explain", help="Why a lead went to whom: rules, candidates, skips.")(
    handoff_cmd.explain_route)
leads_cmd.app.command("queue", help="A rep's open leads, most urgent deadline first.")(handoff_cmd.queue)
app.add_typer(handoff_cmd.reps_app, name="reps")
app.add_typer(handoff_cmd.suppression_app, name="suppression")
app.add_typer(segment_cmd.app, name="segment")
app.add_typer(meetings_cmd.app, name="meetings")
app.add_typer(route_cmd.app, name="route")
app.add_typer(model_cmd.app, name="model")
app.add_typer(handoff_cmd.accounts_app, name="accounts")
app.add_typer(handoff_cmd.sla_app, name="sla")
app.command("qualify", help="Record a lead's answers to the framework; show met/missing/failed and the SQL gate.")(
    sales_cmd.qualify)
leads_cmd.app.command("sql", help="Move a sales-accepted lead to SQL (refused until the SQL gate is met).")(
    sales_cmd.advance)
leads_cmd.app.command("advance", help="Same as `leads sql`: the SQL gate decides.")(sales_cmd.advance)
app.command("convert", help="Convert an SQL into an opportunity on its company's account.")(sales_cmd.convert)
app.add_typer(sales_cmd.opps_app, name="opps")
app.add_typer(sales_cmd.forecast_app, name="forecast")
app.command("worker", help="Run SLA timers, queued assignment, stale detection and notification delivery.")(
    handoff_cmd.worker)
app.command("funnel", help="Leads per stage and conversion from each stage to the next.")(reports_cmd.funnel)
app.command("report", help="Reports over the history: funnel, conversion, velocity, speed to lead, SLA, ...")(
    reports_cmd.report)
app.add_typer(reports_cmd.spend_app, name="spend")
app.add_typer(reports_cmd.rejections_app, name="rejections")
app.add_typer(reports_cmd.db_app, name="db")
app.add_typer(outbox_cmd.app, name="outbox")
app.command("serve", help="Serve the HTTP API: Segment-compatible ingestion and REST (uvicorn).")(serve_cmd.serve)
app.add_typer(tokens_cmd.app, name="tokens")
app.add_typer(person_cmd.app, name="person")
app.command("demo", help="Generate a realistic B2B activity stream and run it through the starter playbook.")(
    demo_cmd.demo)


def main() -> NoReturn:
    """Entry point of the `leadrelay` console script (see LeadRelayCommand.main for the exit codes)."""
    app()
    raise AssertionError("unreachable: LeadRelayCommand.main always exits")


__all__ = ["EXIT_ERROR", "EXIT_REJECTED", "CliState", "app", "main"]
