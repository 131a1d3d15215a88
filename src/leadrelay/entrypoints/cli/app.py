"""`leadrelay <noun> <verb>`: the command line. Errors become one line on stderr and a trusted exit code.

Exit codes: 0 done; 1 error, nothing changed; 2 bad usage; 3 done, but some input was
rejected (the good input was kept; the rejections are listed).

Start-up matters here: `--help` and a simple read must answer at once. So importing this
module imports Typer and the command modules only; each command imports the services,
SQLAlchemy, Alembic, FastAPI or the demo it needs when it runs
(tests/test_cli_startup.py and tests/e2e/test_cli_startup.py hold this). And the command
groups (`leads`, `playbook`, ...) become Click commands only when one is used (see
`LeadRelayCommand`).
"""

from __future__ import annotations

import copy
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

    The groups in GROUPS are its commands too, listed after the others as `add_typer` lists
    them, but Typer turns one into a Click group only when it is used: reading every command's
    signature into Click parameters is most of the 20 ms Typer spends on a tree of some 90
    commands. The root's help lists each group from a copy without its commands (the same
    name and help).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._groups: dict[str, click.Command] = {}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in GROUPS if name not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in GROUPS:
            return command
        if self._listing:
            return click_group(cmd_name, with_commands=False)
        if cmd_name not in self._groups:
            self._groups[cmd_name] = click_group(cmd_name)
        return self._groups[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True  # only the groups' names and help are shown
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            # No such command: Click and Typer suggest the closest names among `self.commands`, so put the
            # groups there (without their commands) and let them say it again.
            for name in GROUPS:
                self.commands.setdefault(name, click_group(name, with_commands=False))
            return super().resolve_command(ctx, args)

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


# The command groups, in the order `--help` lists them (see LeadRelayCommand).
GROUPS: dict[str, typer.Typer] = {}


def add_group(group: typer.Typer, name: str) -> None:
    """`app.add_typer(group, name=name)`, turned into a Click group when it is used."""
    GROUPS[name] = group


def click_group(name: str, *, with_commands: bool = True) -> click.Command:
    """The Click group Typer makes of GROUPS[name] (as `add_typer` would); without its commands, for a listing."""
    from typer.main import get_group

    group = GROUPS[name]
    if not with_commands:
        group = copy.copy(group)  # the same help and options
        group.registered_commands, group.registered_groups = [], []
    command = get_group(group)
    command.name = name
    return command


app.command("init", help="Write a commented starter playbook (playbook.yaml) into DIR.")(playbook_cmd.init)
add_group(playbook_cmd.app, "playbook")
app.command("ingest", help="Ingest Segment-spec messages from a JSON-lines file (or - for stdin).")(ingest_cmd.ingest)
app.command("import",
            help="Import leads from a CSV export (HubSpot, Salesforce, a spreadsheet).")(ingest_cmd.import_csv)
app.command("rescore", help="Replay every stored activity through the current playbook.")(ingest_cmd.rescore)
add_group(leads_cmd.app, "leads")
leads_cmd.app.command("accept", help="Accept a lead handed to you (an MQL becomes SAL).")(handoff_cmd.accept)
leads_cmd.app.command("touch", help="Log a call, email or meeting with its outcome.")(handoff_cmd.touch)
leads_cmd.app.command("reassign", help="Give a lead to another rep (or let routing pick).")(handoff_cmd.reassign)
leads_cmd.app.command("route-explain", help="Why a lead went to whom: rules, candidates, skips.")(
    handoff_cmd.explain_route)
leads_cmd.app.command("queue", help="A rep's open leads, most urgent deadline first.")(handoff_cmd.queue)
add_group(handoff_cmd.reps_app, "reps")
add_group(handoff_cmd.suppression_app, "suppression")
add_group(segment_cmd.app, "segment")
add_group(meetings_cmd.app, "meetings")
add_group(route_cmd.app, "route")
add_group(model_cmd.app, "model")
add_group(handoff_cmd.accounts_app, "accounts")
add_group(handoff_cmd.sla_app, "sla")
app.command("qualify", help="Record a lead's answers to the framework; show met/missing/failed and the SQL gate.")(
    sales_cmd.qualify)
leads_cmd.app.command("sql", help="Move a sales-accepted lead to SQL (refused until the SQL gate is met).")(
    sales_cmd.advance)
leads_cmd.app.command("advance", help="Same as `leads sql`: the SQL gate decides.")(sales_cmd.advance)
app.command("convert", help="Convert an SQL into an opportunity on its company's account.")(sales_cmd.convert)
add_group(sales_cmd.opps_app, "opps")
add_group(sales_cmd.forecast_app, "forecast")
app.command("worker", help="Run SLA timers, queued assignment, stale detection and notification delivery.")(
    handoff_cmd.worker)
app.command("funnel", help="Leads per stage and conversion from each stage to the next.")(reports_cmd.funnel)
app.command("report", help="Reports over the history: funnel, conversion, velocity, speed to lead, SLA, ...")(
    reports_cmd.report)
add_group(reports_cmd.spend_app, "spend")
add_group(reports_cmd.rejections_app, "rejections")
add_group(reports_cmd.db_app, "db")
add_group(outbox_cmd.app, "outbox")
app.command("serve", help="Serve the HTTP API: Segment-compatible ingestion and REST (uvicorn).")(serve_cmd.serve)
add_group(tokens_cmd.app, "tokens")
add_group(person_cmd.app, "person")
app.command("demo", help="Generate a realistic B2B activity stream and run it through the starter playbook.")(
    demo_cmd.demo)


def main() -> NoReturn:
    """Entry point of the `leadrelay` console script (see LeadRelayCommand.main for the exit codes)."""
    app()
    raise AssertionError("unreachable: LeadRelayCommand.main always exits")


__all__ = ["EXIT_ERROR", "EXIT_REJECTED", "CliState", "app", "main"]
