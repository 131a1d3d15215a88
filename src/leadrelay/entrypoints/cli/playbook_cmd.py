"""`leadrelay init` and `leadrelay playbook check|show|backtest`."""

from __future__ import annotations

from pathlib import Path

import typer

from leadrelay.core.errors import InvalidInput
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import EXIT_ERROR, console, err_console, print_json

app = typer.Typer(help="Check, show and backtest playbooks.", no_args_is_help=True)


def init(
    directory: Path = typer.Argument(Path("."), help="Where to write playbook.yaml."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing playbook.yaml."),
) -> None:
    from leadrelay.playbook.loader import starter_text

    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} is a file, not a directory")
    target = directory / "playbook.yaml"
    if target.exists() and not force:
        raise InvalidInput(f"{target} already exists (use --force to overwrite it)")
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(starter_text(), encoding="utf-8")
    console.print(f"wrote {target} — edit it, then: leadrelay playbook check {target}")


@app.command("check", help="Validate a playbook; print every error with file, line and field.")
def check(
    file: Path = typer.Argument(..., help="The playbook file."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    from leadrelay.core.errors import InvalidPlaybook
    from leadrelay.playbook.loader import load_playbook

    try:
        playbook = load_playbook(file)
    except InvalidPlaybook as exc:
        if not as_json:
            raise  # every issue printed, exit 1
        print_json({"file": str(file), "valid": False, "version": None, "issues": exc.issues or [exc.message]})
        raise typer.Exit(EXIT_ERROR) from None
    rules = playbook.rules
    summary = {
        "file": str(file), "valid": True, "issues": [], "version": playbook.version, "name": playbook.model.name,
        "fit_rules": len(rules.fit_rules), "engagement_rules": len(rules.engagement_rules),
        "disqualifiers": len(rules.disqualifiers), "personas": len(rules.personas),
        "hand_raisers": len(rules.hand_raisers),
        "stage_entries": [e.stage.value for e in rules.stage_entries],
    }
    if as_json:
        print_json(summary)
        return
    console.print(f"[green]ok[/green] {file}: '{playbook.model.name}' version {playbook.version}: "
                  f"{summary['fit_rules']} fit rules, {summary['engagement_rules']} engagement rules, "
                  f"{summary['disqualifiers']} disqualifiers, {summary['hand_raisers']} hand-raisers", highlight=False)


@app.command("show", help="Print the playbook in use (from --playbook or the built-in starter).")
def show(ctx: typer.Context) -> None:
    from leadrelay.bootstrap import resolve_playbook

    playbook = resolve_playbook(state(ctx).settings.playbook)
    err_console.print(f"# {playbook.source}, version {playbook.version}", highlight=False)
    typer.echo(playbook.text, nl=False)


@app.command("backtest", help="Replay the stored history through a candidate playbook and the active one, side by "
                              "side: MQLs and SALs per month, precision and recall, routing and SLA load, and the "
                              "leads that would change stage. Nothing in the store changes.")
def backtest(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The candidate playbook file."),
    since: str = typer.Option(None, "--since", help="Count moves from this day on (YYYY-MM-DD)."),
    show: int = typer.Option(20, "--show", min=0, help="How many changed leads to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    from datetime import date

    from leadrelay.playbook.backtest import backtest as run_backtest
    from leadrelay.playbook.loader import load_playbook

    candidate = load_playbook(file)  # raises InvalidPlaybook: every issue printed, exit 1, nothing replayed
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {since!r}", param_hint="--since") from None
    result = run_backtest(state(ctx).app(), candidate, since=day)
    if not result["activities"]:
        raise InvalidInput("the store has no activities yet: there is no history to replay")
    if as_json:
        print_json(result)
        return
    print_backtest(result, show)


def print_backtest(result: dict, show: int) -> None:
    from rich.table import Table

    from leadrelay.entrypoints.cli.output import fmt, when

    active, candidate = result["active"], result["candidate"]

    def rate(value) -> str:
        return "-" if value is None else f"{value:.1%}"

    table = Table("", f"active ({active['version']})", f"candidate ({candidate['version']})",
                  title=f"Backtest over {result['leads']} leads, {result['activities']} activities"
                        + (f", moves since {result['since']}" if result["since"] else ""))
    months = sorted(set(active["mqls_per_month"]) | set(candidate["mqls_per_month"]) | set(active["sals_per_month"])
                    | set(candidate["sals_per_month"]))
    for month in months:
        table.add_row(f"MQLs / SALs {month}",
                      f"{active['mqls_per_month'].get(month, 0)} / {active['sals_per_month'].get(month, 0)}",
                      f"{candidate['mqls_per_month'].get(month, 0)} / {candidate['sals_per_month'].get(month, 0)}")
    rows = (("MQL precision (converted)", "mql_precision", rate), ("SAL precision", "sal_precision", rate),
            ("MQL recall (of converters)", "mql_recall", rate), ("recall, MQL or sent to sales", "recall", rate),
            ("handoffs", "handoffs", fmt), ("would have queued", "queued_share", rate))
    for label, key, shown in rows:
        table.add_row(label, shown(active[key]), shown(candidate[key]))
    for rep in sorted(set(active["load_per_rep"]) | set(candidate["load_per_rep"])):
        table.add_row(f"{rep}: leads (per day)",
                      f"{active['leads_per_rep'].get(rep, 0)} ({active['load_per_rep'].get(rep, 0)})",
                      f"{candidate['leads_per_rep'].get(rep, 0)} ({candidate['load_per_rep'].get(rep, 0)})")
    console.print(table)
    console.print(f"{result['changed_count']} leads would end in another stage; {result['converters']} leads "
                  f"converted in the real history. Replayed {result['activities_per_second']} activities/s "
                  f"({result['seconds']} s for both playbooks).", highlight=False)
    if result["changed"] and show:
        changed = Table("lead", "email", "active", "candidate", "when", "because",
                        title="Leads that would change stage")
        for row in result["changed"][:show]:
            changed.add_row(str(row["lead"]), fmt(row["email"]), fmt(row["from"]), fmt(row["to"]), when(row["at"]),
                            row["because"])
        console.print(changed)
