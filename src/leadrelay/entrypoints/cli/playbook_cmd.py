"""`leadrelay init` and `leadrelay playbook check|show|activate|versions|backtest`.

Which playbook a command runs (`CliState.app`): the file named by --playbook or
LEADRELAY_PLAYBOOK, else the version activated in the store, else playbook.yaml here, else
the built-in starter. `show` prints that one and says which it is; `activate` makes a file
the active version through the same service as `POST /api/playbook/activate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from leadrelay.core.errors import InvalidInput
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import EXIT_ERROR, console, err_console, print_json, when

if TYPE_CHECKING:
    from leadrelay.bootstrap import App
    from leadrelay.playbook.loader import Playbook

app = typer.Typer(help="Check, show, activate and backtest playbooks.", no_args_is_help=True)
MAX_ACTOR = 120  # active_playbook.activated_by


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
    summary = {"file": str(file), "valid": True, "issues": [], "version": playbook.version,
               "name": playbook.model.name, **_counts(playbook)}
    if as_json:
        print_json(summary)
        return
    console.print(f"[green]ok[/green] {_plain(file)}: '{_plain(playbook.model.name)}' version {playbook.version}: "
                  f"{_counted(summary)}", highlight=False)


def _counts(playbook: Playbook) -> dict[str, Any]:
    rules = playbook.rules
    return {"fit_rules": len(rules.fit_rules), "engagement_rules": len(rules.engagement_rules),
            "disqualifiers": len(rules.disqualifiers), "personas": len(rules.personas),
            "hand_raisers": len(rules.hand_raisers), "stage_entries": [e.stage.value for e in rules.stage_entries],
            "alerts": len(rules.alerts), "sequences": len(rules.sequences), "followups": len(rules.followups)}


def _counted(summary: dict[str, Any]) -> str:
    words = (("fit_rules", "fit rule"), ("engagement_rules", "engagement rule"), ("disqualifiers", "disqualifier"),
             ("hand_raisers", "hand-raiser"), ("alerts", "alert"), ("sequences", "sequence"),
             ("followups", "follow-up"))
    return ", ".join(f"{summary[key]} {word}{'' if summary[key] == 1 else 's'}" for key, word in words)


def _plain(value: object) -> str:
    """A name or path as text, not Rich markup (a file may be called [draft].yaml)."""
    from rich.markup import escape

    return escape(str(value))


@app.command("show", help="Print the playbook the engine runs: the file named by --playbook (or LEADRELAY_PLAYBOOK), "
                          "else the version activated in the store, else playbook.yaml here, else the built-in "
                          "starter. Which one it is, and why, goes to stderr; the text alone to stdout.")
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the playbook and where it came from as JSON."),
) -> None:
    from leadrelay.playbook import service as playbooks

    cli = state(ctx)
    app = cli.app()  # the same choice every command makes
    playbook = app.playbook
    activation = playbooks.activation(app.engine)
    path = cli.settings.playbook
    note = None
    if cli.explicit_playbook:
        runs = "named"
        said = f"{playbook.source}, version {playbook.version}: the file named by --playbook or LEADRELAY_PLAYBOOK"
        note = _named_but_active(activation, playbook, path)
    elif activation is not None and activation["version"] == playbook.version:
        runs = "active"
        said = (f"version {playbook.version}, active: activated by {activation['activated_by']} at "
                f"{when(activation['activated_at'])} UTC; stored from {playbook.source}")
        note = _file_here_overruled(path, playbook)
    elif Path(path).is_file():
        runs = "file"
        said = f"{playbook.source}, version {playbook.version}: no version has been activated, so the file here runs"
    else:
        runs = "starter"
        said = (f"the built-in starter playbook ({playbook.source}), version {playbook.version}: no --playbook or "
                f"LEADRELAY_PLAYBOOK was given, there is no {path} here, and none was ever activated")
    if as_json:
        print_json({"version": playbook.version, "name": playbook.model.name, "source": playbook.source, "runs": runs,
                    "active_version": activation["version"] if activation else None,
                    "activated_by": activation["activated_by"] if runs == "active" and activation else None,
                    "activated_at": activation["activated_at"] if runs == "active" and activation else None,
                    "note": note, "text": playbook.text})
        return
    err_console.print(f"# {said}", markup=False, highlight=False)
    if note:
        err_console.print(f"# {note}", markup=False, highlight=False)
    typer.echo(playbook.text, nl=False)


def _named_but_active(activation: dict[str, Any] | None, named: Playbook, path: str) -> str | None:
    """For a file named explicitly: the line that says another version is active, and who runs which; else None.
    (A long-running process says `leadrelay.playbook.follow.overruled` instead: it runs the active version.)"""
    if activation is None or activation["version"] == named.version:
        return None
    return (f"note: {path} is version {named.version}, but version {activation['version']} is active (activated by "
            f"{activation['activated_by']} at {when(activation['activated_at'])} UTC): the server and the worker run "
            f"the active version; commands given --playbook {path} run the file. To run the file everywhere, "
            f"activate it: leadrelay playbook activate {path}")


def _file_here_overruled(path: str, active: Playbook) -> str | None:
    """When a version is active and the default playbook file here differs: the line that says the file does not
    run (people edit playbook.yaml and expect it to); else None."""
    from leadrelay.core.errors import InvalidPlaybook
    from leadrelay.playbook.loader import load_playbook

    if not Path(path).is_file():
        return None
    try:
        here = load_playbook(path)
    except InvalidPlaybook:
        return (f"note: {path} here is not a valid playbook (leadrelay playbook check {path}); version "
                f"{active.version} is active and runs")
    if here.version == active.version:
        return None
    return (f"note: {path} here is version {here.version}, but version {active.version} is active and runs: "
            f"activate the file to run it (leadrelay playbook activate {path}), or name it with --playbook for one "
            "command")


@app.command("activate", help="Validate a playbook file and make it the active version: the server and the worker "
                              "switch to it within seconds, and every command runs it (unless given --playbook). "
                              "Prints what changed against the version it replaces. An invalid file changes "
                              "nothing (exit 1). Stored leads keep their scores until `leadrelay rescore`.")
def activate(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The playbook file."),
    by: str = typer.Option("cli", "--by", help="Who is activating it (recorded as user:BY)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    from leadrelay.access.tokens import revoke_missing_people
    from leadrelay.core.errors import Conflict, InvalidPlaybook
    from leadrelay.playbook import service as playbooks
    from leadrelay.playbook.loader import load_playbook

    actor = f"user:{by.strip()}"
    if not by.strip() or len(actor) > MAX_ACTOR:
        raise typer.BadParameter(f"say who you are in 1 to {MAX_ACTOR - 5} characters", param_hint="--by")
    try:
        candidate = load_playbook(file)  # before the store is touched: a bad file changes nothing
    except InvalidPlaybook as exc:
        if not as_json:
            raise  # every issue printed, exit 1
        print_json({"file": str(file), "valid": False, "activated": False, "version": None,
                    "issues": exc.issues or [exc.message]})
        raise typer.Exit(EXIT_ERROR) from None
    app = state(ctx).app()
    before = playbooks.activation(app.engine)
    replaced = playbooks.effective_playbook(app)  # a file named with --playbook does not run anywhere else
    revoked: list[int] = []
    changed = before is None or before["version"] != candidate.version  # else it is active already: nothing to do
    if changed:
        app.playbook = replaced
        try:
            playbooks.activate(app, candidate.text, actor, filename=str(file), expected_active=replaced.version)
        except Conflict:
            now = playbooks.activation(app.engine) or {}
            raise Conflict(f"version {now.get('version')} was activated meanwhile (by {now.get('activated_by')}): "
                           "nothing changed; run the command again to activate over it") from None
        revoked = revoke_missing_people(app.engine, app.playbook, now=app.clock())  # as the API: dead for good
    activated = playbooks.activation(app.engine) or {}
    hand_back = playbooks.hand_back(app.engine, candidate)  # the reps it drops who still own open leads
    changes = playbooks.diff_lines(replaced.text, candidate.text, f"version {replaced.version} (replaced)",
                                   f"{file} (version {candidate.version})") if changed else []
    result = {
        "activated": changed, "file": str(file), "version": candidate.version, "name": candidate.model.name,
        "source": playbooks.stored_source(app.engine, candidate.version) or str(file),
        "activated_by": activated.get("activated_by"), "activated_at": activated.get("activated_at"),
        "previous": {"version": replaced.version, "name": replaced.model.name,
                     "source": playbooks.stored_source(app.engine, replaced.version) or replaced.source,
                     "activated_by": before["activated_by"] if before else None} if changed else None,
        **_counts(candidate),
        "added": sum(kind == "add" for kind, _ in changes), "removed": sum(kind == "del" for kind, _ in changes),
        "diff": [line for _, line in changes], "revoked_tokens": revoked, "hand_back": hand_back,
        "text": candidate.text,
    }
    if as_json:
        print_json(result)
        return
    _print_activation(result, changes)


def _print_activation(result: dict[str, Any], changes: list[tuple[str, str]]) -> None:
    version, name = result["version"], _plain(result["name"])
    if not result["activated"]:
        console.print(f"version {version} ('{name}') is already the active version (activated by "
                      f"{_plain(result['activated_by'])} at {when(result['activated_at'])} UTC): nothing changed",
                      highlight=False)
        _print_hand_back(result["hand_back"])
        return
    previous = result["previous"]
    console.print(f"[green]activated[/green] version {version} ('{name}', from {_plain(result['source'])}) by "
                  f"{_plain(result['activated_by'])} at {when(result['activated_at'])} UTC: {_counted(result)}",
                  highlight=False)
    if previous["version"] == version:
        console.print("it is the playbook that was running here, but no version had been activated: now the server "
                      "and the worker run it too", highlight=False)
    else:
        console.print(f"it replaces version {previous['version']} ('{_plain(previous['name'])}', from "
                      f"{_plain(previous['source'])}"
                      + (f", activated by {_plain(previous['activated_by'])})" if previous["activated_by"]
                         else "; no version had been activated)"), highlight=False)
    if changes:
        styles = {"add": "green", "del": "red", "hunk": "cyan"}
        for kind, line in changes:
            style = styles.get(kind)
            console.print(f"[{style}]{_plain(line)}[/{style}]" if style else _plain(line), highlight=False)
        added, removed = result["added"], result["removed"]
        console.print(f"{added} line{'s' if added != 1 else ''} added, {removed} removed", highlight=False)
    if result["revoked_tokens"]:
        console.print(f"revoked for good: token{'s' if len(result['revoked_tokens']) != 1 else ''} "
                      f"{', '.join(map(str, result['revoked_tokens']))} (their rep or team is not in this playbook)",
                      highlight=False)
    _print_hand_back(result["hand_back"])
    console.print("the server and the worker switch to it within seconds; stored leads keep their scores and stages "
                  "until `leadrelay rescore`", highlight=False)


def _print_hand_back(hand_back: list[dict[str, Any]]) -> None:
    for rep in hand_back:
        console.print(f"[yellow]{_plain(rep['message'])}[/yellow]", highlight=False)


@app.command("versions", help="Every stored playbook version, newest first, with where it came from; the active one "
                              "marked.")
def versions(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the versions as JSON."),
) -> None:
    from rich.table import Table

    from leadrelay.playbook import service as playbooks

    app = state(ctx).app()
    rows = playbooks.list_versions(app)
    activation = playbooks.activation(app.engine)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no playbook version is stored yet: one is stored when it is activated or decides something "
                      f"(this command runs {_plain(app.playbook.source)}, version {app.playbook.version})",
                      highlight=False)
        return
    table = Table("version", "name", "from", "stored", "", title="Playbook versions")
    for row in rows:
        mark = ""
        if row["active"] and activation is not None and activation["version"] == row["version"]:
            mark = f"active (by {_plain(activation['activated_by'])} at {when(activation['activated_at'])})"
        elif row["active"]:
            mark = "runs here"
        table.add_row(row["version"], _plain(row["name"]), _plain(row["source"]), when(row["created_at"]), mark)
    console.print(table)
    if activation is None:
        console.print("no version has been activated: each process runs its own playbook file "
                      "(leadrelay playbook activate FILE makes one the active version everywhere)", highlight=False)


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
    cli = state(ctx)
    app = cli.app()
    say_if_named_but_active(app, cli)  # the "active" side is the named file then: say so
    result = run_backtest(app, candidate, since=day)
    if not result["activities"]:
        raise InvalidInput("the store has no activities yet: there is no history to replay")
    if as_json:
        print_json(result)
        return
    print_backtest(result, show)


def say_if_named_but_active(app: App, cli: Any) -> None:
    """On stderr: the file named with --playbook is not the version the server and the worker run, when so."""
    from leadrelay.playbook import service as playbooks

    if cli.explicit_playbook:
        note = _named_but_active(playbooks.activation(app.engine), app.playbook, cli.settings.playbook)
        if note:
            err_console.print(note, markup=False, highlight=False)


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
    for team in sorted(set(active["leads_per_team"]) | set(candidate["leads_per_team"])):
        table.add_row(f"team {team}: leads", str(active["leads_per_team"].get(team, 0)),
                      str(candidate["leads_per_team"].get(team, 0)))
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
