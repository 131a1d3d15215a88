"""The SQL of data protection: finding everything about a person, and rewriting it. Every function takes an
open connection."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, Text, bindparam, cast, delete, or_, select, update

from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.lead.queries import lead_id_for, ref_identities
from leadrelay.lead.store import chunks
from leadrelay.privacy.gate import digest, salt
from leadrelay.privacy.scrub import Scrubber
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack

IDENTITY_COLUMNS = ("anonymous_id", "user_id", "email")


def person_lead_id(conn: Connection, ref: str | int) -> int:
    """The lead a ref names (id, email, user id, anonymous id; a merged lead gives its survivor), or, once erased,
    the lead its erasure was of (found by digest). Raises NotFound."""
    try:
        return lead_id_for(conn, ref)
    except NotFound:
        keys = ref_identities(str(ref).strip())
        key = salt(conn)
        e, x = pt.erased_identities.c, pt.erasures.c
        found = conn.scalar(select(x.lead_id).join_from(pt.erased_identities, pt.erasures, e.erasure_id == x.id)
                            .where(e.digest.in_([digest(key, kind, value) for kind, value in keys]))
                            .order_by(x.id.desc()).limit(1))
        if found is None:
            raise
        return found


def family(conn: Connection, lead_id: int) -> list[int]:
    """The lead and every lead merged into it, however many merges ago (survivor first)."""
    ids, frontier = [lead_id], [lead_id]
    while frontier:
        frontier = [i for part in chunks(frontier)
                    for i in conn.scalars(select(t.leads.c.id).where(t.leads.c.merged_into.in_(part)))
                    if i not in ids]
        ids += frontier
    return ids


def rows(conn: Connection, table: Table, column: str, ids: Sequence[Any]) -> list[Any]:
    """The rows of `table` whose `column` is one of `ids`, in id order when the table has one."""
    out: list[Any] = []
    order = [table.c.id] if "id" in table.c else []
    for part in chunks(list(ids)):
        out += conn.execute(select(table).where(table.c[column].in_(part)).order_by(*order)).all()
    return out


def identities_of(conn: Connection, lead_ids: Sequence[int]) -> set[tuple[str, str]]:
    """Every identity these leads have or had: identity rows, the leads' own columns, what their activities named."""
    keys = {(r.kind, r.value) for r in rows(conn, t.identities, "lead_id", lead_ids)}
    for r in rows(conn, t.leads, "id", lead_ids):
        keys |= {("email", r.email)} if r.email else set()
        keys |= {("user", r.user_id)} if r.user_id else set()
    a = t.activities.c
    for part in chunks(list(lead_ids)):
        for r in conn.execute(select(a.anonymous_id, a.user_id, a.email, a.payload).where(a.lead_id.in_(part))):
            keys |= {(kind, value) for kind, value in (("anonymous", r.anonymous_id), ("user", r.user_id),
                                                       ("email", r.email)) if value}
            previous = unpack(conn, r.payload).get("previous_id")
            if previous:
                keys |= {("user", previous), ("anonymous", previous)}
    return keys


def traits_of(conn: Connection, lead_ids: Sequence[int]) -> list[dict]:
    """Every traits dictionary stored for these leads: the leads' and their activities'."""
    found = [r.traits or {} for r in rows(conn, t.leads, "id", lead_ids)]
    a = t.activities.c
    for part in chunks(list(lead_ids)):
        for (packed,) in conn.execute(select(a.payload).where(a.lead_id.in_(part))):
            payload = unpack(conn, packed)
            found += [payload.get("traits") or {}, (payload.get("context") or {}).get("traits") or {}]
    return found


def blank_rows(conn: Connection, table: Table, column: str, ids: Sequence[int], **values: Any) -> int:
    """Set `values` on every row of `table` whose `column` is one of `ids`; the number of rows."""
    changed = 0
    for part in chunks(list(ids)):
        changed += conn.execute(update(table).where(table.c[column].in_(part)).values(**values)).rowcount
    return changed


def scrub_rows(conn: Connection, table: Table, column: str, ids: Sequence[Any], fields: Iterable[str],
               scrubber: Scrubber) -> int:
    """Scrub the text and JSON `fields` of the rows whose `column` is one of `ids`; the number of rows changed."""
    fields = list(fields)
    key = "id" if "id" in table.c else None
    if key is None:
        raise InvalidInput(f"{table.name} has no id to scrub by")  # every table scrubbed here has one
    changes = []
    for row in rows(conn, table, column, ids):
        new = {f: scrubber.document(row._mapping[f]) for f in fields}
        if any(new[f] != row._mapping[f] for f in fields):
            changes.append({**new, "b_id": row.id})
    if changes:
        conn.execute(update(table).where(table.c.id == bindparam("b_id")), changes)
    return len(changes)


def rows_naming(conn: Connection, table: Table, fields: Sequence[str], needles: Iterable[str]) -> list[int]:
    """Ids of rows of `table` whose text `fields` contain one of `needles` (a scan: erasure is rare)."""
    needles = [n for n in needles if n]
    if not needles:
        return []
    columns = [cast(table.c[f], Text) for f in fields]
    ids: set[int] = set()
    for part in chunks(needles, 50):
        clauses = [column.like(f"%{_escaped(n)}%", escape="\\") for column in columns for n in part]
        ids.update(conn.scalars(select(table.c.id).where(or_(*clauses))))
    return sorted(ids)


# A rejected message is stored as JSON text: a short user or anonymous id is looked for as the field it was.
_ID_FIELDS = {"user": ("userId", "previousId"), "anonymous": ("anonymousId", "previousId"), "email": ()}


def needles(keys: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """What stored text naming a person contains: (their emails and ids of 8 characters or more, as they are; every
    user or anonymous id as the JSON field it was, `"userId": "u1"`), for `rows_naming`."""
    keys = list(keys)
    named = [value for kind, value in keys if kind == "email" or len(value) >= 8]
    quoted = [f"{json.dumps(field)}: {json.dumps(value)}" for kind, value in keys for field in _ID_FIELDS[kind]]
    return named, quoted


def _escaped(needle: str) -> str:
    return needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def delete_rows(conn: Connection, table: Table, column: str, ids: Sequence[int]) -> int:
    changed = 0
    for part in chunks(list(ids)):
        changed += conn.execute(delete(table).where(table.c[column].in_(part))).rowcount
    return changed


# Tables whose free text or documents may say something about the lead, scrubbed of the person's strings:
# (table, lead column, fields). Notes and whole payloads are handled apart (see erase.py).
SCRUBBED = (
    (t.stage_changes, "lead_id", ("reason", "actor")),
    (h.handoffs, "lead_id", ("reason",)),
    (h.routing_decisions, "lead_id", ("reason", "candidates")),
    (h.sla_timers, "lead_id", ("outcome",)),
    (h.suppressions, "lead_id", ("reason", "source", "lifted_reason")),
    (h.domain_events, "lead_id", ("cause", "data")),
    (s.opportunities, "lead_id", ("name",)),
)
