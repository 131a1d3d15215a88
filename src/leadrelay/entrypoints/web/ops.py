"""The ops pages: the active playbook with its versions and a diff between any two, checking (and activating)
an edited playbook with FILE:LINE errors, the outbox's failing and dead deliveries with retry, and the messages
the intake turned away.

Marketing and admin manage the playbook and read rejected messages; the outbox is admin's
(the same roles as `/api/playbook`, `/api/rejections` and `/api/outbox`). Every action goes
through the same service functions as the API and the CLI.
"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from leadrelay.access.tokens import Role, revoke_missing_people
from leadrelay.activity.queries import rejections as rejection_page
from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidInput, InvalidPlaybook, LeadRelayError
from leadrelay.delivery.dispatcher import retry as retry_messages
from leadrelay.delivery.outbox import disabled_endpoints, list_messages
from leadrelay.entrypoints.api.errors import STATUS
from leadrelay.entrypoints.api.runtime import Runtime
from leadrelay.entrypoints.web.common import error, page, posted, redirect, viewer
from leadrelay.playbook import service as playbooks
from leadrelay.playbook.backtest import backtest as run_backtest
from leadrelay.playbook.loader import STARTER_NAME, Playbook, parse_playbook, starter_text

router = APIRouter(include_in_schema=False)
PLAYBOOK_ROLES = (Role.MARKETING, Role.ADMIN)
MAX_TEXT = 1_000_000
OUTBOX_VIEWS = {"dead": ("dead", False), "failing": ("pending", True), "held": ("disabled", False)}


def pasted_source(name: str, actor: str) -> str:
    """The name a playbook activated from this page is stored under: it came from no file, whatever name was typed
    for the FILE:LINE messages (the name, when one was typed, is kept: it is what its author called it)."""
    return f"{name}, pasted in the web app by {actor}" if name else f"pasted in the web app by {actor}"


# --- the playbook ---------------------------------------------------------------------------------

@router.get("/ops/playbook", response_class=HTMLResponse)
def playbook_page(request: Request, diff: str | None = None, against: str | None = None,
                  done: str | None = None) -> Response:
    """The active playbook, every version, and (`diff`, `against`) the change from one version to another."""
    found = viewer(request, *PLAYBOOK_ROLES)
    if isinstance(found, Response):
        return found
    app, signed, _ = found
    try:
        changes = _version_diff(app, diff, against or app.playbook.version) if diff else None
    except LeadRelayError as exc:
        return error(request, signed, exc)
    return _playbook(request, app, signed, changes=changes, compared=(diff, against or app.playbook.version),
                     done=done)


def _version_diff(app: App, old: str, new: str) -> list[tuple[str, str]]:
    return playbooks.diff_lines(playbooks.version_text(app, old), playbooks.version_text(app, new),
                                f"version {old}", f"version {new}")


def _playbook(request: Request, app: App, signed, *, status: int = 200, **context) -> HTMLResponse:
    playbook = app.playbook
    activation = playbooks.activation(app.engine)
    if activation is not None and activation["version"] != playbook.version:
        activation = None  # this process has not followed the newest activation yet
    versions = playbooks.list_versions(app)
    return page(request, "playbook.html", {
        "playbook": playbook, "activation": activation, "versions": versions,
        "origin": _origin(playbook, versions), "lines": playbook.text.splitlines(),
        "hand_back": playbooks.hand_back(app.engine, playbook)} | context,  # reps dropped, leads not yet handed back
        status=status, signed=signed)


def _origin(playbook: Playbook, versions: list[dict]) -> str:
    """Where the running playbook came from, in words: the name its version was stored under (a file, or "pasted in
    the web app by ..."), else the file this process loaded, or the built-in starter."""
    stored = next((v["source"] for v in versions if v["version"] == playbook.version), None)
    if playbook.source == STARTER_NAME and playbook.text == starter_text():
        return f"the built-in starter playbook ({STARTER_NAME})"
    return stored or playbook.source


@router.post("/ops/playbook/check", response_class=HTMLResponse)
def check_playbook(request: Request, csrf: str = Form(""), text: str = Form(""),
                   filename: str = Form(""), backtest: str = Form(""),
                   since: str = Form("")) -> Response:
    """Validate an edited playbook: every problem as FILE:LINE: path: message; when valid, its diff to the active,
    the reps it drops who still own open leads, and with `backtest`, what it would have done to the stored history
    beside the active playbook."""
    form = posted(request, csrf, *PLAYBOOK_ROLES)
    if isinstance(form, Response):
        return form
    app, signed, _ = form
    candidate = _candidate(text, filename)
    if isinstance(candidate, InvalidInput):
        return _playbook(request, app, signed, candidate_text=text, filename=filename, issues=[candidate.message],
                         status=422)
    text, filename = candidate
    parsed: Playbook | None = None
    version: str | None = None
    issues: list[str] = []
    try:  # as `playbooks.check`, keeping the parsed playbook for the backtest and the hand-back: parsed once
        parsed = parse_playbook(text, filename or playbooks.DEFAULT_FILENAME)
        version = parsed.version
    except InvalidPlaybook as exc:
        issues = list(exc.issues)
    changes = playbooks.diff_lines(app.playbook.text, text, f"version {app.playbook.version} (active)",
                                   filename or "the edit") if not issues else None
    day = None
    if backtest and since.strip():
        try:
            day = date.fromisoformat(since.strip())
        except ValueError:
            issues = [*issues, f"since: not a date (YYYY-MM-DD): {since.strip()[:40]!r}"]
    tried = run_backtest(app, parsed, since=day) if backtest and parsed is not None and not issues else None
    return _playbook(request, app, signed, candidate_text=text, filename=filename, issues=issues,
                     candidate_version=version, candidate_changes=changes, backtest=tried, since=since.strip(),
                     candidate_hand_back=playbooks.hand_back(app.engine, parsed) if parsed is not None else [],
                     status=422 if issues else 200)


@router.post("/ops/playbook/activate", response_class=HTMLResponse)
def activate_playbook(request: Request, csrf: str = Form(""), text: str = Form(""),
                      filename: str = Form(""), expected_active: str = Form("")) -> Response:
    """Activate a checked playbook, unless another version became active since the page was read (then: why).

    As over the API, a rep or team the new version no longer names loses its tokens for good."""
    form = posted(request, csrf, *PLAYBOOK_ROLES)
    if isinstance(form, Response):
        return form
    app, signed, who = form
    candidate = _candidate(text, filename)
    try:
        if isinstance(candidate, InvalidInput):
            raise candidate
        version = playbooks.activate(app, candidate[0], who.actor,
                                     filename=candidate[1] or playbooks.DEFAULT_FILENAME,
                                     source=pasted_source(candidate[1], who.actor),
                                     expected_active=expected_active or None)
    except InvalidPlaybook as exc:
        return _playbook(request, app, signed, candidate_text=text, filename=filename, issues=exc.issues,
                         status=422)
    except LeadRelayError as exc:
        return _playbook(request, app, signed, candidate_text=text, filename=filename, issues=[exc.message],
                         status=STATUS.get(exc.code, 422))
    runtime: Runtime = request.app.state.runtime
    runtime.use(app.playbook)
    revoke_missing_people(app.engine, app.playbook, now=app.clock())  # a removed rep's token is dead for good
    return redirect("/ops/playbook", f"version {version} is active")


def _candidate(text: str, filename: str) -> tuple[str, str] | InvalidInput:
    """(text, the name typed for it, "" when none) or what is wrong with the form."""
    filename = filename.strip()
    if len(text) > MAX_TEXT:
        return InvalidInput(f"the playbook is {len(text):,} characters; at most {MAX_TEXT:,}")
    if len(filename) > 200:
        return InvalidInput("the file name is longer than 200 characters")
    if not text.strip():
        return InvalidInput("the playbook is empty: paste or edit its YAML")
    return text.replace("\r\n", "\n"), filename


# --- the outbox ---------------------------------------------------------------------------------------

@router.get("/ops/outbox", response_class=HTMLResponse)
def outbox_page(request: Request, view: str = "dead", done: str | None = None) -> Response:
    found = viewer(request, Role.ADMIN)
    if isinstance(found, Response):
        return found
    app, signed, _ = found
    if view not in OUTBOX_VIEWS:
        view = "dead"
    status, failing = OUTBOX_VIEWS[view]
    with app.engine.connect() as conn:
        messages = list_messages(conn, status=status, failing=failing, limit=200)
        held = disabled_endpoints(conn)
    return page(request, "outbox.html", {"view": view, "views": OUTBOX_VIEWS, "messages": messages,
                                         "endpoints": held, "done": done}, signed=signed)


@router.post("/ops/outbox/retry")
async def retry_outbox(request: Request) -> Response:
    """Requeue the ticked messages, every dead one, or those held for an endpoint (re-enabling it)."""
    fields = await request.form()
    form = posted(request, str(fields.get("csrf", "")), Role.ADMIN)
    if isinstance(form, Response):
        return form
    app, signed, _ = form
    try:
        ids = [_number(value, "an outbox message id") for value in fields.getlist("id")]
        dead, endpoint = fields.get("dead") == "1", str(fields.get("enable_endpoint") or "") or None
        if not ids and not dead and endpoint is None:
            raise InvalidInput("tick at least one message to retry")
        report = retry_messages(app.engine, ids, app.clock(), dead=dead, enable_endpoint=endpoint)
    except LeadRelayError as exc:
        return error(request, signed, exc)
    said = f"{len(report.reset)} requeued" + (f", {len(report.skipped)} already pending" if report.skipped else "") \
        + (f", endpoint {report.enabled} enabled" if report.enabled else "")
    return redirect(f"/ops/outbox?view={fields.get('view') or 'dead'}", said)


def _number(value, what: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if not 1 <= number < 2**63:
        raise InvalidInput(f"'{str(value)[:40]}' is not {what}")
    return number


# --- rejected messages ------------------------------------------------------------------------------

@router.get("/ops/rejections", response_class=HTMLResponse)
def rejections_page(request: Request, source: str | None = None, before: str | None = None) -> Response:
    """The messages the intake turned away, newest first, with why, where and the message as received."""
    found = viewer(request, *PLAYBOOK_ROLES)
    if isinstance(found, Response):
        return found
    app, signed, _ = found
    try:
        cursor = _number(before, "a rejection's id (before=)") if before else None
        rows, next_cursor = rejection_page(app, source=(source or "").strip()[:64] or None, before=cursor, limit=50)
    except LeadRelayError as exc:
        return error(request, signed, exc)
    return page(request, "rejections.html", {"rows": rows, "next_cursor": next_cursor, "source": source or ""},
                signed=signed)
