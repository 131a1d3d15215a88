"""The SQL of a rescore: every activity of many leads read, their leads and score changes written back.

A rescore reads and writes millions of rows. SQLAlchemy Core's work per row (a Row object
for each result, each value through its column type, a parameter dict for each row written)
cost more than the rescore's own work, so these go through the driver's cursor, inside the
unit of work's transaction: values written are converted by their column types' own bind
processors (what Core would store, `storage.bulk`), values read as Core would read them.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, func, select

from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import sort_key
from leadrelay.lead.model import Lead
from leadrelay.lead.rows import lead_from_row, lead_values
from leadrelay.lead.scoring import ScoreChange
from leadrelay.lead.store import attach_accounts, chunks
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import tables as t
from leadrelay.storage.bulk import bind_processors, insert_tuples
from leadrelay.storage.packing import payloads

# The leads a rescore judges again: not merged away, and not erased on request (their activities kept only their
# type, name and time, so replaying them would judge what is left of a person, not the person).
REJUDGED = (t.leads.c.merged_into.is_(None), t.leads.c.id.not_in(select(pt.erasures.c.lead_id)))

_ACTIVITY = ("id", "lead_id", "source", "message_id", "type", "name", "occurred_at", "received_at", "anonymous_id",
             "user_id", "email", "group_id", "payload")
_REBUILT = ("traits", "trait_times")  # lead columns the replay rebuilds from the activities: not read
_LEAD = tuple(c.name for c in t.leads.c if c.name not in (*_REBUILT, "created_at", "updated_at"))
# What `lead_from_row` reads, by name (a Row of SQLAlchemy's costs more per name read than the rest of the work).
_LeadRow = namedtuple("_LeadRow", (*_LEAD, *_REBUILT))  # type: ignore[misc]
_SCORE_CHANGE = ("lead_id", "kind", "rule_id", "delta", "occurred_at", "activity_id", "playbook_version")


def count(conn: Connection) -> int:
    """How many leads a rescore judges again."""
    return conn.scalar(select(func.count()).select_from(t.leads).where(*REJUDGED)) or 0


def next_ids(conn: Connection, after: int, limit: int) -> list[int]:
    """The next `limit` ids of leads to judge again after id `after`, in order."""
    c = t.leads.c
    return list(conn.scalars(select(c.id).where(*REJUDGED, c.id > after).order_by(c.id).limit(limit)))


def ids_between(conn: Connection, first: int, last: int) -> list[int]:
    """The ids of leads to judge again from `first` to `last`, in order."""
    c = t.leads.c
    return list(conn.scalars(select(c.id).where(*REJUDGED, c.id.between(first, last)).order_by(c.id)))


def among(conn: Connection, lead_ids: Sequence[int]) -> list[int]:
    """Those of `lead_ids` still to judge again (not merged or erased since), in order."""
    c = t.leads.c
    return list(conn.scalars(select(c.id).where(*REJUDGED, c.id.in_(lead_ids)).order_by(c.id))) if lead_ids else []


def partitions(conn: Connection, size: int) -> list[tuple[int, int]]:
    """Every lead to judge again, as ranges of ids (first, last) holding `size` of them each, in order."""
    ids = list(conn.scalars(select(t.leads.c.id).where(*REJUDGED).order_by(t.leads.c.id)))
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


def load_leads(conn: Connection, lead_ids: Sequence[int]) -> dict[int, Lead]:
    """The leads, locked on PostgreSQL, with their account's traits; their traits (rebuilt by the replay) empty."""
    rows = _select_in(conn, "leads", _LEAD, "id", lead_ids, lock=conn.dialect.name == "postgresql")
    convert = _readers(conn, t.leads, _LEAD)
    out: dict[int, Lead] = {}
    for row in rows:
        values = list(row)
        for i, read in convert:
            values[i] = read(values[i])
        out[row[0]] = lead_from_row(_LeadRow._make((*values, None, None)))
    attach_accounts(conn, out.values())
    return out


def load_activities(conn: Connection, lead_ids: Sequence[int]) -> dict[int, list[Activity]]:
    """Every stored activity of these leads, grouped by lead, each lead's in `sort_key` order: what
    `lead.store.lead_activities` reads (`lead.rows.activity_from_row`, built here without a row object)."""
    rows = _select_in(conn, "activities", _ACTIVITY, "lead_id", lead_ids)
    unpacked = payloads(conn).unpack_many(conn, [row[-1] for row in rows])
    utc = _utc_reader(conn)
    out: dict[int, list[Activity]] = {lead_id: [] for lead_id in lead_ids}
    for (id_, lead_id, source, message_id, kind, name, occurred, received, anonymous_id, user_id, email, group_id,
         _), payload in zip(rows, unpacked, strict=True):
        out[lead_id].append(Activity(
            source, message_id, kind, utc(occurred), utc(received), anonymous_id, user_id, email, name,
            payload.get("properties", {}), payload.get("traits", {}), payload.get("context", {}), group_id,
            payload.get("previous_id"), id_))
    for activities in out.values():
        activities.sort(key=sort_key)
    return out


