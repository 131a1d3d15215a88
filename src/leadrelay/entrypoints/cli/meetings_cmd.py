"""`leadrelay meetings`: book a meeting with a lead, then reschedule it, mark it held or a no-show, or cancel it."""

from __future__ import annotations

from datetime import datetime

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, fmt, print_json, when

app = typer.Typer(help="Meetings with leads: booked, rescheduled, held, no-show, canceled.", no_args_is_help=True)

MEETING = typer.Argument(..., help="The meeting's id (leadrelay meetings list LEAD).")
REP = typer.Option(None, "--rep", help="The rep doing this (must own the lead); leave out for a manager or admin.")
BY = typer.Option("cli", "--by", help="Who is doing this, when not a rep.")
AT = typer.Option(None, "--at", help="When it happened (ISO-8601 with a zone; default now).")
JSON = typer.Option(False, "--json", help="Print as JSON.")


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 moment: {value!r}", param_hint=option) from None
    if moment.tzinfo is None:
        raise typer.BadParameter("needs a timezone, e.g. 2026-10-01T09:00:00Z", param_hint=option)
    return moment


def _show(result: dict, as_json: bool, verb: str) -> None:
    if as_json:
        print_json(result)
        return
    console.print(f"meeting {result['id']} of lead {result['lead_id']} {verb}: {result['status']}, "
                  f"starts {when(result['starts_at'])}, host {fmt(result['host'])}", highlight=False)


def _actor(rep: str | None, by: str) -> str:
    return f"user:{rep}" if rep else f"user:{by}"


@app.command("book", help="Book a meeting with a lead (it counts as 'meeting booked' for the SQL gate).")
def book(ctx: typer.Context, ref: str = typer.Argument(..., help="Lead id, email, user id or anonymous id."),
         starts: str = typer.Option(None, "--starts", help="When it starts (ISO-8601 with a zone)."),
         host: str = typer.Option(None, "--host", help="The rep who meets the lead (default: the owner)."),
         external_id: str = typer.Option(None, "--id", help="The scheduler's id for it."),
         rep: str = REP, by: str = BY, at: str = AT, as_json: bool = JSON) -> None:
    from leadrelay.handoff import meeting_service

    result = meeting_service.book(state(ctx).app(), ref, actor=_actor(rep, by), rep=rep, host=host,
                                  starts_at=_moment(starts, "--starts"), external_id=external_id,
                                  at=_moment(at, "--at"))
    _show(result, as_json, "booked")


def _step(ctx: typer.Context, meeting: int, step: str, rep: str | None, by: str, at: str | None, as_json: bool,
          verb: str, starts: str | None = None) -> None:
    from leadrelay.handoff import meeting_service

    result = meeting_service.change(state(ctx).app(), meeting, step, actor=_actor(rep, by), rep=rep,
                                    starts_at=_moment(starts, "--starts"), at=_moment(at, "--at"))
    _show(result, as_json, verb)


@app.command("reschedule", help="Move a booked meeting to a new time.")
def reschedule(ctx: typer.Context, meeting: int = MEETING,
               starts: str = typer.Option(..., "--starts", help="The new time (ISO-8601 with a zone)."),
               rep: str = REP, by: str = BY, at: str = AT, as_json: bool = JSON) -> None:
    _step(ctx, meeting, "reschedule", rep, by, at, as_json, "rescheduled", starts)


@app.command("held", help="The meeting took place: a touch (it meets the first-touch clock).")
def held(ctx: typer.Context, meeting: int = MEETING, rep: str = REP, by: str = BY, at: str = AT,
         as_json: bool = JSON) -> None:
    _step(ctx, meeting, "held", rep, by, at, as_json, "held")


@app.command("no-show", help="The lead did not come: 'meeting booked' no longer counts, and the owner owes a "
                             "follow-up (the SLA policy's follow_up_within).")
def no_show(ctx: typer.Context, meeting: int = MEETING, rep: str = REP, by: str = BY, at: str = AT,
            as_json: bool = JSON) -> None:
    _step(ctx, meeting, "no_show", rep, by, at, as_json, "marked a no-show")


@app.command("cancel", help="Cancel a booked meeting.")
def cancel(ctx: typer.Context, meeting: int = MEETING, rep: str = REP, by: str = BY, at: str = AT,
           as_json: bool = JSON) -> None:
    _step(ctx, meeting, "cancel", rep, by, at, as_json, "canceled")


@app.command("list", help="A lead's meetings, oldest booking first.")
def list_meetings(ctx: typer.Context, ref: str = typer.Argument(..., help="Lead id, email, user id or anonymous id."),
                  as_json: bool = JSON) -> None:
    from leadrelay.handoff.meeting_service import meetings_of

    rows = meetings_of(state(ctx).app(), ref)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no meetings")
        return
    from rich.table import Table

    table = Table("id", "status", "starts", "host", "booked", "rescheduled", "credit", title="Meetings")
    for m in rows:
        table.add_row(str(m["id"]), m["status"].replace("_", "-"), when(m["starts_at"]), fmt(m["host"]),
                      f"{when(m['booked_at'])} ({m['source']})", f"{m['reschedules']}x" if m["reschedules"] else "",
                      f"{m['credit']} to {m['credited_to']}" if m["credit"] else "")
    console.print(table)
