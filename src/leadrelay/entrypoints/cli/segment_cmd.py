"""`leadrelay segment export`: leads by stage, segment, persona and suppression, for the email tool."""

from __future__ import annotations

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import print_json

app = typer.Typer(help="Segments of leads for the email tool (nurture recycled leads, exclude suppressed ones).",
                  no_args_is_help=True)


@app.command("export", help="Leads by stage, segment (new or recycled, with why), persona and suppression: CSV "
                            "(default) or JSON.")
def export(
    ctx: typer.Context,
    stage: str = typer.Option(None, "--stage", help="Only leads in this stage (lead, mql, ...)."),
    segment: str = typer.Option(None, "--segment", help="new or recycled."),
    persona: str = typer.Option(None, "--persona", help="Only this persona."),
    reason: str = typer.Option(None, "--reason", help="Recycled or rejected with this reason (no_response, ...)."),
    suppressed: bool = typer.Option(None, "--suppressed/--not-suppressed",
                                    help="Only leads marketing may not (or may) use the channel for now."),
    channel: str = typer.Option("email", "--channel", help="The channel suppression is read for: email, ads, calls."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.core.errors import InvalidInput
    from leadrelay.handoff.segments import as_csv, segment_export

    try:
        rows = segment_export(state(ctx).app(), stage=stage, segment=segment, persona=persona, reason=reason,
                              suppressed=suppressed, channel=channel)
    except InvalidInput as exc:  # a filter: bad usage (exit 2)
        raise typer.BadParameter(exc.message) from None
    if as_json:
        print_json(rows)
    else:
        typer.echo(as_csv(rows), nl=False)
