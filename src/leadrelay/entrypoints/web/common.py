"""What every page of the web app shares: the templates, the session cookie, who is signed in, a posted form's
checks, and the pages that say what went wrong.

A browser signs in with an API token or a one-time link and then holds a session cookie
(HttpOnly, SameSite=Lax, Secure over TLS); every form carries the session's CSRF token, and
a form without it changes nothing. Errors are shown on the page, in words, with nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from leadrelay.access.sessions import SESSION_LIFETIME, Session, session
from leadrelay.access.tokens import Role, Unauthorized
from leadrelay.bootstrap import App
from leadrelay.core.errors import LeadRelayError, NotFound
from leadrelay.entrypoints.api.auth import current_app, still_valid
from leadrelay.entrypoints.api.authz import Caller
from leadrelay.entrypoints.api.errors import STATUS

COOKIE = "leadrelay_session"
templates = Jinja2Templates(directory=str(resources.files("leadrelay.entrypoints.web") / "templates"))


def when(value: str | None, zone: str | None = None) -> str:
    """An ISO-8601 UTC moment as people read it: `2026-10-29 10:14 UTC`, or in `zone` (a rep's calendar:
    `2026-10-29 05:14 CDT`); a dash for none."""
    if not value:
        return "–"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    if zone:
        local = moment.astimezone(ZoneInfo(zone))
        return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def rep_zones(app: App) -> dict[str, str]:
    """Each rep's time zone (their calendar's), for showing their deadlines in their own time."""
    return {rep_id: rep.calendar.timezone for rep_id, rep in app.playbook.rules.handoff.directory.reps.items()}


templates.env.filters["when"] = when


class SignedOut(Exception):
    """No live session: the page sends the browser to sign in."""


def signed_in(request: Request, app: App) -> tuple[Session, Caller]:
    try:
        found = session(app.engine, request.cookies.get(COOKIE), now=app.clock())
    except Unauthorized as exc:
        raise SignedOut(exc.message) from None
    who = Caller(found.token)
    try:
        still_valid(app, found.token)
    except LeadRelayError as exc:
        raise SignedOut(exc.message) from None
    return found, who


def viewer(request: Request, *roles: Role) -> tuple[App, Session, Caller] | Response:
    """A page's reader: signed in and, when `roles` are named, in one of them (else the page answers 404, as a
    page that is not there for them); else the response that says why."""
    app = current_app(request)
    try:
        signed, who = signed_in(request, app)
    except SignedOut as exc:
        return to_login(request, str(exc) if request.cookies.get(COOKIE) else None)
    if roles and who.role not in roles:
        return error(request, signed, NotFound("this page is not one of yours"))
    return app, signed, who


def posted(request: Request, csrf: str, *roles: Role) -> tuple[App, Session, Caller] | Response:
    """A form sent by a signed-in browser with its session's form token (and, when `roles` are named, by one of
    them); else the page that says why."""
    found = viewer(request, *roles)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    if not signed.form_token_ok(csrf):
        return refused(request, signed)
    return found


def page(request: Request, name: str, context: dict[str, Any], *, status: int = 200,
         signed: Session | None = None) -> HTMLResponse:
    base = {"request": request, "session": signed, "csrf": signed.csrf if signed else None,
            "who": signed.token if signed else None}
    return templates.TemplateResponse(request, name, base | context, status_code=status)


def to_login(request: Request, message: str | None = None) -> RedirectResponse:
    target = f"/login?next={quote(request.url.path)}" + (f"&message={quote(message)}" if message else "")
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def with_cookie(request: Request, signed: Session, target: str) -> RedirectResponse:
    response = RedirectResponse(target if target.startswith("/") and not target.startswith("//") else "/",
                                status_code=303)
    response.set_cookie(COOKIE, signed.secret, httponly=True, samesite="lax", path="/",
                        secure=request.url.scheme == "https",
                        max_age=int(SESSION_LIFETIME.total_seconds()))
    return response


def refused(request: Request, signed: Session) -> HTMLResponse:
    return page(request, "error.html", {"title": "Form refused", "message": "This form was not sent from this "
                "session's page (its form token is missing or wrong), so nothing was changed. Reload the page "
                "and try again."}, status=403, signed=signed)


def error(request: Request, signed: Session, exc: LeadRelayError) -> HTMLResponse:
    status = 404 if isinstance(exc, NotFound) else STATUS.get(exc.code, 400)
    title = "Not found" if status == 404 else "Not allowed" if status == 403 else "Not possible"
    return page(request, "error.html", {"title": title, "message": exc.message}, status=status, signed=signed)


def redirect(target: str, done: str) -> RedirectResponse:
    """After a form: back to `target`, saying what was done."""
    return RedirectResponse(f"{target}{'&' if '?' in target else '?'}done={quote(done)}", status_code=303)
