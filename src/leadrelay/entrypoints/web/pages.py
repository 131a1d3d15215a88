"""The web app's rep and manager pages: sign-in, a rep's queue, the lead page and the rep's actions on it (accept,
log a touch, reject, recycle, disqualify), and a manager's board.

Another entrypoint, not a second implementation: every page reads through the same
queries and acts through the same services as the API and the CLI, and who may see or do
what is `authz`'s (a rep never sees another rep's lead: it answers 404). Sessions, form
tokens and error pages are `common`'s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadrelay.access.sessions import Session, redeem_login_link, sign_in, sign_out
from leadrelay.access.tokens import Role, Unauthorized
from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidInput, LeadRelayError, NotFound
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import STATUS
from leadrelay.entrypoints.api.leads import REP_MOVES, _visible_lead
from leadrelay.entrypoints.web.common import error, page, posted, redirect, rep_zones, to_login, viewer, with_cookie
from leadrelay.handoff import meeting_service
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.directory import list_reps, set_rep
from leadrelay.handoff.queries import lead_touches, person_name, rep_queue, route_explain, team_board
from leadrelay.lead.queries import explain_lead
from leadrelay.predict.queries import with_prediction
from leadrelay.reports.catalog import report_request, run_report

DONE = {"reject": "rejected", "recycle": "recycled", "disqualify": "disqualified"}
MEETING_STEPS = {"held": "meeting marked held", "no_show": "meeting marked a no-show", "cancel": "meeting canceled"}
router = APIRouter(include_in_schema=False)

# --- signing in and out -----------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", message: str | None = None) -> HTMLResponse:
    return page(request, "login.html", {"next": next, "message": message})


@router.post("/login")
def login(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    app = current_app(request)
    try:
        signed = sign_in(app.engine, token, now=app.clock())
    except Unauthorized as exc:
        return page(request, "login.html", {"next": next, "error": exc.message}, status=401)
    return with_cookie(request, signed, next)


@router.get("/login/{code}")
def login_link(request: Request, code: str) -> Response:
    app = current_app(request)
    try:
        signed = redeem_login_link(app.engine, code, now=app.clock())
    except Unauthorized as exc:
        return page(request, "login.html", {"next": "/", "error": exc.message}, status=401)
    return with_cookie(request, signed, "/")


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    form = posted(request, csrf)
    if isinstance(form, Response):
        return form
    app, signed, _ = form
    sign_out(app.engine, signed.secret, now=app.clock())
    return to_login(request, "signed out")


# --- the rep's workspace ------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    found = viewer(request)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    if who.role in (Role.MARKETING, Role.ADMIN):
        return RedirectResponse("/dashboard", status_code=303)
    queues: list[tuple[str, list[dict[str, Any]]]] = []
    away: list | None = None
    if who.role is Role.REP:
        assert who.token.rep_id is not None  # a rep token names its rep
        queues = [(who.token.rep_id, rep_queue(app, who.token.rep_id))]
        away = next((rep["away"] for rep in list_reps(app) if rep["id"] == who.token.rep_id), [])
    elif who.role is Role.MANAGER:
        assert who.token.team is not None  # a manager token names its team
        queues = [(rep, rep_queue(app, rep)) for rep in sorted(authz.team_members(app.playbook, who.token.team))]
    return page(request, "queue.html", {"queues": queues, "now": app.clock(), "away": away, "zones": rep_zones(app),
                                         "done": request.query_params.get("done")}, signed=signed)


@router.post("/away")
def away(request: Request, csrf: str = Form(""), start: str = Form("", alias="from"),
         end: str = Form("", alias="to")) -> Response:
    """A rep marks their own days out of office (inclusive); routing skips them meanwhile."""
    form = posted(request, csrf)
    if isinstance(form, Response):
        return form
    app, signed, who = form
    if who.role is not Role.REP:
        return error(request, signed, NotFound("out-of-office dates here are a rep's own"))
    try:
        first, last = _day(start, "from"), _day(end, "to")
        assert who.token.rep_id is not None  # a rep token names its rep
        set_rep(app, who.token.rep_id, actor=who.actor, away=(first, last))
    except LeadRelayError as exc:
        return error(request, signed, exc)
    return redirect("/", f"away from {first} to {last}")


def _day(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{label}: '{text}' is not a date (YYYY-MM-DD)") from None


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(request: Request, lead_id: str, done: str | None = None) -> Response:
    found = viewer(request)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    try:
        authz.require(who, Action.READ_LEADS)
        if not lead_id.isdigit() or len(lead_id) > 18:
            raise NotFound(f"no lead '{lead_id[:40]}' (a lead's page is /leads/ID, ID a number)")
        lead = _visible_lead(app, who, lead_id)
    except LeadRelayError as exc:
        return error(request, signed, exc)
    assert lead.id is not None  # read from its row
    return _lead(request, app, signed, who, lead.id, done=done)


def _lead(request: Request, app: App, signed: Session, who: Caller, lead_id: int, *, done: str | None = None,
          error: str | None = None, status: int = 200) -> HTMLResponse:
    found = with_prediction(app, explain_lead(app, lead_id))
    routing = route_explain(app, lead_id)
    mine = who.role is Role.REP and found["owner"] == who.token.rep_id
    open_handoff = next((h for h in reversed(routing["handoffs"]) if h["status"] != "closed"), None)
    reasons = {kind.value: sorted(app.playbook.rules.reasons[kind]) for kind in REP_MOVES}
    return page(request, "lead.html", {
        "lead": found, "routing": routing, "handoff": open_handoff, "mine": mine, "done": done, "error": error,
        "touches": lead_touches(app, lead_id),
        "touch_kinds": rep_actions.TOUCH_KINDS, "reasons": reasons, "zones": rep_zones(app),
        "name": person_name(found["traits"] or {}),
        "rep_zone": app.playbook.rules.handoff.directory.reps[who.token.rep_id].calendar.timezone if mine else None},
        status=status, signed=signed)


@router.post("/leads/{lead_id}/accept")
def accept(request: Request, lead_id: int, csrf: str = Form(""), version: int | None = Form(None)) -> Response:
    return _act(request, lead_id, csrf, "accepted",
                lambda app, who, lead: rep_actions.accept(app, lead.id, rep=who.token.rep_id, expected_version=version))


@router.post("/leads/{lead_id}/touches")
def touch(request: Request, lead_id: int, csrf: str = Form(""), kind: str = Form(""), outcome: str = Form(""),
          note: str = Form("")) -> Response:
    return _act(request, lead_id, csrf, "touch logged", lambda app, who, lead: rep_actions.log_touch(
        app, lead.id, rep=who.token.rep_id, kind=kind, outcome=outcome.strip(), note=note.strip() or None))


@router.post("/leads/{lead_id}/meetings")
def book_meeting(request: Request, lead_id: int, csrf: str = Form(""), starts: str = Form("")) -> Response:
    """The owner books a meeting; `starts` is a local time in the rep's own time zone (a datetime-local field)."""
    def book(app, who, lead):
        return meeting_service.book(app, lead.id, actor=who.actor, rep=who.token.rep_id,
                                    starts_at=_local_moment(app, who.token.rep_id, starts))

    return _act(request, lead_id, csrf, "meeting booked", book)


