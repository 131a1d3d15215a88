"""`leadrelay report NAME`, `leadrelay funnel`, `leadrelay rejections list`, `leadrelay db upgrade|status`."""

from __future__ import annotations

from datetime import datetime

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import EXIT_REJECTED, console, err_console, fmt, print_json

rejections_app = typer.Typer(help="Messages that were rejected, with the reason.", no_args_is_help=True)
spend_app = typer.Typer(help="Marketing spend per month and source, for the sources report.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def report(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="funnel, conversion, velocity, speed_to_lead, persistence, leakage, sla, "
                                         "routing, sources, forecast_accuracy; or rebuild (count the rollups again)."),
    start: datetime | None = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="First day (UTC), inclusive."),
    end: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day (UTC), inclusive."),
    by: str | None = typer.Option(None, "--by", help="source, campaign, persona, segment, country, team or rep."),
    period: str | None = typer.Option(None, "--period", help="month, week or quarter (sources: month or all)."),
    stage: str | None = typer.Option(None, "--stage", help="funnel: the cohort's stage (default subscriber)."),
    mode: str | None = typer.Option(None, "--mode", help="funnel: in_order (default) or any_order."),
    from_stage: str | None = typer.Option(None, "--from-stage", help="conversion: the stage the cohort entered."),
    to_stage: str | None = typer.Option(None, "--to-stage", help="conversion: the stage it should reach."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print as CSV."),
) -> None:
    from leadrelay.reports.catalog import as_csv as csv_text
    from leadrelay.reports.catalog import report_request, run_report

    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--csv")
    if name == "rebuild":
        rebuild(state(ctx).app(), as_json)
        return
    from leadrelay.core.errors import InvalidInput

    try:
        request = report_request(name, start=start.date() if start else None, end=end.date() if end else None,
                                 by=by, period=period, stage=stage, mode=mode, from_stage=from_stage,
                                 to_stage=to_stage)
    except InvalidInput as exc:  # the parameters: bad usage (exit 2), like a malformed date
        raise typer.BadParameter(exc.message) from None
    result = run_report(state(ctx).app(playbook_on_first_use=True), request)
    if as_json:
        print_json(result)
    elif as_csv:
        typer.echo(csv_text(result), nl=False)
    else:
        print_report(result)


def rebuild(app, as_json: bool) -> None:
    """Count every lead into the rollups again: after a restore, or to check them (a refresh keeps them current)."""
    import time

    from leadrelay.reports.catalog import rebuild_rollups

    started = time.perf_counter()
    counted = rebuild_rollups(app)
    seconds = time.perf_counter() - started
    if as_json:
        print_json({"leads": counted, "seconds": round(seconds, 3)})
    else:
        console.print(f"counted {counted:,} leads into the report rollups in {seconds:.1f} s")


def print_report(result: dict) -> None:
    """Tables: one per report (the funnel and velocity: a column per stage; leakage: one per section)."""
    from rich.table import Table

    from leadrelay.reports.catalog import SECTIONS

    def cell(key: str, value) -> str:
        if isinstance(value, float) and (key in ("rate", "compliance", "fairness", "settled") or
                                         key.endswith(("_sla", "_share", "_rate", "_error"))):
            return f"{value:.1%}"
        return fmt(value)

    def compact(key: str, value) -> str:
        """A nested figure in one cell: `accept 3 of 4 met`, `reassign 8, notify_rep 1`."""
        if isinstance(value, list):
            return ", ".join(compact(key, item) for item in value) or "-"
        if isinstance(value, dict) and "rep" in value and "assigned" in value:
            return (f"{value['rep']} {value['assigned']} ({cell('rate', value['share'])} "
                    f"for {cell('rate', value['expected_share'])} of the weight)")
        if not isinstance(value, dict):
            return cell(key, value)
        if {"due", "met"} <= set(value):  # an SLA clock: `1 of 5 met, 3 breached, 1 closed before due`
            return f"{value['met']} of {value['due']} met" + "".join(
                f", {value[k]} {k.replace('_', ' ')}" for k in ("breached", "pending", "closed_before_due")
                if value.get(k))
        return ", ".join(f"{k} {compact(k, v)}" for k, v in value.items()) or "-"

    rows = result["rows"]
    name = result["report"]
    if rows and "stages" in rows[0]:
        figure = "reached" if name == "funnel" else "p50_days_in_stage"

        def stage_cell(stage: dict) -> str:
            if name != "funnel":
                return cell(figure, stage[figure])
            text = f"{stage['reached']} ({cell('rate', stage['rate'])})"
            return text + (f" +{stage['via_hand_raise']} hand-raised" if stage.get("via_hand_raise") else "")

        table = Table("period", "group", "entered" if name == "funnel" else "leads",
                      *(f"{s['stage']} ({figure.replace('_', ' ')})" for s in rows[0]["stages"]), title=name)
        for r in rows:
            table.add_row(r["period"] or "", r["group"], str(r.get("entered", r.get("leads"))),
                          *(stage_cell(s) for s in r["stages"]))
        console.print(table)
    tables = [(name, rows)] if rows and "stages" not in rows[0] else []
    tables += [(section.replace("_", " "), result[section]) for section in SECTIONS if result.get(section)]
    for title, lines in tables:
        columns = list(dict.fromkeys(key for line in lines for key in line))  # rows may differ (escalations)
        table = Table(*columns, title=title)
        for line in lines:
            table.add_row(*(compact(k, line.get(k)) for k in columns))
        console.print(table)
    if not rows and not any(result.get(section) for section in SECTIONS):
        console.print("nothing to report for those days", highlight=False)


