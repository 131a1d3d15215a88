"""`leadrelay demo`: the whole engine on a realistic stream, in under a minute."""

from __future__ import annotations

from pathlib import Path

import typer

from leadrelay.entrypoints.cli.handoff_cmd import print_reps, print_route, print_sla
from leadrelay.entrypoints.cli.leads_cmd import print_explanation
from leadrelay.entrypoints.cli.output import console, err_console, print_json
from leadrelay.entrypoints.cli.reports_cmd import print_funnel
from leadrelay.entrypoints.cli.sales_cmd import print_forecast


def demo(
    database: str = typer.Option("sqlite:///leadrelay-demo.db", "--database", help="Where to keep the demo data."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the demo SQLite file first."),
    visitors: int = typer.Option(3000, "--visitors", min=10, help="Anonymous visitors to simulate."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same stream."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    from leadrelay.demo.run import DEMO_DAYS, run_demo
    from leadrelay.storage.database import connect

    engine = connect(database, check=False)  # a malformed URL is one error line, before anything is deleted
    url = engine.url
    engine.dispose()
    if fresh and url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    if not as_json:
        err_console.print(f"generating {visitors} visitors (seed {seed}) and ingesting them into {database} ...")
    from leadrelay.bootstrap import bootstrap
    from leadrelay.settings import Settings

    settings = Settings(database_url=database)
    result = run_demo(lambda clock, playbook: bootstrap(settings, playbook=playbook, clock=clock),
                      seed=seed, visitors=visitors)
    web = _web_tokens(database, result.reps)
    if as_json:
        print_json({"messages": result.messages, "ingest": result.report.as_dict(), "funnel": result.funnel,
                    "examples": result.examples, "sales": result.sales, "reps": result.reps, "sla": result.sla,
                    "handoffs": result.handoff_examples, "deals": result.deals, "spend": result.spend,
                    "alerts": result.alerts, "notifications": result.notifications, "segments": result.segments,
                    "web": web})
        return
    r = result.report
    console.print(f"ingested {r.received} messages: {r.accepted} accepted, {r.duplicates} duplicates (SDK retries), "
                  f"{r.rejected} rejected; {r.leads_created} leads created, {r.leads_merged} merged", highlight=False)
    for rejection in r.rejections[:5]:
        console.print(f"  rejected {rejection.position}: {rejection.reason}", highlight=False)
    print_funnel(result.funnel)
    titles = {"mql": "An MQL: why?", "sal": "A hand-raiser: straight to sales", "disqualified": "Disqualified: why?"}
    for lead in result.examples:
        console.rule(titles.get(lead["stage"], f"A lead in {lead['stage']}"))
        print_explanation(lead)
    console.rule("The handoff")
    done = ", ".join(f"{n} {what}" for what, n in sorted(result.sales.items()))
    console.print(f"sales floor and worker over {DEMO_DAYS} days: {done}")
    print_reps(result.reps)
    print_sla(result.sla)
    for example in result.handoff_examples:
        title = {"escalated": "An SLA breach, escalated: the lead is handed to the next rep",
                 "recycled": "A recycled lead: back to nurture, with a reason"}[example["title"]]
        console.rule(title)
        print_route(example["route"])
        print_explanation(example["lead"])
    console.rule("Deals: qualified with BANT, converted, won or lost")
    deals = {k: v for k, v in result.deals.items() if k != "forecast"}
    console.print(", ".join(f"{k}: {v}" for k, v in deals.items()))
    print_forecast(result.deals["forecast"])
    if result.alerts.get("example"):
        console.rule("Alerts: told at once, without moving the stage")
        fired = ", ".join(f"{n} {alert}" for alert, n in result.alerts["fired"].items())
        example = result.alerts["example"]
        console.print(f"fired: {fired}\nnewest: {example['lead']} at {example['at']}: {example['why']}",
                      highlight=False)
    stored = result.notifications.get("stored") or {}
    if stored:
        console.rule("Notifications: what the CRM and the email tool get (stored in the outbox; the demo sends none)")
        console.print(", ".join(f"{n} {event_type}" for event_type, n in stored.items()), highlight=False)
        for example in result.notifications["examples"]:
            console.print(f"{example['type']} → {example['to']}: {example['lead']} at {example['at']}: "
                          f"{example['why']}", highlight=False, soft_wrap=True)
    if result.segments.get("leads"):
        reasons = ", ".join(f"{n} {reason}" for reason, n in result.segments["by_reason"].items())
        console.print(f"recycled leads the email tool may nurture again (leadrelay segment export --segment recycled "
                      f"--not-suppressed): {result.segments['leads']} ({reasons})", highlight=False, soft_wrap=True)
    console.print(f"marketing spend: {result.spend['imported']} rows (month, source, campaign) imported from the "
                  "demo's spend.csv, for cost per lead and CPA in the sources report", highlight=False)
    console.rule("The web app")
    console.print(f"run: leadrelay serve --database {database}\nthen open http://127.0.0.1:8000/login "
                  "and sign in with one of these tokens (made for the demo):", highlight=False)
    for who, secret in web["tokens"].items():
        console.print(f"  {who}: {secret}", highlight=False, soft_wrap=True)


def _web_tokens(database: str, reps: list[dict]) -> dict:
    """Tokens to try the web app with: the rep with the most open leads, their team's manager, a marketer."""
    from datetime import UTC, datetime

    from leadrelay.access.tokens import create_token
    from leadrelay.storage.database import connect

    busiest = max(reps, key=lambda rep: (rep["open_leads"], rep["assigned_total"]))
    engine = connect(database)
    try:
        now = datetime.now(UTC)
        tokens = {f"rep {busiest['id']}": create_token(engine, "rep", now=now, rep_id=busiest["id"], label="demo")[1],
                  f"manager of {busiest['team']}": create_token(engine, "manager", now=now, team=busiest["team"],
                                                                 label="demo")[1],
                  "marketing": create_token(engine, "marketing", now=now, label="demo")[1],
                  "admin": create_token(engine, "admin", now=now, label="demo")[1]}
    finally:
        engine.dispose()
    return {"serve": f"leadrelay serve --database {database}", "login": "http://127.0.0.1:8000/login",
            "tokens": tokens}
