"""Sales commands: `qualify`, `leads sql`, `convert`, `opps list|show|move|probability|update|win|lose`, `forecast`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import overload

import typer

from leadrelay.core.errors import InvalidInput
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import EXIT_REJECTED, console, err_console, fmt, print_json, when

opps_app = typer.Typer(help="Opportunities (deals): list, show, move through stages, win or lose.",
                       no_args_is_help=True)
forecast_app = typer.Typer(help="The sales forecast, and its weekly snapshots.", invoke_without_command=True)

REF = typer.Argument(..., help="Lead id, email, user id or anonymous id.")
DEAL = typer.Argument(..., help="Opportunity id.")
JSON = typer.Option(False, "--json", help="Print as JSON.")
REP = typer.Option(None, "--rep", help="Act as this rep: refused unless the rep owns it.")
BY = typer.Option(None, "--by", help="Act as this person without the owner check (e.g. a manager).")
VERSION = typer.Option(None, "--if-version", help="Fail if it is no longer at this version.")


@overload
def _date(value: str, option: str) -> date: ...
@overload
def _date(value: str | None, option: str) -> date | None: ...
def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{option}: expected a date like 2027-02-01, got {value!r}") from None


def _who(rep: str | None, by: str | None) -> dict:
    if rep is None and by is None:
        raise InvalidInput("say who is acting: --rep (the owner) or --by (a person, e.g. a manager)")
    return {"rep": rep, "actor": f"user:{by}" if by else None}


def _warn(result: dict) -> None:
    for warning in result.get("warnings") or []:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


# --- qualification and the SQL gate -------------------------------------------------------------

def qualify(ctx: typer.Context, ref: str = REF,
            answer: list[str] = typer.Option(None, "--answer", "-a",
                                             help="criterion=answer, e.g. budget=yes or timeline=2027-01-15 "
                                                  "(repeat it; none: just show where the lead stands)."),
            rep: str = typer.Option(None, "--rep", help="The rep answering: refused unless they own the lead."),
            by: str = BY, as_json: bool = JSON) -> None:
    """Record answers to the playbook's framework; show every criterion met, missing or failed, and the SQL gate."""
    from leadrelay.sales.qualify import qualification_status, record_answers

    app = state(ctx).app()
    if answer:
        pairs = []
        for item in answer:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise InvalidInput(f"--answer {item!r}: write criterion=answer, e.g. budget=yes")
            pairs.append((key.strip(), value))
        result = record_answers(app, ref, pairs, **_who(rep, by))
    else:
        result = qualification_status(app, ref)
    if as_json:
        print_json(result)
        return
    print_qualification(result)


def print_qualification(result: dict) -> None:
    from rich.table import Table

    fw = result["framework"]
    console.print(f"[bold]Lead {result['id']}[/bold] {fmt(result['email'])} — stage {fmt(result['stage'])}, owner "
                  f"{fmt(result['owner'])} — {fw['name']}", highlight=False)
    table = Table("criterion", "question", "met when", "answer", "by", "at", "status")
    for c in result["criteria"]:
        colour = {"met": "green", "failed": "red"}.get(c["status"], "yellow")
        table.add_row(c["id"], c["question"], c["met_when"], fmt(c["answer"]), fmt(c["answered_by"]),
                      when(c["answered_at"]), f"[{colour}]{c['status']}[/{colour}]")
    console.print(table)
    console.print(f"meeting booked: {'yes' if result['meeting_booked'] else 'no'} · product-qualified (PQL): "
                  f"{'yes' if result['product_qualified'] else 'no'}", highlight=False)
    gate = result["sql_gate"]
    if gate["passed"]:
        console.print(f"SQL gate: [green]met[/green] — {gate['summary']}", highlight=False)
    else:
        console.print("SQL gate: [red]not met[/red]", highlight=False)
        for reason in gate["reasons"]:
            console.print(f"  - {reason}", highlight=False)


def advance(ctx: typer.Context, ref: str = REF,
            rep: str = typer.Option(..., "--rep", help="The rep who owns the lead."),
            version: int = VERSION, as_json: bool = JSON) -> None:
    """Move a sales-accepted lead to SQL: refused, with every reason, until the playbook's SQL gate is met."""
    from leadrelay.sales.qualify import advance_to_sql

    result = advance_to_sql(state(ctx).app(), ref, rep=rep, expected_version=version)
    if as_json:
        print_json(result)
        return
    console.print(f"lead {result['id']}: {result['from']} → {result['to']} ({result['gate']}); "
                  f"owner now {fmt(result['owner'])}", highlight=False)


