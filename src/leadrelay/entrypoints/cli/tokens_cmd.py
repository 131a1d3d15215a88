"""`leadrelay tokens create|list|login-link|revoke`: API tokens and write keys for the HTTP API, sign-in links."""

from __future__ import annotations

import typer

from leadrelay.entrypoints.cli.context import state
from leadrelay.entrypoints.cli.output import console, err_console, fmt, print_json, when

app = typer.Typer(help="API tokens (lrk_...) and write keys (lrw_...) for the HTTP API.", no_args_is_help=True)

# The values of leadrelay.access.tokens.Role, spelled out so that `--help` need not import the
# services (test_cli_startup.py checks that the two agree).
ROLES = "admin, marketing, manager, rep, ingest"


@app.command("create", help="Create a token; its secret is printed once and only its hash is kept.")
def create(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role",
                             help=f"One of {ROLES}. ingest makes a write key for the Segment endpoints."),
    rep: str = typer.Option(None, "--rep", help="Role rep: the rep's id in the playbook (they see their own leads)."),
    team: str = typer.Option(None, "--team", help="Role manager: the team's id in the playbook."),
    source: str = typer.Option(None, "--source", help="Role ingest: the source name recorded on what it sends."),
    label: str = typer.Option(None, "--label", help="What the token is for (shown in tokens list)."),
    valid_for: str = typer.Option(None, "--valid-for", help="Expire this long from now (e.g. 90d, 12h); without "
                                                             "it the token lives until revoked."),
    as_json: bool = typer.Option(False, "--json", help="Print the token and its secret as JSON."),
) -> None:
    from leadrelay.access.tokens import create_token
    from leadrelay.handoff.calendar import parse_duration
    from leadrelay.playbook.service import effective_playbook

    try:
        lifetime = parse_duration(valid_for) if valid_for is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--valid-for") from None
    application = state(ctx).app()
    token, secret = create_token(application.engine, role, now=application.clock(), rep_id=rep, team=team,
                                 source=source, label=label, playbook=effective_playbook(application),
                                 valid_for=lifetime)
    if as_json:
        print_json({"token": token.as_dict(), "secret": secret})
        return
    who = token.rep_id or token.team or token.source
    err_console.print(f"created token {token.id} ({token.role.value}{f' {who}' if who else ''}); "
                      "the secret below is shown once, store it now:", highlight=False)
    console.print(secret, highlight=False)


@app.command("list", help="Tokens (never their secrets), oldest first.")
def list_(
    ctx: typer.Context,
    revoked: bool = typer.Option(False, "--revoked", help="Include revoked tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    from leadrelay.access.tokens import list_tokens

    found = list_tokens(state(ctx).app().engine, include_revoked=revoked)
    if as_json:
        print_json([token.as_dict() for token in found])
        return
    from rich.table import Table

    table = Table("id", "role", "rep", "team", "source", "label", "created", "last used", "valid until", "revoked")
    for token in found:
        d = token.as_dict()
        table.add_row(str(token.id), token.role.value, fmt(token.rep_id), fmt(token.team), fmt(token.source),
                      fmt(token.label), when(d["created_at"]), when(d["last_used_at"]), when(d["valid_until"]),
                      when(d["revoked_at"]))
    console.print(table)


@app.command("login-link", help="A one-time link that signs the token's holder in to the web app (15 minutes).")
def login_link(
    ctx: typer.Context,
    token_id: int = typer.Argument(..., min=1, help="The token's id (from tokens list): a rep, manager, marketing "
                                                   "or admin token."),
    base_url: str = typer.Option("http://127.0.0.1:8000", "--base-url", help="Where `leadrelay serve` answers."),
    as_json: bool = typer.Option(False, "--json", help="Print the link as JSON."),
) -> None:
    from leadrelay.access.sessions import LINK_LIFETIME, create_login_link

    application = state(ctx).app()
    code = create_login_link(application.engine, token_id, now=application.clock())
    link = f"{base_url.rstrip('/')}/login/{code}"
    if as_json:
        print_json({"link": link, "expires_in_s": int(LINK_LIFETIME.total_seconds())})
    else:
        err_console.print("open this link once, within 15 minutes, to sign in:", highlight=False)
        console.print(link, highlight=False, soft_wrap=True)


@app.command("revoke", help="Revoke a token for good: requests with it get 401 from now on.")
def revoke(
    ctx: typer.Context,
    token_id: int = typer.Argument(..., min=1, help="The token's id (from tokens list)."),
    as_json: bool = typer.Option(False, "--json", help="Print the revoked token as JSON."),
) -> None:
    from leadrelay.access.tokens import revoke_token

    application = state(ctx).app()
    token = revoke_token(application.engine, token_id, now=application.clock())
    if as_json:
        print_json(token.as_dict())
    else:
        console.print(f"token {token.id} ({token.role.value}) revoked", highlight=False)
