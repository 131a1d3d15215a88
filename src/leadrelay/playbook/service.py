"""Playbook versions: every text is kept under its version (a content hash), one version is active.

The active version lives in the database (table `active_playbook`), so every server
process runs the same rules, and it wins over the playbook file once someone has
activated one. Decisions record the version that made them (score and stage rows).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from leadrelay.core.app import App
from leadrelay.core.errors import Conflict, InvalidPlaybook, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.storage import tables as t
from leadrelay.storage.api_tables import active_playbook as active_table
from leadrelay.storage.database import transaction

if TYPE_CHECKING:
    from leadrelay.playbook.loader import Playbook

# The parser (Pydantic, YAML, the compiler), the ingest service and the handoff directory are imported where they
# are used: a command line read asks `active_playbook_loader` whether a version is active without paying for them.

DEFAULT_FILENAME = "playbook.yaml"
_ROW = 1  # the single row of active_playbook

# Parsed playbooks by version. A version is a hash of the text, so an entry never goes stale.
_parsed: dict[str, Playbook] = {}


def validate(text: str, filename: str = DEFAULT_FILENAME) -> list[str]:
    """Every problem in a candidate playbook, as `FILE:LINE: path: message` lines; [] when it is valid."""
    return check(text, filename)[1]


def check(text: str, filename: str = DEFAULT_FILENAME) -> tuple[str | None, list[str]]:
    """`(version, [])` for a valid candidate playbook, `(None, issues)` otherwise."""
    from leadrelay.playbook.loader import parse_playbook

    try:
        playbook = parse_playbook(text, filename)
    except InvalidPlaybook as exc:
        return None, list(exc.issues)
    return playbook.version, []


def active_version(engine: Engine) -> str | None:
    """The version activated in the database, or None when nobody has activated one (the file rules)."""
    with engine.connect() as conn:
        return conn.scalar(select(active_table.c.version).where(active_table.c.id == _ROW))


def active_playbook(engine: Engine) -> Playbook | None:
    """The playbook activated in the database, parsed, or None when nobody has activated one."""
    load = active_playbook_loader(engine)
    return load() if load is not None else None


def active_playbook_loader(engine: Engine) -> Callable[[], Playbook] | None:
    """A function that returns the playbook activated in the database, parsed when it is called; None when
    nobody has activated one. The row is read now: the call may come while the caller holds a connection
    (on SQLite a second one would wait for it)."""
    c = t.playbooks.c
    with engine.connect() as conn:
        row = conn.execute(
            select(c.version, c.text, c.source).join(active_table, active_table.c.version == c.version)
            .where(active_table.c.id == _ROW)
        ).first()
    if row is None:
        return None
    return partial(_parse_stored, row.version, row.text, row.source)


def effective_playbook(app: App) -> Playbook:
    """What a server built on `app` runs: the database's active version, else the app's own (its file)."""
    return active_playbook(app.engine) or app.playbook


def activation(engine: Engine) -> dict[str, Any] | None:
    """Who activated the active version and when, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(active_table).where(active_table.c.id == _ROW)).first()
    if row is None:
        return None
    return {"version": row.version, "activated_by": row.activated_by, "activated_at": utc_iso(row.activated_at)}


def activate(
    app: App, text: str, actor: str, *, filename: str = DEFAULT_FILENAME, source: str | None = None,
    expected_active: str | None = None,
) -> str:
    """Validate `text`, keep it as a version and make it the active one. Returns the version.

    `filename` names the text in FILE:LINE messages; `source` is the name a new version is
    stored under, where the text came from for people (default: `filename`) — text pasted
    in the web app came from no file, and must not read as one. A version stored before
    keeps the name it was first stored under.

    Raises InvalidPlaybook (nothing changes) when the text has problems, and Conflict when
    `expected_active` is given and another version is active by now (someone activated
    one since the caller looked). `app.playbook` switches to the new version.
    """
    from leadrelay.playbook.loader import parse_playbook

    playbook = parse_playbook(text, filename)
    _parsed.setdefault(playbook.version, playbook)
    if source is not None and source != playbook.source:
        playbook = replace(playbook, source=source)
    return _make_active(app, playbook, actor, expected_active)


def activate_version(app: App, version: str, actor: str, *, expected_active: str | None = None) -> str:
    """Make a version stored earlier active again (a rollback). Raises NotFound, Conflict."""
    c = t.playbooks.c
    with app.engine.connect() as conn:
        row = conn.execute(select(c.version, c.text, c.source).where(c.version == version)).first()
    if row is None:
        raise NotFound(f"no playbook version {version}")
    return _make_active(app, _parse_stored(row.version, row.text, row.source), actor, expected_active)


