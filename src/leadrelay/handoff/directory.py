"""The rep directory as routing sees it now: playbook reps with CLI overrides, and their loads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.handoff.routing import Directory, Load
from leadrelay.lead.store import chunks
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.database import transaction

ROUTING_LOCK = 7_361_902  # PostgreSQL advisory lock: one router at a time, so caps hold across processes


def lock_routing(conn: Connection) -> None:
    """Serialise assignment across processes (SQLite's single writer already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROUTING_LOCK})


def effective_directory(conn: Connection, app: App) -> Directory:
    """The playbook's directory with the overrides people made through the CLI applied."""
    base: Directory = app.playbook.rules.handoff.directory
    overrides = conn.execute(_OVERRIDES).all()
    if not overrides:
        return base
    reps = dict(base.reps)
    for row in overrides:
        rep = reps.get(row.rep)
        if rep is None:
            continue  # a rep the playbook no longer has
        changes: dict[str, Any] = {}
        for column in ("active", "capacity", "daily_quota", "weight"):
            value = getattr(row, column)
            if value is not None:
                changes[column] = value
        if row.away:
            changes["away"] = rep.away + tuple((date.fromisoformat(a), date.fromisoformat(b)) for a, b in row.away)
        reps[row.rep] = replace(rep, **changes)
    return replace(base, reps=reps)


_OVERRIDES = select(h.rep_overrides)
# Built once (routing reads them in every transaction that hands a lead over; building a statement costs more than
# running it): open handoffs per owner, and the counters of some reps on some days (parameters `reps`, `days`).
_OPEN_PER_OWNER = select(h.handoffs.c.owner, func.count()).where(
    h.handoffs.c.status.in_(OWNED_STATUSES), h.handoffs.c.owner.is_not(None)).group_by(h.handoffs.c.owner)
COUNTS_OF = select(h.rep_assignment_counts.c.rep, h.rep_assignment_counts.c.day, h.rep_assignment_counts.c.assigned) \
    .where(h.rep_assignment_counts.c.rep.in_(bindparam("reps", expanding=True)),
           h.rep_assignment_counts.c.day.in_(bindparam("days", expanding=True)))


def rep_loads(conn: Connection, directory: Directory, now: datetime | None = None,
              days: dict[str, str] | None = None) -> dict[str, Load]:
    """Open leads and all-time assignments per rep; with `now`, also the assignments of each rep's local day
    (or, with `days`, of the day given for each rep: rep -> ISO date).

    Reads the per-rep counters and the open handoffs, never the whole assignment history: the
    counters by their key (rep, day), not by scanning every day ever counted.
    """
    loads = {rep: Load() for rep in directory.reps}
    for owner, count in conn.execute(_OPEN_PER_OWNER):
        if owner in loads:
            loads[owner].open = count
    if days is None:
        days = {rep.id: now.astimezone(ZoneInfo(rep.calendar.timezone)).date().isoformat()
                for rep in directory.reps.values()} if now is not None else {}
    for rep, day, count in conn.execute(COUNTS_OF, {"reps": sorted(loads), "days": sorted({"", *days.values()})}):
        if rep not in loads:
            continue
        if day == "":
            loads[rep].total = count
        elif days.get(rep) == day:
            loads[rep].today = count
    return loads


def handoffs_without_rep(conn: Connection, reps: Iterable[str], *, lock: bool = False) -> list[Any]:
    """The open handoffs a rep holds whom `reps` (a directory's ids) does not name, oldest first: the leads of a
    rep removed from the playbook. `lock`: for handing them back (on PostgreSQL, rows another worker holds are
    skipped)."""
    c = h.handoffs.c
    query = select(h.handoffs).where(c.status.in_(OWNED_STATUSES), c.owner.is_not(None),
                                     c.owner.not_in(sorted(reps))).order_by(c.opened_at, c.id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).all())


def leads_to_hand_back(engine: Engine, reps: Iterable[str]) -> dict[str, int]:
    """Open leads per rep whom `reps` does not name: what activating a playbook with that directory (a candidate's
    `rules.handoff.directory.reps`) hands back to routing. Empty when it removes nobody who holds a lead."""
    with engine.connect() as conn:
        return dict(Counter(row.owner for row in handoffs_without_rep(conn, reps)))


def account_owners(conn: Connection, account_ids: Iterable[int], domains: Iterable[str]) -> tuple[dict[int, str],
                                                                                          dict[str, str]]:
    """The owners of these accounts, by account id, and of the accounts with these domains, by domain (for leads
    not linked to their account; the account first made, when several share one). Only those: routing a lead
    must not read every account owner of the store."""
    a, o = t.accounts.c, h.account_owners.c
    by_account: dict[int, str] = {}
    by_domain: dict[str, str] = {}
    for part in chunks(sorted(set(account_ids))):
        by_account.update(conn.execute(select(o.account_id, o.rep).where(o.account_id.in_(part))).tuples().all())
    for part in chunks(sorted(set(domains))):
        for domain, rep in conn.execute(select(a.domain, o.rep).join(t.accounts, a.id == o.account_id)
                                        .where(a.domain.in_(part)).order_by(o.account_id)):
            by_domain.setdefault(domain, rep)
    return by_account, by_domain


