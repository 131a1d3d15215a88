"""`leadrelay model train | evaluate | show`: the predictive score learned from the team's own outcomes."""

from __future__ import annotations

from typing import Any

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, err_console, print_json

app = typer.Typer(help="The predictive score: a probability learned from your own won and lost leads, beside the "
                       "rule scores (never instead of them).", no_args_is_help=True)

NAMES = {"model": "model", "rule_fit": "playbook fit score", "rule_engagement": "playbook engagement score",
         "naive_bayes": "naive Bayes (Odoo-style)"}


@app.command("evaluate", help="Measure a model trained on the outcomes now, beside the playbook's rule scores and "
                              "a naive-Bayes baseline, on the same leads; stores nothing.")
def evaluate(ctx: typer.Context,
             as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    from leadrelay.predict.service import evaluate as run

    report = run(state(ctx).app())
    if as_json:
        print_json(report)
    else:
        _print_report(report)


@app.command("train", help="Evaluate, then train on every outcome, keep the model as a new version (the active one) "
                           "and score every lead with it.")
def train(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    from leadrelay.predict.service import train as run

    result = run(state(ctx).app())
    if as_json:
        print_json(result)
        return
    _print_report(result["report"])
    moves = ", ".join(f"{n} to {stage}" for stage, n in result["moved"].items())
    console.print(f"model version {result['version']} is active; {result['scored']} leads scored"
                  + (f"; their new probabilities moved {sum(result['moved'].values())} ({moves})" if moves else "")
                  + " (`leadrelay leads show LEAD` shows a lead's probability and why)", highlight=False)


@app.command("show", help="A model version (the active one by default): its report, and every version.")
def show(ctx: typer.Context,
         version: int = typer.Argument(None, help="The version to show (default: the active one)."),
         as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    from leadrelay.predict.service import show as run

    found = run(state(ctx).app(), version)
    if as_json:
        print_json(found)
        return
    readiness = found["readiness"]
    kinds = ", ".join(f"{n} {kind}" for kind, n in readiness["by_kind"].items())
    if found["model"] is None:
        console.print(f"no model trained yet. {readiness['outcomes']} leads have a known outcome "
                      f"({readiness['converted']} converted){': ' + kinds if kinds else ''}.", highlight=False)
        if readiness["shortfall"]:
            console.print(f"Not yet enough: {readiness['shortfall']}.", highlight=False, soft_wrap=True)
        return
    model = found["model"]
    console.print(f"model version {model['version']}{' (active)' if model['active'] else ''}: trained "
                  f"{model['trained_at']} ({model['trigger']}) on {model['outcomes']} outcomes "
                  f"({model['converted']} converted) with playbook {model['playbook_version']}, {model['library']}",
                  highlight=False)
    console.print(f"outcomes in the store now: {readiness['outcomes']} ({kinds or 'none'})", highlight=False)
    if model["unusable"]:
        console.print(model["unusable"], highlight=False, soft_wrap=True)
    _print_report(model["report"])
    from rich.table import Table

    table = Table("version", "trained", "by", "outcomes", "ROC AUC", "fit score's", "active")
    for v in found["versions"]:
        table.add_row(str(v["version"]), v["trained_at"], v["trigger"], str(v["outcomes"]), _num(v["roc_auc"]),
                      _num(v["rule_fit_roc_auc"]), "yes" if v["active"] else "")
    console.print(table)


def _num(value: Any, places: int = 3) -> str:
    return "-" if value is None else f"{value:.{places}f}"


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    validation = report["validation"]
    console.print(f"{report['outcomes']} leads with an outcome, {report['converted']} converted "
                  f"({report['rate']:.1%}). Validation: {validation['method']} ({validation['note']}).",
                  highlight=False, soft_wrap=True)
    scores = Table("scored by", "ROC AUC", "PR AUC", "Brier", "calibration error", title="Ranking and calibration")
    for key, row in report["scores"].items():
        scores.add_row(NAMES[key], _num(row["roc_auc"]), _num(row["pr_auc"]), _num(row["brier"]),
                       _num(row["calibration_error"]))
    console.print(scores)
    lift = Table("decile", "leads", "converted", "rate", "lift", title="Lift by decile (highest probability first)")
    for row in report["lift"]:
        lift.add_row(str(row["decile"]), str(row["leads"]), str(row["converted"]), f"{row['rate']:.1%}",
                     f"{row['lift']:.2f}")
    console.print(lift)
    fields = ", ".join(f"{f['field']} {_num(f['roc_auc'])}" for f in report["fields"])
    console.print(f"Each field alone (ROC AUC): {fields}", highlight=False, soft_wrap=True)
    for name, why in report["left_out"].items():
        console.print(f"left out: {name}: {why}", highlight=False, soft_wrap=True)
    for note in report.get("notes", []):
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    for warning in report["warnings"]:
        err_console.print(f"warning: {warning}", highlight=False, soft_wrap=True)
