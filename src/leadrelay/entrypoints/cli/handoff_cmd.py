"""Handoff commands: rep actions on leads, the reps, the worker, suppression, accounts and SLA reports."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import typer

from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso
from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, err_console, fmt, print_json, when

reps_app = typer.Typer(help="Reps: see their load, and change them at run time.", no_args_is_help=True)
suppression_app = typer.Typer(help="Who marketing must not contact.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (companies).", no_args_is_help=True)
sla_app = typer.Typer(help="SLA compliance.", no_args_is_help=True)

REF = typer.Argument(..., help="Lead id, email, user id or anonymous id.")
JSON = typer.Option(False, "--json", help="Print as JSON.")


def _show(result: dict, as_json: bool, text: str) -> None:
    print_json(result) if as_json else console.print(text)


# --- rep actions on a lead (registered under `leadrelay leads`) --------------------------

def accept(ctx: typer.Context, ref: str = REF, rep: str = typer.Option(..., "--rep", help="The rep accepting."),
           as_json: bool = JSON) -> None:
    from leadrelay.handoff import service as rep_actions
    result = rep_actions.accept(state(ctx).app(), ref, rep=rep)
    _show(result, as_json, f"lead {result['id']} accepted by {rep}: stage {result['stage']}")


def touch(ctx: typer.Context, ref: str = REF, rep: str = typer.Option(..., "--rep", help="The rep who reached out."),
          kind: str = typer.Option(..., "--kind", help="call, email, meeting, social or other."),
          outcome: str = typer.Option(..., "--outcome", help="e.g. connected, voicemail, no_answer, meeting_booked."),
          note: str = typer.Option(None, "--note", help="Free text."), as_json: bool = JSON) -> None:
    from leadrelay.handoff import service as rep_actions
    result = rep_actions.log_touch(state(ctx).app(), ref, rep=rep, kind=kind, outcome=outcome, note=note)
    _show(result, as_json, f"lead {result['id']}: touch {result['touches']} logged ({kind}, {outcome})")


def reassign(ctx: typer.Context, ref: str = REF,
             to: str = typer.Option(None, "--to", help="The rep to give it to (default: routing picks another)."),
             by: str = typer.Option("cli", "--by", help="Who is doing this."), as_json: bool = JSON) -> None:
    from leadrelay.handoff import service as rep_actions
    result = rep_actions.reassign(state(ctx).app(), ref, actor=f"user:{by}", to=to)
    _show(result, as_json, f"lead {result['id']}: {fmt(result['from'])} → {fmt(result['to'])} ({result['reason']})"
          + (f"; note: {result['warning']}" if result.get("warning") else ""))


def explain_route(ctx: typer.Context, ref: str = REF, as_json: bool = JSON) -> None:
    from leadrelay.handoff.queries import route_explain

    result = route_explain(state(ctx).app(), ref)
    if as_json:
        print_json(result)
        return
    print_route(result)


def print_route(result: dict) -> None:
    """The human form of `leads route-explain`."""
    console.print(f"lead {result['id']} {fmt(result['email'])}: owner {fmt(result['owner'])}")
    for d in result["decisions"]:
        console.print(f"{when(d['at'])}  rule {fmt(d['rule'])} → team {fmt(d['team'])} → [bold]{fmt(d['owner'])}"
                      f"[/bold]  ({d['reason']}; by {d['actor']})")
        for c in d["candidates"]:
            console.print(f"    {c['rep']}: {c['skipped'] or 'eligible'}")
    for x in result["handoffs"]:
        status = x["status"] + (f" ({x['outcome']})" if x["outcome"] else "")
        console.print(f"handoff {x['id']} {x['kind']} {x['from']}→{x['to']}: " + ", ".join([status, *_deadlines(x)]))


def _deadlines(handoff: dict) -> list[str]:
    """Every deadline the handoff has, in the order they fall due: `accept by 2026-12-07 12:00`, `3 touches by ...`."""
    touches = f"{handoff['touches_required']} touches" if handoff.get("touches_required") else "touches"
    named = (("accept_due_at", "accept"), ("first_touch_due_at", "first touch"), ("touches_due_at", touches),
             ("follow_up_due_at", "no-show follow-up"))
    due = sorted((handoff[key], words) for key, words in named if handoff.get(key))
    return [f"{words} by {when(at)}" for at, words in due]


def queue(ctx: typer.Context, rep: str = typer.Argument(..., help="Rep id."), as_json: bool = JSON) -> None:
    from leadrelay.handoff.queries import rep_queue

    rows = rep_queue(state(ctx).app(), rep)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("lead", "email", "kind", "opened", "accept by", "first touch by", "touches", title=f"{rep}'s queue")
    for r in rows:
        table.add_row(str(r["lead_id"]), fmt(r["email"]), r["kind"], when(r["opened_at"]), when(r["accept_due_at"]),
                      when(r["first_touch_due_at"]), f"{r['touches']}/{fmt(r['touches_required'])}")
    console.print(table)


# --- reps --------------------------------------------------------------------------------

@reps_app.command("list", help="Every rep with capacity, load and overrides.")
def reps_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    from leadrelay.handoff.directory import list_reps

    rows = list_reps(state(ctx).app())
    if as_json:
        print_json(rows)
        return
    print_reps(rows)


def print_reps(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("rep", "team", "active", "open/capacity", "today/quota", "round robin", "weight", "away",
                  "timezone", caption="round robin: leads ever assigned plus booked meetings' credit")
    for r in rows:
        table.add_row(r["id"], r["team"], "yes" if r["active"] else "no", f"{r['open_leads']}/{fmt(r['capacity'])}",
                      f"{r['assigned_today']}/{fmt(r['daily_quota'])}", str(r["assigned_total"]), fmt(r["weight"]),
                      ", ".join(f"{a}..{b}" for a, b in r["away"]) or "-", r["timezone"])
    console.print(table)


@reps_app.command("set", help="Change a rep at run time: active, capacity, quota, weight.")
def reps_set(ctx: typer.Context, rep: str = typer.Argument(...),
             active: bool = typer.Option(None, "--active/--inactive", help="Take part in routing or not."),
             capacity: int = typer.Option(None, "--capacity", min=0), quota: int = typer.Option(None, "--quota", min=0),
             weight: float = typer.Option(None, "--weight", min=0.01),
             by: str = typer.Option("cli", "--by"), as_json: bool = JSON) -> None:
    from leadrelay.handoff.directory import set_rep

    result = set_rep(state(ctx).app(), rep, actor=f"user:{by}", active=active, capacity=capacity,
                     daily_quota=quota, weight=weight)
    _show(result, as_json, f"{rep}: active {result['active']}, capacity {fmt(result['capacity'])}, "
                           f"quota {fmt(result['daily_quota'])}, weight {fmt(result['weight'])}")


@reps_app.command("away", help="Mark a rep out of office from one date to another (inclusive).")
def reps_away(ctx: typer.Context, rep: str = typer.Argument(...),
              start: str = typer.Option(..., "--from", help="YYYY-MM-DD"), end: str = typer.Option(..., "--to"),
              by: str = typer.Option("cli", "--by"), as_json: bool = JSON) -> None:
    try:
        period = (date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as exc:
        raise InvalidInput(f"dates must be YYYY-MM-DD: {exc}") from None
    from leadrelay.handoff.directory import set_rep

    result = set_rep(state(ctx).app(), rep, actor=f"user:{by}", away=period)
    _show(result, as_json, f"{rep} away: {', '.join(f'{a}..{b}' for a, b in result['away'])}")


@reps_app.command("reset", help="Drop a rep's run-time overrides: back to the playbook.")
def reps_reset(ctx: typer.Context, rep: str = typer.Argument(...), by: str = typer.Option("cli", "--by"),
               as_json: bool = JSON) -> None:
    from leadrelay.handoff.directory import set_rep

    result = set_rep(state(ctx).app(), rep, actor=f"user:{by}", reset=True)
    _show(result, as_json, f"{rep}: back to the playbook")


# --- the worker, suppression, accounts, SLA ----------------------------------------------

def worker(ctx: typer.Context, once: bool = typer.Option(False, "--once", help="One sweep, then exit."),
           interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds between sweeps."),
           now: str = typer.Option(None, "--now", help="Pretend it is this moment (ISO-8601; with --once)."),
           as_json: bool = JSON) -> None:
    """The worker runs the playbook version activated last, like the server: a named file is what it
    runs until someone activates a version (`leadrelay.playbook.follow` states the rule)."""
    from leadrelay.playbook.follow import overruled
    from leadrelay.worker import run

    if now is not None and not once:
        raise typer.BadParameter("pretends one moment: use it with --once (a running worker follows the real "
                                 "clock)", param_hint="--now")
    cli = state(ctx)
    app = cli.app()
    clock = app.clock
    if now is not None:
        try:
            moment = datetime.fromisoformat(now)
        except ValueError:
            raise typer.BadParameter(f"not an ISO-8601 moment: {now!r}", param_hint="--now") from None
        if moment.tzinfo is None:
            raise typer.BadParameter("needs a timezone, e.g. 2026-10-01T09:00:00Z", param_hint="--now")
        clock = lambda: moment  # noqa: E731
    note = overruled(app.engine, app.playbook, cli.settings.playbook) if cli.explicit_playbook else None
    if note:
        err_console.print(note, markup=False, highlight=False)

    def report(sweep) -> None:
        if as_json:
            print_json(sweep.as_dict())
        elif once:
            console.print(f"{utc_iso(clock())} {sweep.summary()}", highlight=False)
        elif sweep.timers or sweep.assigned or sweep.stale:
            err_console.print(f"{utc_iso(clock())} {sweep.summary()}", highlight=False)  # a running worker logs

    with _logging_to_stderr():
        run(app, interval=interval, once=once, clock=clock, on_sweep=report)  # returns on Ctrl-C or SIGTERM
    if not once:
        err_console.print("worker stopped")


@contextmanager
def _logging_to_stderr() -> Iterator[None]:
    """LeadRelay's log lines (a playbook switch, a failed sweep) on stderr, as the worker's other lines: UTC time first.

    Taken off again afterwards: a test may run many commands in one process, each with its own stderr.
    """
    import logging
    import time

    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger = logging.getLogger("leadrelay")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@suppression_app.command("export", help="The suppression list for the email tool (or ads, calls).")
def suppression_export(ctx: typer.Context, channel: str = typer.Option(None, "--channel", help="email, ads or calls."),
                       as_json: bool = JSON) -> None:
    from leadrelay.handoff.queries import suppression_list

    rows = suppression_list(state(ctx).app(), channel)
    if as_json:
        print_json(rows)
        return
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # quoted as CSV needs: a reason may hold a comma or a quote
    writer.writerow(["email", "channel", "reason", "permanent", "since"])
    writer.writerows([r["email"] or "", r["channel"], r["reason"], str(r["permanent"]).lower(), r["since"]]
                     for r in rows)
    typer.echo(out.getvalue(), nl=False)


@accounts_app.command("owner", help="Make a rep the owner of an account: its new leads go to them.")
def accounts_owner(ctx: typer.Context, account: str = typer.Argument(..., help="Account id, group id or domain."),
                   rep: str = typer.Argument(...), by: str = typer.Option("cli", "--by"), as_json: bool = JSON) -> None:
    from leadrelay.handoff.directory import set_account_owner

    result = set_account_owner(state(ctx).app(), account, rep, actor=f"user:{by}")
    _show(result, as_json, f"account {result['account']} ({fmt(result['name'] or result['domain'])}): owner {rep}")


@sla_app.command("report", help="Sales SLA compliance per policy and deadline, counted by lead as `report sla` does; "
                                  "MQLs this month vs the target.")
def sla_report_cmd(ctx: typer.Context, as_json: bool = JSON) -> None:
    from leadrelay.reports.catalog import sla_summary

    result = sla_summary(state(ctx).app())
    if as_json:
        print_json(result)
        return
    print_sla(result)


def print_sla(result: dict) -> None:
    from rich.table import Table

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    table = Table("policy", "deadline", "due", "met", "breached", "pending", "closed before due", "compliance",
                  title="Sales SLAs, counted by lead")
    for r in result["sales"]:
        table.add_row(r["policy"], r["deadline"], str(r["due"]), str(r["met"]), str(r["breached"]), str(r["pending"]),
                      str(r["closed_before_due"]), rate(r["compliance"]))
    console.print(table)
    for p in result["policies"]:
        console.print(f"{p['policy']}: {p['handoffs']} handoff{'' if p['handoffs'] == 1 else 's'}, "
                      f"{p['breached']} breached, compliance {rate(p['compliance'])}", highlight=False)
    m = result["marketing"]
    console.print(f"marketing {m['month']}: {m['mqls']} MQLs of {fmt(m['target'])} promised", highlight=False)