def write_leads(conn: Connection, leads: Iterable[Lead], now: datetime) -> None:
    """Write the leads back (`lead_values`, as `lead.store.update_leads` does), their versions bumped."""
    names: tuple[str, ...] = ()
    rows = []
    for lead in leads:
        lead.version += 1
        values = lead_values(lead, now)
        names = names or tuple(values)
        rows.append([values[name] for name in names] + [lead.id])
    _update_many(conn, t.leads, names, rows)


def replace_score_changes(conn: Connection, lead_ids: Sequence[int], changes: Sequence[ScoreChange],
                          version: str) -> None:
    """The leads' score changes, all of them, in place of those stored."""
    cursor = conn.connection.cursor()
    try:
        for where, params in _in(conn, "lead_id", lead_ids):
            cursor.execute(f"DELETE FROM score_changes WHERE {where}", params)
    finally:
        cursor.close()
    insert_tuples(conn, t.score_changes, _SCORE_CHANGE, [
        (c.lead.id, c.kind, c.rule_id, c.delta, c.activity.occurred_at, c.activity.id, version)
        if c.activity is not None else
        (c.lead.id, c.kind, c.rule_id, c.delta, datetime.fromtimestamp(c.at, UTC), None, version)
        for c in changes])


def _in(conn: Connection, column: str, keys: Sequence[Any]) -> Iterable[tuple[str, Sequence[Any]]]:
    """`column IN (...)` over `keys`: one array parameter on PostgreSQL, lists of `chunks` on SQLite."""
    if not keys:
        return
    if conn.dialect.name == "postgresql":
        yield f"{column} = ANY(%s)", [list(keys)]
        return
    for part in chunks(keys):
        yield f"{column} IN ({', '.join('?' for _ in part)})", list(part)


def _select_in(conn: Connection, table: str, names: Sequence[str], column: str, keys: Sequence[Any], *,
               lock: bool = False) -> list[tuple]:
    """`names` of the rows whose `column` is one of `keys`, as the driver returns them; `lock`: FOR UPDATE."""
    out: list[tuple] = []
    cursor = conn.connection.cursor()
    try:
        for where, params in _in(conn, column, keys):
            cursor.execute(f"SELECT {', '.join(names)} FROM {table} WHERE {where}{' FOR UPDATE' if lock else ''}",
                           params)
            out.extend(cursor.fetchall())
    finally:
        cursor.close()
    return out


def _update_many(conn: Connection, table: Any, names: Sequence[str], rows: list[list[Any]]) -> None:
    """UPDATE each row by its id (the last value), setting `names` to the other values, converted by the columns'
    own bind processors."""
    if not rows:
        return
    dialect = conn.dialect
    binders = [(i, bind) for i, bind in enumerate(bind_processors(table, tuple(names), dialect)) if bind is not None]
    for row in rows:
        for i, bind in binders:
            row[i] = bind(row[i])
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"UPDATE {table.name} SET {', '.join(f'{name} = {mark}' for name in names)} WHERE id = {mark}"
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def _readers(conn: Connection, table: Any, names: Sequence[str]) -> list[tuple[int, Callable[[Any], Any]]]:
    """(position, function) for each of `names` whose driver value Core converts on reading: times (to aware UTC)
    and, on SQLite, JSON documents (PostgreSQL's driver decodes those itself)."""
    dialect = conn.dialect
    out = []
    for i, name in enumerate(names):
        kind = table.c[name].type
        if isinstance(kind, t.UTCDateTime):
            out.append((i, _utc_reader(conn)))
        elif dialect.name == "sqlite" and isinstance(kind.dialect_impl(dialect), JSON):
            process = kind.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                out.append((i, process))
    return out


def _utc_reader(conn: Connection) -> Callable[[Any], Any]:
    """A function turning the driver's value of a `UTCDateTime` column into what Core reads: an aware UTC datetime.
    SQLite keeps the text SQLAlchemy wrote, in UTC without a zone (`2026-09-01 12:00:00.000000`); PostgreSQL's
    driver gives datetimes, which the column type's own reader turns to UTC."""
    dialect = conn.dialect
    if dialect.name == "sqlite":
        parse = datetime.fromisoformat

        def from_text(value: Any) -> datetime | None:  # the zone parsed is `UTC` itself; six times `.replace`'s speed
            return None if value is None else parse(value + "+00:00")

        return from_text
    process = t.activities.c.occurred_at.type.dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None
    return process
