"""`leadrelay init` and `leadrelay playbook check|show`."""

from __future__ import annotations

from pathlib import Path

import typer

from leadrelay.core.errors import InvalidInput
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, err_console, print_json

app = typer.Typer(help="Check and show playbooks.", no_args_is_help=True)


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
    from leadrelay.playbook.loader import load_playbook

    playbook = load_playbook(file)  # raises InvalidPlaybook: every issue printed, exit 1
    rules = playbook.rules
    summary = {
        "file": str(file), "valid": True, "version": playbook.version, "name": playbook.model.name,
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