@spend_app.command("import", help="Import spend from a CSV: month (YYYY-MM), source, campaign, amount, currency.")
def spend_import(
    ctx: typer.Context,
    file: str = typer.Argument(..., help="The CSV file (a header row, then one month, source and campaign per row)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    from leadrelay.reports.sources import import_spend

    report = import_spend(state(ctx).app(), file)
    if as_json:
        print_json(report.as_dict())
    else:
        console.print(f"{report.rows} rows: {report.imported} imported, {len(report.rejected)} rejected",
                      highlight=False)
        for rejection in report.rejected:
            err_console.print(f"row {rejection['row']}: {rejection['reason']}", highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


def funnel(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    from leadrelay.reports.funnel import funnel as funnel_report

    app = state(ctx).app(playbook_on_first_use=True)
    with app.engine.connect() as conn:
        report = funnel_report(conn)
    if as_json:
        print_json(report)
        return
    print_funnel(report)


def print_funnel(report: dict) -> None:
    from rich.table import Table

    table = Table("stage", "now", "ever reached", "→ next", title="Funnel")
    for row in report["stages"]:
        rate = row["conversion_to_next"]
        table.add_row(row["stage"], str(row["current"]), str(row["reached"]), "-" if rate is None else f"{rate:.1%}")
    table.add_row("disqualified", str(report["disqualified"]), "", "")
    console.print(table)
    console.print(f"{report['known_leads']} known leads, {report['anonymous_visitors']} anonymous visitors",
                  highlight=False)


@rejections_app.command("list", help="The most recent rejected messages.")
def rejections_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.activity.queries import rejections

    page, _ = rejections(state(ctx).app(), limit=limit)
    rows = [{key: value for key, value in row.items() if key != "payload"} for row in page]
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "source", "where", "message id", "reason")
    for r in rows:
        table.add_row(str(r["id"]), r["source"], r["position"], fmt(r["message_id"]), r["reason"])
    console.print(table)


@db_app.command("upgrade", help="Create or migrate the schema to the newest version.")
def db_upgrade(ctx: typer.Context) -> None:
    from leadrelay.storage.database import connect, safe_url
    from leadrelay.storage.migrate import head_revision, upgrade

    engine = connect(state(ctx).settings.database_url)
    try:
        upgrade(engine)
        url = safe_url(engine.url.render_as_string(hide_password=False))
    finally:
        engine.dispose()
    console.print(f"{url} is at {head_revision()}", highlight=False)


@db_app.command("status", help="The schema version of the database and the newest one.")
def db_status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    from leadrelay.storage.database import connect
    from leadrelay.storage.migrate import current_revision, head_revision

    engine = connect(state(ctx).settings.database_url)
    try:
        current, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    if as_json:
        print_json({"current": current, "head": head, "up_to_date": current == head})
    else:
        console.print(f"schema {fmt(current)}, newest {head}: "
                      f"{'up to date' if current == head else 'run leadrelay db upgrade'}",
                      highlight=False)
