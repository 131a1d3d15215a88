"""`leadrelay leads list|show|recycle|reject|disqualify|reopen`."""

from __future__ import annotations

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, fmt, print_json, when
from leadrelay.lead.stages import Transition

app = typer.Typer(help="Look at leads and move them by hand.", no_args_is_help=True)


@app.command("list", help="Known leads, most recently active first.")
def list_(
    ctx: typer.Context,
    stage: str = typer.Option(None, "--stage", "-s", help="Only leads in this stage (e.g. mql)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="How many to show."),
    anonymous: bool = typer.Option(False, "--anonymous", help="Include anonymous visitors."),
    segment: str = typer.Option(None, "--segment", help="new or recycled (sent back by sales, come round again)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.lead.queries import list_leads

    if segment not in (None, "new", "recycled"):
        raise typer.BadParameter(f"no segment '{segment}' (new or recycled)", param_hint="--segment")
    app = state(ctx).app(playbook_on_first_use=True)  # an empty list evaluates no rule
    rows = list_leads(app, stage=stage, limit=limit, include_anonymous=anonymous, segment=segment)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table("id", "email", "stage", "persona", "fit", "engagement", "owner", "last activity")
    for r in rows:
        table.add_row(str(r["id"]), fmt(r["email"]), fmt(r["stage"]), fmt(r["persona"]), fmt(r["fit_score"]),
                      fmt(r["engagement_score"]), fmt(r["owner"]), when(r["last_activity_at"]))
    console.print(table)


@app.command("next-fields", help="The fields to ask a lead for next (progressive profiling), most telling first.")
def next_fields(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Lead id, email, user id or anonymous id."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.sales.queries import next_fields_of

    found = next_fields_of(state(ctx).app(), ref)
    if as_json:
        print_json(found)
        return
    if not found["fields"]:
        console.print(f"lead {found['id']}: nothing left to ask (the playbook reads nothing it does not know)",
                      highlight=False)
        return
    from rich.table import Table

    table = Table("field", "could", "fit points at stake", "read by",
                  title=f"lead {found['id']} ({found['stage'] or 'anonymous'}): ask next")
    for ask in found["fields"]:
        table.add_row(ask["field"], ask["could"] or "-", f"{ask['points']:g}", "; ".join(ask["why"]))
    console.print(table)


@app.command("show", help="One lead: traits, scores with the rule behind every point, stage history, activities.")
def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="Lead id, email, user id or anonymous id."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.lead.queries import explain_lead
    from leadrelay.predict.queries import with_prediction

    app = state(ctx).app(playbook_on_first_use=True)
    lead = with_prediction(app, explain_lead(app, ref))
    if as_json:
        print_json(lead)
        return
    print_explanation(lead)


def print_explanation(lead: dict) -> None:
    """The human form of `leads show`: why this lead is where it is."""
    from rich.table import Table

    account = lead["account"]
    console.print(f"[bold]Lead {lead['id']}[/bold] {fmt(lead['email'])} — stage [bold]{fmt(lead['stage'])}[/bold]"
                  f" ({lead['segment']}), owner {fmt(lead.get('owner'))}, persona {fmt(lead['persona'])}, "
                  f"country {fmt(lead['country'])}, source {fmt(lead.get('source'))}"
                  + (f", account {fmt(account['name'] or account['group_id'])}" if account else ""), highlight=False)
    if lead["disqualified_by"]:
        console.print(f"disqualified by rule: {lead['disqualified_by']}", highlight=False)
    console.print(f"fit {fmt(lead['fit_score'])}, engagement now {fmt(lead['engagement_score'])}", highlight=False)
    if lead.get("predicted"):
        predicted = lead["predicted"]
        why = "; ".join(f"{f['field']} {fmt(f['value'])} {f['effect'] * 100:+.0f} points (against {fmt(f['typical'])})"
                        for f in predicted["factors"])
        console.print(f"predicted: {predicted['probability']:.0%} likely to convert (model version "
                      f"{predicted['model_version']}, {when(predicted['scored_at'])})" + (f": {why}" if why else "")
                      + (f" — not used: {predicted['unusable']}" if predicted.get("unusable") else ""),
                      highlight=False, soft_wrap=True)
    for problem in lead.get("unreadable", []):
        console.print(f"cannot use: {problem}", highlight=False, soft_wrap=True, markup=False)
    if lead.get("ask_next"):
        asks = ", ".join(a["field"] + (f" (could {a['could']})" if a["could"] else "") for a in lead["ask_next"])
        console.print(f"ask next: {asks}  (leadrelay leads next-fields {lead['id']})", highlight=False)
    breakdown = lead["score_breakdown"]
    table = Table("score", "rule", "points awarded", "points now", "times", title="Why these scores")
    for item in breakdown["fit"]:
        table.add_row("fit", item["rule"], fmt(item["points"]), fmt(item["points"]), "")
    for item in breakdown["engagement"]:
        table.add_row("engagement", item["rule"], fmt(item["awarded"]), fmt(item["now"]), str(item["times"]))
    console.print(table)
    if lead.get("alerts"):
        fired = Table("at", "alert", "why", title="Alerts fired")
        for alert in lead["alerts"]:
            fired.add_row(when(alert["at"]), alert["alert"], alert["why"] + ("" if alert["told"] else " (not told)"))
        console.print(fired)
    for sequence, done in (lead.get("sequences") or {}).items():
        console.print(f"sequence {sequence}: {done['sent']} of {done['emails']} emails delivered, {done['engaged']} "
                      f"opened or clicked" + (" (completed)" if done["completed"] else ""), highlight=False)
    if lead.get("followups"):
        waits = Table("follow-up", "status", "started", "due", "closed", title="Follow-ups (absence timers)")
        for wait in lead["followups"]:
            waits.add_row(wait["followup"], wait["status"], when(wait["started_at"]), when(wait["due_at"]),
                          when(wait["closed_at"]))
        console.print(waits)
    if lead.get("meetings"):
        meetings = Table("id", "status", "starts", "host", "booked", "follow-up", title="Meetings")
        for m in lead["meetings"]:
            follow = m.get("follow_up")
            follow_text = "" if not follow else (f"done {when(follow['done_at'])}" if follow["done_at"] else
                                                 f"due {when(follow['due_at'])}" if follow["due_at"] else "owed")
            follow_text += " (breached)" if follow and follow["breached"] else ""
            meetings.add_row(str(m["id"]), m["status"], when(m["starts_at"]), fmt(m["host"]),
                             f"{when(m['booked_at'])} ({m['source']})", follow_text)
        console.print(meetings)
    for note in lead.get("meeting_notes") or ():
        console.print(f"{when(note['at'])} {note['event']}: {'ignored: ' if note['ignored'] else ''}{note['reason']}",
                      highlight=False)
    history = Table("at", "from", "to", "how", "by", "reason", title="Stage history")
    for h in lead["history"]:
        history.add_row(when(h["at"]), fmt(h["from"]), h["to"], h["transition"], h["actor"], fmt(h["reason"]))
    console.print(history)
    recent = Table("at", "type", "name", "path", title="Recent activities")
    for a in lead["recent_activities"]:
        recent.add_row(when(a["occurred_at"]), a["type"], fmt(a["name"]), fmt(a.get("path")))
    console.print(recent)


# Moves a rep may make on their own lead (`--rep`): the function of services.rep_actions that makes each.
REP_MOVES = {Transition.RECYCLE: "recycle", Transition.REJECT: "reject", Transition.DISQUALIFY: "disqualify"}


def _mover(kind: Transition):
    def command(
        ctx: typer.Context,
        ref: str = typer.Argument(..., help="Lead id, email, user id or anonymous id."),
        reason: str = typer.Option(..., "--reason", "-r", help=f"A {kind.value} reason code from the playbook."),
        by: str = typer.Option("cli", "--by", help="Who is doing this (recorded as the actor)."),
        rep: str = typer.Option(None, "--rep", help="Act as this rep: refused unless the rep owns the lead."),
        version: int = typer.Option(None, "--if-version", help="Fail if the lead is no longer at this version."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        from leadrelay.handoff import service as rep_actions
        from leadrelay.lead.service import change_stage

        app = state(ctx).app()
        if rep is not None and kind in REP_MOVES:
            move = getattr(rep_actions, REP_MOVES[kind])
            result = move(app, ref, rep=rep, reason=reason, expected_version=version)
        else:
            result = change_stage(app, ref, kind, reason=reason, actor=f"user:{by}", expected_version=version)
        if as_json:
            print_json(result)
        else:
            console.print(f"lead {result['id']}: {fmt(result['from'])} → {result['to']} ({kind.value}: {reason})",
                          highlight=False)

    return command


for _kind, _help in [
    (Transition.RECYCLE, "Send a lead back to nurture (stage lead, segment recycled) with a reason."),
    (Transition.REJECT, "Reject a handed-over lead back to marketing with a reason."),
    (Transition.DISQUALIFY, "Disqualify a lead with a reason (never reopened automatically)."),
    (Transition.REOPEN, "Reopen a disqualified lead where it was, with a reason."),
]:
    app.command(_kind.value, help=_help)(_mover(_kind))