# --- conversion ---------------------------------------------------------------------------------

def convert(ctx: typer.Context, ref: str = REF,
            rep: str = typer.Option(None, "--rep", help="The rep converting: refused unless they own the lead."),
            name: str = typer.Option(..., "--name", help="The opportunity's name, e.g. 'Acme — 50 seats'."),
            amount: str = typer.Option(..., "--amount", help="Deal value, e.g. 12000 or 12000.50 (not negative)."),
            currency: str = typer.Option(None, "--currency", help="ISO 4217 code the playbook allows "
                                                                  "(default: the playbook's default currency)."),
            close_date: str = typer.Option(..., "--close-date", help="Expected close date, YYYY-MM-DD."),
            stage: str = typer.Option(None, "--stage", help="Starting deal stage (default: the playbook's first)."),
            owner: str = typer.Option(None, "--owner", help="Who owns the deal (default: --rep)."),
            account_domain: str = typer.Option(None, "--account-domain",
                                               help="The company's domain, when the contact's email does not say "
                                                    "it (webmail)."),
            allow_past_close: bool = typer.Option(False, "--allow-past-close",
                                                  help="Accept an expected close date in the past (with a warning)."),
            by: str = BY, as_json: bool = JSON) -> None:
    """Convert an SQL into an opportunity on its company's account; the lead moves to `opportunity`."""
    from leadrelay.sales import service as opps
    result = opps.convert(state(ctx).app(), ref, name=name, amount=amount, currency=currency,
                          close_date=_date(close_date, "--close-date"), stage=stage, owner=owner,
                          account_domain=account_domain, allow_past_close=allow_past_close,
                          rep=rep, actor=f"user:{by}" if by else None)
    _warn(result)
    if as_json:
        print_json(result)
        return
    deal, account = result["opportunity"], result["account"]
    console.print(f"lead {result['lead']['id']} converted ({result['lead']['stage']}): opportunity {deal['id']} "
                  f"'{deal['name']}' {_money(deal['amount'], deal['currency'])}, {deal['stage']} "
                  f"({fmt(deal['probability'])}%), closes {deal['close_date']}, owner {deal['owner']}", highlight=False)
    console.print(f"account {account['id']} {fmt(account['name'])} ({fmt(account['domain'])})"
                  + (", created" if account["created"] else "")
                  + (f", owner now {deal['owner']}" if account["owner_set"] else ""), highlight=False)


# --- opportunities ------------------------------------------------------------------------------

@opps_app.command("list", help="Opportunities, soonest expected close first.")
def opps_list(ctx: typer.Context,
              status: str = typer.Option("open", "--status", help="open, won, lost or all."),
              owner: str = typer.Option(None, "--owner", help="Only this rep's."),
              account: str = typer.Option(None, "--account", help="Only this account (id or domain)."),
              limit: int = typer.Option(100, "--limit", "-n", min=1), as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    rows = opps.list_opportunities(state(ctx).app(), status=None if status == "all" else status, owner=owner,
                                   account=account, limit=limit)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "name", "account", "owner", "stage", "prob.", "category", "amount", "weighted", "close",
                  "status")
    for r in rows:
        table.add_row(str(r["id"]), r["name"], fmt(r["account"]["name"] or r["account"]["domain"]), r["owner"],
                      r["stage"], f"{fmt(r['probability'])}%", r["forecast_category"],
                      _money(r["amount"], r["currency"]), "-" if r["weighted"] is None else f"{r['weighted']:,.2f}",
                      r["close_date"], r["status"] + (f" ({r['lost_reason']})" if r["lost_reason"] else ""))
    console.print(table)


