"""`leadrelay ingest`, `leadrelay import`, `leadrelay rescore`: getting activities in and replaying them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

import typer

from leadrelay.core.errors import InvalidInput, LeadRelayError
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import (
    EXIT_PARTLY,
    EXIT_REJECTED,
    console,
    database_failure,
    err_console,
    print_error,
    print_json,
)
from leadrelay.lead.activities import Rejection

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from leadrelay.activity.service import IngestReport



def read_jsonl(handle: BinaryIO, name: str) -> Iterator[tuple[str, object]]:
    """`(position, message)` per non-blank line; a line that is not UTF-8 JSON becomes a Rejection."""
    for number, raw in enumerate(handle, start=1):
        position = f"{name} line {number}"
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # a byte-order mark is not the message
        except UnicodeDecodeError as exc:
            yield position, Rejection(position, f"not UTF-8 text (byte {exc.start + 1})")
            continue
        if not line.strip():
            continue
        try:
            yield position, json.loads(line)
        except json.JSONDecodeError as exc:
            yield position, Rejection(position, f"not JSON: {exc.msg} at column {exc.colno}")


class _Silent:
    """Stands in for a progress bar when stderr is not a terminal (logs, pipes, CI)."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> TaskID:
        return cast("TaskID", 0)  # a task id only for this class's advance(), which ignores it

    def advance(self, *args) -> None:
        return None


def _progress(total: int | None, label: str) -> Progress | _Silent:
    if not err_console.is_terminal:
        return _Silent()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)


def _report(report: IngestReport, as_json: bool, outcomes: dict | None = None) -> None:
    if as_json:
        print_json(report.as_dict() | ({"outcomes": outcomes} if outcomes is not None else {}))
    else:
        moves = ", ".join(f"{n} to {s}" for s, n in sorted(report.stage_moves.items())) or "none"
        console.print(
            f"received {report.received}: accepted {report.accepted}, duplicates {report.duplicates}, "
            f"rejected {report.rejected}; leads created {report.leads_created}, merged {report.leads_merged}; "
            f"stage moves: {moves}", highlight=False)
        if outcomes is not None:
            console.print(f"outcomes: {outcomes['recorded']} recorded ({outcomes['converted']} converted); "
                          f"{outcomes['unknown_leads']} for rows that made no lead", highlight=False)
        if report.handoffs_from_history or report.notices_not_sent:
            handoffs, notices = report.handoffs_from_history, report.notices_not_sent
            console.print(
                f"loaded as history: {handoffs} handoff{'' if handoffs == 1 else 's'} recorded, {notices} "
                f"notice{'' if notices == 1 else 's'} not sent; deadlines already past are recorded as breached, "
                "without alerts or escalation (--live treats a file as live traffic)", highlight=False,
                soft_wrap=True)
        for r in report.rejections:
            err_console.print(f"rejected {r.position}: {r.reason}", highlight=False, soft_wrap=True)
        if report.rejected > len(report.rejections):
            err_console.print(f"... and {report.rejected - len(report.rejections)} more: leadrelay rejections list")
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


def ingest(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="JSON-lines file of Segment messages or batches; - reads stdin."),
    source: str = typer.Option(None, "--source", help="Source name (deduplication is per source)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    live: bool = typer.Option(False, "--live", help="Treat the messages as live traffic: alert and escalate "
                              "deadlines that already passed (by default a file is history: recorded, not alerted)."),
) -> None:
    from leadrelay.activity.service import ingest as ingest_messages

    app = state(ctx).app()
    if file == "-":
        handle, name = sys.stdin.buffer, "stdin"
    else:
        try:
            handle, name = open(file, "rb"), Path(file).name  # noqa: SIM115
        except OSError as exc:
            raise InvalidInput(f"{file}: cannot read: {exc.strerror}") from None
    with handle, _progress(None, "ingesting") as bar:
        task = bar.add_task("ingest", total=None)
        with _stored_so_far(lambda part: bar.advance(task, part.received)) as progress:
            report = ingest_messages(app, read_jsonl(handle, name), source=source, live=False, backfill=not live,
                                     on_batch=progress)
    _report(report, as_json)


