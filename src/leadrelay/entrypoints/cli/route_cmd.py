"""`leadrelay route simulate`: who a candidate playbook would have given leads to, with every candidate's verdict."""

from __future__ import annotations

from pathlib import Path

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, fmt, print_json, when

app = typer.Typer(help="Routing: try a candidate playbook's routing on real handoffs.", no_args_is_help=True)


@app.command("simulate", help="Route one lead (--lead) or the last N handoffs (--last) by a candidate playbook: who "
                              "would have got each, every candidate rep and why each was skipped, beside who did. "
                              "Nothing in the store changes.")
def simulate(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The candidate playbook file."),
    lead: str = typer.Option(None, "--lead", help="Lead id, email, user id or anonymous id."),
    last: int = typer.Option(None, "--last", min=1, help="The last N handoffs to sales, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    if (lead is None) == (last is None):  # a usage mistake: exit 2, as for every option typer checks
        raise typer.BadParameter("give one of --lead LEAD or --last N", param_hint="--lead / --last")
    from leadrelay.playbook.loader import load_playbook
    from leadrelay.playbook.route_simulation import simulate_routes

    candidate = load_playbook(file)  # raises InvalidPlaybook: every issue printed, exit 1
    result = simulate_routes(state(ctx).app(), candidate, lead=lead, last=last)
    if as_json:
        print_json(result)
        return
    for row in result["routes"]:
        sim, was = row["simulated"], row["actual"]
        mark = "changed" if row["changed"] else "same"
        console.print(f"lead {row['lead']} {fmt(row['email'])}, handed to {row['function']} at "
                      f"{when(row['opened_at'])}: [bold]{fmt(sim['owner'])}[/bold] ({sim['reason']}); really "
                      f"{fmt(was.get('owner'))} — {mark}", highlight=False)
        for candidate_rep in sim["candidates"]:
            console.print(f"    {candidate_rep['rep']}: {candidate_rep['skipped'] or 'eligible'}", highlight=False)
    if len(result["routes"]) > 1:
        from rich.table import Table

        table = Table("rep", "really", "candidate", title=f"{result['handoffs']} handoffs, {result['changed']} to "
                                                          "someone else")
        for rep, counts in result["per_rep"].items():
            table.add_row(rep, str(counts["actual"]), str(counts["simulated"]))
        console.print(table)