@opps_app.command("import-won", help="Import closed-won deals from a CSV export: each row a deal won on its day.")
def opps_import_won(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The CSV file (a header row, then one deal per row)."),
    id_column: str = typer.Option(..., "--id-column", help="Column naming the lead: its id, email or user id."),
    won_column: str = typer.Option(..., "--won-column", help="Column holding when the deal was won (ISO 8601)."),
    owner: str = typer.Option(..., "--owner", help="The rep who owns the imported deals."),
    amount_column: str = typer.Option(None, "--amount-column", help="Column holding the amount (default 0)."),
    name_column: str = typer.Option(None, "--name-column", help="Column holding the deal's name."),
    currency: str = typer.Option(None, "--currency", help="The deals' currency (default: the playbook's)."),
    source: str = typer.Option("deals-import", "--source", help="Named in the history as import:SOURCE."),
    as_json: bool = JSON,
) -> None:
    from leadrelay.sales.imports import import_won_deals

    report = import_won_deals(state(ctx).app(), file, id_column=id_column, won_column=won_column, owner=owner,
                              amount_column=amount_column, name_column=name_column, currency=currency, source=source)
    if as_json:
        print_json(report.as_dict())
        if report.rejected:
            raise typer.Exit(EXIT_REJECTED)
        return
    console.print(f"{report.rows} rows: {report.won} deals won, {len(report.rejected)} rejected; the leads are "
                  "customers from the day their deal was won (recorded as history: nobody was told)",
                  highlight=False)
    for rejection in report.rejected[:20]:
        err_console.print(f"row {rejection['row']} ({fmt(rejection['id'])}): {rejection['reason']}", highlight=False)
    if len(report.rejected) > 20:
        err_console.print(f"... and {len(report.rejected) - 20} more (--json lists them all)", highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


@opps_app.command("show", help="One opportunity with its account, contact and every change (who, when, what).")
def opps_show(ctx: typer.Context, deal: str = DEAL, as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    result = opps.show_opportunity(state(ctx).app(), deal)
    if as_json:
        print_json(result)
        return
    print_deal(result)
    contact = result["contact"]
    if contact:
        console.print(f"contact: lead {contact['id']} {fmt(contact['email'])} ({fmt(contact['stage'])})",
                      highlight=False)
    from rich.table import Table

    table = Table("at", "by", "action", "changes", "reason", title="History")
    for h in result["history"]:
        changes = ", ".join(f"{k} {fmt(old)} → {fmt(new)}" for k, (old, new) in h["changes"].items())
        table.add_row(when(h["at"]), h["actor"], h["action"], changes, fmt(h["reason"]))
    console.print(table)


def print_deal(deal: dict) -> None:
    override = " (override)" if deal["probability_override"] is not None else ""
    console.print(f"[bold]opportunity {deal['id']}[/bold] '{deal['name']}' — "
                  f"{fmt(deal['account']['name'] or deal['account']['domain'])}, owner {deal['owner']}: "
                  f"{_money(deal['amount'], deal['currency'])}, {deal['stage']} {fmt(deal['probability'])}%{override}, "
                  f"{deal['forecast_category']}, closes {deal['close_date']}, {deal['status']}"
                  + (f" ({deal['lost_reason']})" if deal["lost_reason"] else ""), highlight=False)


def _deal_done(result: dict, as_json: bool) -> None:
    _warn(result)
    if as_json:
        print_json(result)
        return
    print_deal(result["opportunity"])
    lead = result.get("lead")
    if lead:
        console.print(f"lead {lead['id']}: now {lead['stage']}", highlight=False)


@opps_app.command("move", help="Move an open deal to another stage of the playbook.")
def opps_move(ctx: typer.Context, deal: str = DEAL, stage: str = typer.Argument(..., help="A deal stage id."),
              rep: str = REP, by: str = BY, version: int = VERSION, as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    _deal_done(opps.move_opportunity(state(ctx).app(), deal, stage, expected_version=version, **_who(rep, by)),
               as_json)


@opps_app.command("probability", help="Override a deal's probability (percent), or --clear the override.")
def opps_probability(ctx: typer.Context, deal: str = DEAL,
                     percent: str = typer.Argument(None, help="0 to 100."),
                     clear: bool = typer.Option(False, "--clear", help="Back to the stage's default."),
                     rep: str = REP, by: str = BY, version: int = VERSION, as_json: bool = JSON) -> None:
    if (percent is None) != clear:
        raise InvalidInput("give a percentage, or --clear")
    from leadrelay.sales import service as opps
    _deal_done(opps.set_probability(state(ctx).app(), deal, None if clear else percent, expected_version=version,
                                    **_who(rep, by)), as_json)


@opps_app.command("update", help="Change a deal's name, amount, currency, expected close date or owner.")
def opps_update(ctx: typer.Context, deal: str = DEAL,
                name: str = typer.Option(None, "--name"), amount: str = typer.Option(None, "--amount"),
                currency: str = typer.Option(None, "--currency"),
                close_date: str = typer.Option(None, "--close-date", help="YYYY-MM-DD"),
                owner: str = typer.Option(None, "--owner", help="Give the deal to this rep."),
                allow_past_close: bool = typer.Option(False, "--allow-past-close"),
                rep: str = REP, by: str = BY, version: int = VERSION, as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    _deal_done(opps.update_opportunity(state(ctx).app(), deal, name=name, amount=amount, currency=currency,
                                       close_date=_date(close_date, "--close-date"), owner=owner,
                                       allow_past_close=allow_past_close, expected_version=version,
                                       **_who(rep, by)), as_json)


@opps_app.command("win", help="Close a deal as won: its lead becomes a customer.")
def opps_win(ctx: typer.Context, deal: str = DEAL, rep: str = REP, by: str = BY, version: int = VERSION,
             as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    _deal_done(opps.win_opportunity(state(ctx).app(), deal, expected_version=version, **_who(rep, by)), as_json)


@opps_app.command("lose", help="Close a deal as lost with a reason from the playbook (its lead may go to nurture).")
def opps_lose(ctx: typer.Context, deal: str = DEAL,
              reason: str = typer.Option(..., "--reason", "-r", help="One of the playbook's lost reasons."),
              rep: str = REP, by: str = BY, version: int = VERSION, as_json: bool = JSON) -> None:
    from leadrelay.sales import service as opps
    _deal_done(opps.lose_opportunity(state(ctx).app(), deal, reason, expected_version=version, **_who(rep, by)),
               as_json)


# --- the forecast -------------------------------------------------------------------------------

@forecast_app.callback()
def forecast(ctx: typer.Context,
             by: str = typer.Option(None, "--by", help="Group by month (of the close date), rep, team or category."),
             as_json: bool = JSON) -> None:
    """Open pipeline, weighted pipeline, commit, best case and closed won; how it moved since each snapshot."""
    if ctx.invoked_subcommand is not None:
        return
    from leadrelay.sales.forecast_snapshots import current_forecast

    result = current_forecast(state(ctx).app(), by=by)
    if as_json:
        print_json(result)
        return
    print_forecast(result)


def print_forecast(result: dict) -> None:
    """The human form of `leadrelay forecast`."""
    if not result["totals"]:
        console.print(f"no opportunities yet (as of {result['as_of']}): `leadrelay convert` opens one")
        return
    from rich.table import Table

    by = result["by"]
    table = Table(by or "", "currency", "open pipeline", "weighted", "commit", "best case", "closed won",
                  "open/won/lost deals", title=f"Forecast as of {result['as_of']}")
    rows = result["rows"] if by else []
    for r in rows + [{"group": "total"} | t for t in result["totals"]]:
        table.add_row(r["group"], r["currency"], f"{r['open_pipeline']:,.2f}", f"{r['weighted_pipeline']:,.2f}",
                      f"{r['commit']:,.2f}", f"{r['best_case']:,.2f}", f"{r['closed_won']:,.2f}",
                      f"{r['open_deals']}/{r['won_deals']}/{r['lost_deals']}")
    console.print(table)
    if result["snapshots"]:
        story = Table("week", "currency", "weighted then", "weighted now Δ", "commit then", "commit won since",
                      "open then", "won since", "lost since", "still open", title="Snapshots: movement and accuracy")
        for s in result["snapshots"]:
            story.add_row(s["week"], s["currency"], f"{s['weighted_pipeline']:,.2f}",
                          f"{s['change_since']['weighted_pipeline']:+,.2f}", f"{s['commit_then']:,.2f}",
                          f"{s['commit_won_since']:,.2f}", f"{s['open_then']:,.2f}", f"{s['won_since']:,.2f}",
                          f"{s['lost_since']:,.2f}", f"{s['still_open']:,.2f}")
        console.print(story)


@forecast_app.command("snapshot", help="Store this ISO week's forecast snapshot (again in the same week: no change).")
def forecast_snapshot(ctx: typer.Context, by: str = typer.Option("cli", "--by", help="Who takes it."),
                      as_json: bool = JSON) -> None:
    from leadrelay.sales.forecast_snapshots import take_snapshot

    result = take_snapshot(state(ctx).app(), actor=f"user:{by}")
    if as_json:
        print_json(result)
        return
    verb = "stored" if result["created"] else "already stored"
    console.print(f"forecast snapshot for {result['week']} {verb} ({result['open_deals']} open deals, "
                  f"taken {when(result['taken_at'])})", highlight=False)


__all__ = ["advance", "convert", "forecast_app", "opps_app", "qualify"]
