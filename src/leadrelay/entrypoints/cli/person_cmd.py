"""`leadrelay person export|erase`: a person's data on request — everything held about them, or erased.

Both take the person as a lead id, email, user id or anonymous id (an erased person is
still found by the identifiers they had, through the erasure's digests). See the README's
"Security and data protection" for what erasure removes, what it keeps and how a person
opts in again.
"""

from __future__ import annotations

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, print_json

app = typer.Typer(help="A person's data: export everything held about them, or erase it on request.",
                  no_args_is_help=True)

REF = typer.Argument(..., metavar="EMAIL|ID", help="Lead id, email, user id or anonymous id.")


@app.command("export", help="Everything held about a person, as one JSON document on stdout.")
def export(ctx: typer.Context, ref: str = REF) -> None:
    from leadrelay.privacy.export import export_person

    print_json(export_person(state(ctx).app(), ref))


@app.command("erase", help="Erase a person's personal data (merged leads too); keep an audit record and refuse "
                           "later messages about them until they opt in again.")
def erase(
    ctx: typer.Context,
    ref: str = REF,
    reason: str = typer.Option(..., "--reason", help="Why (kept in the audit record), e.g. a request's reference."),
    by: str = typer.Option("cli", "--by", help="Who asks for it (kept in the audit record)."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.privacy.erase import erase as erase_person

    result = erase_person(state(ctx).app(), ref, reason=reason, by=f"user:{by}")
    if as_json:
        print_json(result)
        return
    if result["already_erased"]:
        console.print(f"lead {result['lead_id']} was already erased (erasure {result['erasure']}, "
                      f"{result['erased_at']} by {result['erased_by']}): nothing left to do", highlight=False)
        return
    changed = ", ".join(f"{n} {table}" for table, n in sorted(result["changed"].items())) or "nothing"
    console.print(f"erased lead {result['lead_id']}"
                  + (f" and {len(result['leads']) - 1} merged into it" if len(result["leads"]) > 1 else "")
                  + f" (erasure {result['erasure']}): {changed}; {result['identities']} identities will be refused "
                  "until the person opts in again", highlight=False)