@router.post("/leads/{lead_id}/meetings/{meeting_id}/{step}")
def meeting_step(request: Request, lead_id: int, meeting_id: int, step: str, csrf: str = Form("")) -> Response:
    """Held, no-show or cancel, by the owner, on a meeting of this lead."""
    if step not in MEETING_STEPS:
        return Response(status_code=404)

    def act(app, who, lead):
        meeting = next((m for m in meeting_service.meetings_of(app, lead.id) if m["id"] == meeting_id), None)
        if meeting is None:
            raise NotFound(f"lead {lead.id} has no meeting {meeting_id}")
        return meeting_service.change(app, meeting_id, step, actor=who.actor, rep=who.token.rep_id)

    return _act(request, lead_id, csrf, MEETING_STEPS[step], act)


def _local_moment(app: App, rep_id: str, text: str) -> datetime | None:
    """A datetime-local value (no zone) read in the rep's time zone; empty: no time given."""
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"starts: not a date and time: {text[:40]!r}") from None
    if moment.tzinfo is None:
        zone = app.playbook.rules.handoff.directory.reps[rep_id].calendar.timezone
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


@router.post("/leads/{lead_id}/reassign")
def reassign(request: Request, lead_id: int, csrf: str = Form(""), to: str = Form("")) -> Response:
    """A manager gives a lead of their team to one of their reps (an admin: to any rep)."""
    form = posted(request, csrf)
    if isinstance(form, Response):
        return form
    app, signed, who = form
    try:
        authz.require(who, Action.READ_LEADS)
        lead = _visible_lead(app, who, str(lead_id))
        authz.require(who, Action.REASSIGN)
        authz.require_assignee(who, app.playbook, to or None)
        assert lead.id is not None  # read from its row
        moved = rep_actions.reassign(app, lead.id, actor=who.actor, to=to or None)
    except LeadRelayError as exc:
        return error(request, signed, exc)
    return redirect("/board", f"lead {lead.id} ({lead.email or 'no email'}) given to {moved['to'] or 'the queue'}")