@contextmanager
def _stored_so_far(advance: Callable[[IngestReport], None]) -> Iterator[Callable[[IngestReport], None]]:
    """Progress for an ingest in transactions; an error after some of them committed is said as such (exit 4,
    not exit 1's "nothing changed"), with how far it got: running the command again skips what was stored."""
    done = {"received": 0, "accepted": 0}

    def progress(part: IngestReport) -> None:
        done["received"] += part.received
        done["accepted"] += part.accepted
        advance(part)

    try:
        yield progress
    except Exception as exc:
        if not done["received"]:
            raise
        message = (exc.message if isinstance(exc, LeadRelayError) else database_failure(exc)
                   or f"{type(exc).__name__}: {exc}".splitlines()[0])
        print_error(message)
        err_console.print(f"stopped part-way: the first {done['received']} messages were handled and committed "
                          f"({done['accepted']} stored); the rest were not. Running the same command again skips "
                          "the stored ones as duplicates.", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_PARTLY) from None


def import_csv(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file with a header row."),
    mapping: list[str] = typer.Option([], "--map", "-m",
                                      help="COLUMN=trait[:type], type one of text, int, float, bool."),
    email_column: str = typer.Option(None, "--email-column",
                                     help="Column holding the email (found by name if not given)."),
    id_column: str = typer.Option(None, "--id-column", help="Column holding a stable lead id (used as userId)."),
    time_column: str = typer.Option(None, "--time-column", help="Column holding when the row was created (ISO-8601)."),
    null: list[str] = typer.Option([], "--null", help="A value meaning 'missing' (e.g. Select); repeatable."),
    encoding: str = typer.Option("utf-8-sig", "--encoding", help="Text encoding of the file (e.g. cp1252 for Excel)."),
    source: str = typer.Option("csv-import", "--source", help="Source name recorded on the imported rows."),
    outcome: str = typer.Option(None, "--outcome", help="Column saying whether each lead converted (1/0, yes/no, "
                                "won/lost; empty: not known): what `leadrelay model` learns from. Never a trait."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    from leadrelay.activity.csv_rows import count_rows, parse_mapping, read_csv_messages, take_outcomes
    from leadrelay.activity.service import ingest as ingest_messages

    mappings = [parse_mapping(spec) for spec in mapping]
    total = count_rows(file, encoding)  # also: a file that cannot be decoded fails before anything is written
    rows = read_csv_messages(file, mappings, email_column=email_column, id_column=id_column,
                             time_column=time_column, outcome_column=outcome, null_values=null, encoding=encoding)
    first = next(rows, None)  # surfaces a bad header before anything is written
    app = state(ctx).app()
    outcomes: list = []  # (user id, email, converted, decided at) of the rows that say

    def all_rows():
        if first is not None:
            yield first
        yield from rows

    with _progress(total, "importing") as bar:
        task = bar.add_task("import", total=total)
        with _stored_so_far(lambda part: bar.advance(task, part.received)) as progress:
            report = ingest_messages(app, take_outcomes(all_rows(), outcomes), source=source, live=False,
                                     on_batch=progress)
    recorded = None
    if outcome is not None:
        from leadrelay.predict.service import record_outcomes

        recorded = record_outcomes(app, outcomes, source)
    _report(report, as_json, outcomes=recorded)


def rescore(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    processes: int | None = typer.Option(None, "--processes", min=1, help="Worker processes on PostgreSQL "
                                         "(default: one per core). SQLite always rescores in one."),
) -> None:
    from leadrelay.activity.rescore import count_rescorable
    from leadrelay.activity.rescore import rescore as rescore_all
    from leadrelay.entrypoints.cli.playbook_cmd import say_if_named_but_active
    from leadrelay.entrypoints.cli.rescore_progress import rescore_progress

    cli = state(ctx)
    app = cli.app()
    with rescore_progress(count_rescorable(app)) as progress:
        report = rescore_all(app, on_progress=progress, processes=processes)
    say_if_named_but_active(app, cli)
    if as_json:
        print_json(report.as_dict())
        return
    moves = ", ".join(f"{n} to {s}" for s, n in report.moves.items()) or "none"
    console.print(f"rescored {report.leads} leads ({report.activities} activities) with playbook "
                  f"{report.playbook_version}: {report.stage_changed} changed stage ({moves})", highlight=False)
    from leadrelay.playbook.loader import STARTER_NAME

    if app.playbook.source == STARTER_NAME:  # rescoring by rules nobody chose must not go unnoticed
        err_console.print("note: that was the built-in starter playbook: no --playbook or LEADRELAY_PLAYBOOK was "
                          "given, there is no playbook.yaml here, and none was ever activated", highlight=False)