def list_versions(app: App) -> list[dict[str, Any]]:
    """Every stored playbook version, newest first, marking the active one."""
    active = active_version(app.engine) or app.playbook.version
    c = t.playbooks.c
    with app.engine.connect() as conn:
        rows = conn.execute(select(c.version, c.name, c.source, c.created_at).order_by(c.created_at.desc(), c.version))
        return [{"version": r.version, "name": r.name, "source": r.source, "created_at": utc_iso(r.created_at),
                 "active": r.version == active} for r in rows]


def stored_source(engine: Engine, version: str) -> str | None:
    """The name a stored version was stored under (the file, or how it came in), or None when it is not stored."""
    c = t.playbooks.c
    with engine.connect() as conn:
        return conn.scalar(select(c.source).where(c.version == version))


def version_text(app: App, version: str) -> str:
    """The text of a stored version, or of the playbook this app runs; NotFound otherwise."""
    if version == app.playbook.version:
        return app.playbook.text
    c = t.playbooks.c
    with app.engine.connect() as conn:
        text = conn.execute(select(c.text).where(c.version == version)).scalar()
    if text is None:
        raise NotFound(f"no playbook version '{version}'")
    return text


def diff_lines(old: str, new: str, old_name: str, new_name: str) -> list[tuple[str, str]]:
    """A unified diff between two playbook texts as (kind, line) pairs, kind one of add, del, hunk, same; empty when
    the texts are equal. The web page and `leadrelay playbook activate` show changes with it."""
    kinds = {"+": "add", "-": "del", "@": "hunk"}
    out = []
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=3)
    for number, line in enumerate(lines):
        # The first two lines name the texts; a YAML line `---` taken out reads `----` and is a change, not a name.
        out.append(("hunk" if number < 2 else kinds.get(line[:1], "same"), line))
    return out


def hand_back(engine: Engine, playbook: Playbook) -> list[dict[str, Any]]:
    """The reps `playbook` does not name who still own open leads, by rep id: `{"rep", "open_leads", "message"}`.

    What activating it means for them (or, for the active playbook, what its activation left to do): the worker
    hands their leads back to routing at its next sweep. Empty when it drops nobody who holds a lead."""
    from leadrelay.handoff.directory import leads_to_hand_back

    counts = leads_to_hand_back(engine, playbook.rules.handoff.directory.reps)
    return [{"rep": rep, "open_leads": n, "message": hand_back_message(rep, n)} for rep, n in sorted(counts.items())]


def hand_back_message(rep: str, open_leads: int) -> str:
    """`rep tom has 2 open leads: the worker hands them back to routing at its next sweep`."""
    leads, them = ("1 open lead", "it") if open_leads == 1 else (f"{open_leads} open leads", "them")
    return f"rep {rep} has {leads}: the worker hands {them} back to routing at its next sweep"


def _make_active(app: App, playbook: Playbook, actor: str, expected_active: str | None) -> str:
    from leadrelay.activity.service import record_playbook
    from leadrelay.predict.service import forget_if_unreadable

    now = app.clock()
    try:
        with transaction(app.engine) as conn:
            current = conn.execute(
                select(active_table.c.version).where(active_table.c.id == _ROW).with_for_update()
            ).scalar()
            believed = current or app.playbook.version
            if expected_active is not None and expected_active != believed:
                raise Conflict(f"playbook version {believed} is active, not {expected_active}: read it again")
            record_playbook(conn, playbook, now)  # first: the same text as the one replaced is named as activated
            record_playbook(conn, app.playbook, now)  # the version being replaced stays available for a rollback
            values = {"version": playbook.version, "activated_by": actor, "activated_at": now}
            if current is None:
                conn.execute(insert(active_table).values(id=_ROW, **values))
            else:
                conn.execute(update(active_table).where(active_table.c.id == _ROW).values(**values))
            forget_if_unreadable(conn, playbook.rules.predict)  # a model reading a field it excludes: no figures
    except IntegrityError:
        raise Conflict("another playbook was activated at the same moment: read it again") from None
    app.playbook = playbook
    return playbook.version


def _parse_stored(version: str, text: str, source: str) -> Playbook:
    """A stored version, parsed once per process, named as it was stored (the cache may hold it under another name:
    the same text read from a file, or activated under another name, in this process)."""
    from leadrelay.playbook.loader import parse_playbook

    playbook = _parsed.get(version)
    if playbook is None:
        playbook = parse_playbook(text, source)
        _parsed[version] = playbook
    return playbook if playbook.source == source else replace(playbook, source=source)