def account_owner_history(conn: Connection) -> tuple[dict[int, tuple[str, datetime]], dict[str, tuple[str, datetime]]]:
    """Account owners with the moment each became owner, by account id and by the account's domain (what a
    simulation of the past reads: an owner made later did not own the company then)."""
    a, o = t.accounts.c, h.account_owners.c
    by_account: dict[int, tuple[str, datetime]] = {}
    by_domain: dict[str, tuple[str, datetime]] = {}
    for account_id, domain, rep, since in conn.execute(select(o.account_id, a.domain, o.rep, o.set_at)
                                                       .join(t.accounts, a.id == o.account_id).order_by(o.account_id)):
        by_account[account_id] = (rep, since)
        if domain:
            by_domain.setdefault(domain, (rep, since))
    return by_account, by_domain


def set_rep(app: App, rep_id: str, *, actor: str, active: bool | None = None, capacity: int | None = None,
            daily_quota: int | None = None, weight: float | None = None,
            away: tuple[date, date] | None = None, reset: bool = False) -> dict:
    """Change a rep at run time (the playbook stays as written); `reset` drops every override."""
    if rep_id not in app.playbook.rules.handoff.directory.reps:
        raise NotFound(f"no rep '{rep_id}' in the playbook")
    if away is not None and away[1] < away[0]:
        raise InvalidInput(f"away until {away[1]} is before {away[0]}")
    now = app.clock()
    with transaction(app.engine) as conn:
        row = conn.execute(select(h.rep_overrides).where(h.rep_overrides.c.rep == rep_id)).first()
        values: dict[str, Any] = {"updated_by": actor, "updated_at": now}
        if reset:
            values |= {"active": None, "capacity": None, "daily_quota": None, "weight": None, "away": None}
        for key, value in (("active", active), ("capacity", capacity), ("daily_quota", daily_quota),
                           ("weight", weight)):
            if value is not None:
                values[key] = value
        if away is not None:
            values["away"] = list(row.away or []) + [[away[0].isoformat(), away[1].isoformat()]] if row \
                else [[away[0].isoformat(), away[1].isoformat()]]
        if row is None:
            conn.execute(insert(h.rep_overrides).values(rep=rep_id, **values))
        else:
            conn.execute(update(h.rep_overrides).where(h.rep_overrides.c.rep == rep_id).values(**values))
        directory = effective_directory(conn, app)
        return rep_summary(directory, rep_loads(conn, directory, now), rep_id)


def rep_summary(directory: Directory, loads: dict[str, Load], rep_id: str) -> dict:
    rep, load = directory.reps[rep_id], loads.get(rep_id) or Load()
    return {
        "id": rep.id, "name": rep.name, "email": rep.email, "team": rep.team, "active": rep.active,
        "capacity": rep.capacity, "daily_quota": rep.daily_quota, "weight": rep.weight,
        "open_leads": load.open, "assigned_today": load.today, "assigned_total": load.total,
        "away": [[a.isoformat(), b.isoformat()] for a, b in rep.away], "timezone": rep.calendar.timezone,
        "manager": rep.manager_email,
    }


def list_reps(app: App) -> list[dict]:
    now = app.clock()
    with app.engine.connect() as conn:
        directory = effective_directory(conn, app)
        loads = rep_loads(conn, directory, now)
    return [rep_summary(directory, loads, rep_id) for rep_id in directory.reps]


def _account(conn: Connection, account: str):
    """The account an id, group id or domain names; NotFound if none."""
    a = t.accounts.c
    by_id = a.id == int(account) if account.isascii() and account.isdigit() and len(account) < 19 else False
    query = select(a.id, a.name, a.domain).where((a.group_id == account) | (a.domain == account.lower()) | by_id)
    row = conn.execute(query.order_by(a.id).limit(1)).first()
    if row is None:
        raise NotFound(f"no account '{account}' (give an account id, group id or domain)")
    return row


def _domain(text_: str) -> str | None:
    """`text_` as a company domain (acme.io), or None when it is not one (an id, a group id, a typo)."""
    name = text_.strip().lower().removeprefix("www.")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not labels[-1].isalpha():
        return None
    if all(0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
           and not label.startswith("-") and not label.endswith("-") for label in labels):
        return name
    return None


def _new_account(conn: Connection, domain: str, now: datetime):
    """An account for a company no group call has named yet: its domain only. A group call with the same
    domain later takes it over (see `activity.store.upsert_accounts`), owner and all."""
    a = t.accounts.c
    account_id = conn.execute(insert(t.accounts).values(group_id=None, domain=domain, name=None, traits={},
                                                        created_at=now, updated_at=now).returning(a.id)).scalar_one()
    return conn.execute(select(a.id, a.name, a.domain).where(a.id == account_id)).one()


def account_owner_of(app: App, account: str) -> str | None:
    """Who owns the account now (None: nobody); NotFound if there is no such account."""
    with app.engine.connect() as conn:
        row = _account(conn, account)
        return conn.scalar(select(h.account_owners.c.rep).where(h.account_owners.c.account_id == row.id))


def set_account_owner(app: App, account: str, rep_id: str, *, actor: str) -> dict:
    """Make a rep the owner of an account (by account id, group id or domain)."""
    if rep_id not in app.playbook.rules.handoff.directory.reps:
        raise NotFound(f"no rep '{rep_id}' in the playbook")
    with transaction(app.engine) as conn:
        try:
            row = _account(conn, account)
        except NotFound:
            domain = _domain(account)
            if domain is None:
                raise
            row = _new_account(conn, domain, app.clock())
        o = h.account_owners.c
        conn.execute(h.account_owners.delete().where(o.account_id == row.id))
        conn.execute(insert(h.account_owners).values(account_id=row.id, rep=rep_id, set_by=actor, set_at=app.clock()))
    return {"account": row.id, "name": row.name, "domain": row.domain, "owner": rep_id}