@router.get("/board", response_class=HTMLResponse)
def board(request: Request, team: str | None = None, done: str | None = None) -> Response:
    """A manager's board: breaches and deadlines due soon, the team's queue (unassigned leads too), each rep's load,
    reassign; the team's speed to lead, persistence and SLA compliance."""
    found = viewer(request, Role.MANAGER, Role.ADMIN)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    teams = sorted(app.playbook.rules.handoff.directory.teams)
    team = who.token.team if who.role is Role.MANAGER else team or (teams[0] if teams else None)
    if team is None or team not in teams:
        return error(request, signed, NotFound("the board is a manager's page"))
    members = sorted(authz.team_members(app.playbook, team))
    reports = {name: run_report(app, report_request(name, by="rep"), owners=members)["rows"]
               for name in ("speed_to_lead", "persistence", "sla")}
    return page(request, "board.html", {
        "team": team, "teams": teams if who.role is Role.ADMIN else [team], "members": members, "done": done,
        "handoffs": team_board(app, team, app.clock()),
        "reps": [rep for rep in list_reps(app) if rep["team"] == team], "reports": reports}, signed=signed)


@router.post("/leads/{lead_id}/{move}")
def move(request: Request, lead_id: int, move: str, csrf: str = Form(""), reason: str = Form(""),
         version: int | None = Form(None)) -> Response:
    """Reject, recycle or disqualify: a reason from the playbook's list for that move."""
    kind = next((k for k in REP_MOVES if k.value == move), None)
    if kind is None:
        return Response(status_code=404)
    return _act(request, lead_id, csrf, DONE[kind.value], (
        lambda app, who, lead: REP_MOVES[kind](app, lead.id, rep=who.token.rep_id, reason=reason,
                                               expected_version=version)), back_to_queue=True)


def _act(request: Request, lead_id: int, csrf: str, done: str, action, *, back_to_queue: bool = False) -> Response:
    """A rep's action on their own lead: signed in, the form token right, the lead theirs; then the service.
    `back_to_queue`: the lead leaves the rep (rejected, recycled, disqualified), so the rep goes back to the queue."""
    form = posted(request, csrf)
    if isinstance(form, Response):
        return form
    app, signed, who = form
    try:
        authz.require(who, Action.ACT_AS_OWNER)
        lead = _visible_lead(app, who, str(lead_id))
    except LeadRelayError as exc:
        return error(request, signed, exc)
    assert lead.id is not None  # read from its row
    try:
        action(app, who, lead)
    except LeadRelayError as exc:
        return _lead(request, app, signed, who, lead.id, error=exc.message, status=STATUS.get(exc.code, 400))
    if back_to_queue:
        return redirect("/", f"lead {lead.id} ({lead.email or 'no email'}) {done}")
    return redirect(f"/leads/{lead.id}", done)
