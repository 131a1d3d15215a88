"""Queries and batched writes the services use. Every function takes an open connection."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, Select, Table, bindparam, delete, func, insert, select, text, update

from leadrelay.core.errors import Conflict
from leadrelay.lead.activities import Activity, Rejection
from leadrelay.lead.identity import IdentityKey
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.model import Lead
from leadrelay.lead.rows import activity_from_row, activity_values, lead_from_row, lead_values
from leadrelay.lead.scoring import ScoreChange
from leadrelay.storage import predict_tables as p
from leadrelay.storage import tables as t
from leadrelay.storage.bulk import insert_rows
from leadrelay.storage.database import upsert_into
from leadrelay.storage.packing import payloads
from leadrelay.storage.unit_of_work import UnitOfWork

CHUNK = 900  # stays under every backend's bound-parameter limit
IDENTITY_LOCKS = 0x4C52_4944  # "LRID": PostgreSQL advisory locks over identities (two-key form: this, a key's hash)
KEY_LOCKS = 64  # a transaction naming more keys locks all identities at once (see `lock_identities`)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


# Built once, the reads every ingest runs (building a Core statement costs more than SQLite takes to run it).
_MESSAGE_IDS = select(t.activities.c.message_id).where(t.activities.c.source == bindparam("source"),
                                                      t.activities.c.message_id.in_(bindparam("ids", expanding=True)))
_IDENTITY_OWNERS = select(t.identities.c.value, t.identities.c.lead_id).where(
    t.identities.c.kind == bindparam("kind"), t.identities.c.value.in_(bindparam("values", expanding=True)))

_LEADS = select(t.leads).where(t.leads.c.id.in_(bindparam("ids", expanding=True)))
_LEADS_FOR_UPDATE = _LEADS.with_for_update()
_LEAD_UPDATE = update(t.leads).where(t.leads.c.id == bindparam("b_id"))


def existing_message_ids(conn: Connection, source: str, message_ids: Sequence[str]) -> set[str]:
    """Which of these message ids from `source` are already stored."""
    found: set[str] = set()
    for part in chunks(message_ids):
        found.update(conn.scalars(_MESSAGE_IDS, {"source": source, "ids": list(part)}))
    return found


def identity_owners(conn: Connection, keys: Iterable[IdentityKey]) -> dict[IdentityKey, int]:
    """Lead id for each identity already stored."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    owners: dict[IdentityKey, int] = {}
    for kind, values in by_kind.items():
        for part in chunks(values):
            for value, lead_id in conn.execute(_IDENTITY_OWNERS, {"kind": kind, "values": list(part)}):
                owners[(kind, value)] = lead_id
    return owners


def lock_identities(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Keep other writers off these keys until the transaction ends: identities, and `("group", id)` for accounts.

    Two PostgreSQL transactions that both find the same identity new would both create it (a
    second lead), and one would fail at commit; and one writing a lead while another merges it
    away would write to the lead merged away. So every ingest first takes a transaction-level
    advisory lock per key it names, sorted (two batches never wait for each other in a circle):
    the second writer of a key waits, then reads what the first stored. A transaction naming
    more than KEY_LOCKS keys (a file import) takes one lock over every identity instead, which
    the small ones hold shared: PostgreSQL's lock table is finite (max_locks_per_transaction
    times max_connections). SQLite has one writer: nothing to do.
    """
    if conn.dialect.name != "postgresql":
        return
    numbers = sorted({_lock_number(kind, value) for kind, value in keys})
    if len(numbers) > KEY_LOCKS:
        conn.execute(text("SELECT pg_advisory_xact_lock(:space, 0)"), {"space": IDENTITY_LOCKS})
        return
    # One statement: the lock over all shared first, then each key's, sorted (PostgreSQL evaluates volatile
    # functions in the select list after ORDER BY).
    conn.execute(_KEY_LOCKS, {"space": IDENTITY_LOCKS, "numbers": [0, *numbers]})


_KEY_LOCKS = text("SELECT CASE WHEN k = 0 THEN pg_advisory_xact_lock_shared(:space, 0) ELSE pg_advisory_xact_lock("
                  ":space, k) END FROM unnest(CAST(:numbers AS integer[])) AS k ORDER BY k <> 0, k")


def _lock_number(kind: str, value: str) -> int:
    """A key's lock: its CRC-32 as a signed 32-bit integer, never 0 (the lock over all). Two keys sharing one
    only wait for each other."""
    number = zlib.crc32(f"{kind}\0{value}".encode("utf-8", "surrogatepass"))
    number = number - 2 ** 32 if number >= 2 ** 31 else number
    return number or 1


def load_leads(conn: Connection, lead_ids: Sequence[int], *, for_update: bool = False) -> dict[int, Lead]:
    """Leads by id, with their account's traits attached."""
    out: dict[int, Lead] = {}
    query = _LEADS_FOR_UPDATE if for_update and conn.dialect.name == "postgresql" else _LEADS
    for part in chunks(list(lead_ids)):
        for row in conn.execute(query, {"ids": list(part)}):
            out[row.id] = lead_from_row(row)
    attach_accounts(conn, out.values())
    return out


_ROUTING_COLUMNS = ("id", "email", "user_id", "company_domain", "country", "persona", "traits", "account_id", "stage",
                    "segment", "owner", "fit_score", "engagement_score", "engagement_as_of", "version")


def load_leads_for_routing(conn: Connection, lead_ids: Sequence[int]) -> dict[int, Lead]:
    """Leads with just what routing reads (no engine state to decode): for assigning a queue in bulk.

    Rows are unpacked by position (a queue is thousands of leads; reading a row by name costs more
    than the rest). Locked on PostgreSQL like `load_leads(for_update=True)`: an ingest writing the
    same lead waits, instead of writing back an owner read before the assignment.
    """
    from leadrelay.lead.model import ScoringState
    from leadrelay.lead.stages import Stage

    stages = {stage.value: stage for stage in Stage}
    out: dict[int, Lead] = {}
    columns = [t.leads.c[name] for name in _ROUTING_COLUMNS]
    for part in chunks(list(lead_ids)):
        query = select(*columns).where(t.leads.c.id.in_(part))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        for (lead_id, email, user_id, company_domain, country, persona, traits, account_id, stage, segment, owner,
             fit, engagement, as_of, version) in conn.execute(query):
            out[lead_id] = Lead(
                id=lead_id, email=email, user_id=user_id, company_domain=company_domain, country=country,
                persona=persona, traits=traits or {}, account_id=account_id, stage=stages[stage] if stage else None,
                segment=segment, owner=owner, scoring=ScoringState(engagement=engagement, as_of=as_of, fit=fit),
                version=version)
    attach_accounts(conn, out.values())
    return out


def attach_accounts(conn: Connection, leads: Iterable[Lead]) -> None:
    wanted = {lead.account_id for lead in leads if lead.account_id is not None}
    if not wanted:
        return
    traits: dict[int, Any] = {}
    for part in chunks(list(wanted)):
        traits.update(conn.execute(select(t.accounts.c.id, t.accounts.c.traits).where(t.accounts.c.id.in_(part)))
                      .tuples().all())
    for lead in leads:
        if lead.account_id is not None:
            lead.account = dict(traits.get(lead.account_id) or {})


def lead_activities(conn: Connection, lead_ids: Sequence[int]) -> dict[int, list[Activity]]:
    """Every stored activity of these leads, grouped by lead."""
    out: dict[int, list[Activity]] = {lead_id: [] for lead_id in lead_ids}
    unpack = payloads(conn).unpack
    for part in chunks(list(lead_ids)):
        for row in conn.execute(select(t.activities).where(t.activities.c.lead_id.in_(part))):
            out[row.lead_id].append(activity_from_row(row, unpack(conn, row.payload)))
    return out


def allocate_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """Reserve `count` primary keys for rows about to be inserted.

    Knowing ids up front lets inserts be plain batched executemany (RETURNING forces
    row-at-a-time statements on SQLite). On SQLite the transaction holds the write lock
    (BEGIN IMMEDIATE), so nobody else can take the ids after the current maximum; on
    PostgreSQL they come from the column's sequence.
    """
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        sequences = _sequences.setdefault(conn.engine, {})
        sequence = sequences.get(table.name)
        if sequence is None:  # a table's sequence never changes: asked once per store
            sequence = sequences[table.name] = conn.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                                           {"t": table.name})
        return list(conn.scalars(_NEXT_IDS, {"s": sequence, "n": count}))
    start = (conn.scalar(_max_id(table)) or 0) + 1
    return list(range(start, start + count))


_sequences: WeakKeyDictionary[Engine, dict[str, str]] = WeakKeyDictionary()  # engine -> table -> id sequence
_NEXT_IDS = text("SELECT nextval(:s) FROM generate_series(1, :n)")


@cache
def _max_id(table: Table) -> Select:
    return select(func.max(table.c.id))


def insert_leads(conn: Connection, new: Sequence[Lead], now: datetime) -> None:
    """Insert new leads and give each its id."""
    if not new:
        return
    for lead, lead_id in zip(new, allocate_ids(conn, t.leads, len(new)), strict=True):
        lead.id = lead_id
    conn.execute(insert(t.leads), [lead_values(lead, now) | {"id": lead.id, "created_at": now} for lead in new])


def update_leads(conn: Connection, changed: Iterable[Lead], now: datetime) -> None:
    rows = []
    for lead in changed:
        lead.version += 1
        rows.append(lead_values(lead, now) | {"b_id": lead.id})
    if rows:
        conn.execute(_LEAD_UPDATE, rows)


def insert_identities(conn: Connection, keys: dict[IdentityKey, Lead], stored: set[IdentityKey]) -> None:
    """Store identities named for the first time; repoint the `stored` ones that now belong elsewhere."""
    inserts = [{"kind": k, "value": v, "lead_id": lead.id} for (k, v), lead in keys.items() if (k, v) not in stored]
    updates = [{"b_kind": k, "b_value": v, "lead_id": lead.id} for (k, v), lead in keys.items() if (k, v) in stored]
    if inserts:
        insert_rows(conn, t.identities, inserts)
    if updates:
        c = t.identities.c
        conn.execute(update(t.identities).where(c.kind == bindparam("b_kind"), c.value == bindparam("b_value")),
                     updates)


def insert_activities(conn: Connection, items: Sequence[tuple[Activity, Lead]]) -> None:
    """Store activities and give each its id."""
    if not items:
        return
    rows, packer = [], payloads(conn)
    for (activity, lead), activity_id in zip(items, allocate_ids(conn, t.activities, len(items)), strict=True):
        activity.id = activity_id
        assert lead.id is not None  # the new leads were inserted first (`insert_leads`)
        rows.append(activity_values(activity, lead.id, packer) | {"id": activity_id})
    insert_rows(conn, t.activities, rows)


def move_lead_rows(conn: Connection, loser_id: int, survivor_id: int) -> None:
    """Give a merged lead's identities, activities and stage history to the survivor, and its imported outcome
    when the survivor has none; its scores and probability go (the survivor's are computed again)."""
    for table in (t.identities, t.activities, t.stage_changes, t.followup_timers):
        conn.execute(update(table).where(table.c.lead_id == loser_id).values(lead_id=survivor_id))
    conn.execute(delete(t.score_changes).where(t.score_changes.c.lead_id == loser_id))
    o = p.lead_outcomes.c
    survivor_has = select(o.lead_id).where(o.lead_id == survivor_id).exists()
    conn.execute(update(p.lead_outcomes).where(o.lead_id == loser_id, ~survivor_has).values(lead_id=survivor_id))
    conn.execute(delete(p.lead_outcomes).where(o.lead_id == loser_id))
    conn.execute(delete(p.lead_predictions).where(p.lead_predictions.c.lead_id == loser_id))


def write_followups(conn: Connection, changes: Sequence[Any]) -> None:
    """Store the absence timers started and close the pending ones cancelled, in the order the engine decided
    (`leadrelay.lead.followups`): a timer started and answered in one batch ends cancelled."""
    f = t.followup_timers.c
    for change in changes:
        if hasattr(change, "due_at"):
            conn.execute(insert(t.followup_timers).values(
                lead_id=change.lead.id, followup=change.rule.id, started_at=change.at, due_at=change.due_at,
                status="pending", activity=getattr(change.activity, "message_id", None),
                data=_started_by(change.activity)))
        else:
            conn.execute(update(t.followup_timers).where(
                f.lead_id == change.lead.id, f.followup == change.rule.id, f.status == "pending").values(
                status="cancelled", closed_at=change.at))


def close_duplicate_waits(conn: Connection, lead_ids: Sequence[int], now: datetime) -> None:
    """Two pending waits of one follow-up for one lead (each side of a merge had one): the one started first stays,
    the others are cancelled."""
    f = t.followup_timers.c
    rows = conn.execute(select(f.id, f.lead_id, f.followup).where(f.lead_id.in_(sorted(set(lead_ids))),
                                                                  f.status == "pending")
                        .order_by(f.lead_id, f.followup, f.started_at, f.id)).all()
    seen: set[tuple[int, str]] = set()
    extra = []
    for row in rows:
        key = (row.lead_id, row.followup)
        if key in seen:
            extra.append(row.id)
        seen.add(key)
    if extra:
        conn.execute(update(t.followup_timers).where(f.id.in_(extra)).values(status="cancelled", closed_at=now))


def _started_by(activity: Any) -> dict[str, Any]:
    """What a follow-up's notice says about the activity that started it: its event, path and properties."""
    if activity is None:
        return {}
    properties = activity.properties or {}
    return {"type": activity.type, "event": activity.name if activity.type == "track" else None,
            "path": properties.get("path"), "properties": properties}


def delete_score_changes(conn: Connection, lead_ids: Sequence[int]) -> None:
    for part in chunks(list(lead_ids)):
        conn.execute(delete(t.score_changes).where(t.score_changes.c.lead_id.in_(part)))


def insert_score_changes(conn: Connection, changes: Sequence[ScoreChange], version: str) -> None:
    if not changes:
        return
    fromts = datetime.fromtimestamp
    insert_rows(conn, t.score_changes, [
        {
            "lead_id": c.lead.id, "kind": c.kind, "rule_id": c.rule_id, "delta": c.delta,
            "occurred_at": c.activity.occurred_at if c.activity is not None else fromts(c.at, UTC),
            "activity_id": c.activity.id if c.activity is not None else None,
            "playbook_version": version,
        }
        for c in changes
    ])


def insert_stage_changes(conn: Connection, changes: Sequence[StageChange], version: str | None) -> None:
    if not changes:
        return
    insert_rows(conn, t.stage_changes, [
        {
            "lead_id": c.lead.id, "from_stage": c.from_stage.value if c.from_stage else None,
            "to_stage": c.to_stage.value, "at": c.at, "transition": c.transition.value, "actor": c.actor,
            "reason": c.reason, "activity_id": c.activity.id if c.activity is not None else None,
            "playbook_version": version,
        }
        for c in changes
    ])


def insert_rejections(conn: Connection, source: str, rejections: Sequence[Rejection], received_at: datetime) -> None:
    """Store why these messages were turned away, each message and reason once however often it comes.

    A retried batch or a file ingested again meets its stored rejection (by `rejection_fingerprint`):
    the row keeps its first `received_at` and position, counts one more `seen` and moves `last_seen_at`.
    A message turned away for another reason (say, after half a fix) is a row of its own.
    """
    if not rejections:
        return
    rows: dict[str, dict[str, Any]] = {}
    for r in rejections:
        as_json = json.dumps(r.raw, default=str) if r.raw is not None else None
        fingerprint = rejection_fingerprint(r, as_json)
        if fingerprint in rows:  # the same message twice in one batch
            rows[fingerprint]["seen"] += 1
            continue
        rows[fingerprint] = {
            "source": source, "message_id": r.message_id, "position": r.position, "reason": r.reason,
            "payload": as_json[:10_000] if as_json is not None else None, "received_at": received_at,
            "fingerprint": fingerprint, "seen": 1, "last_seen_at": received_at,
        }
    upsert = upsert_into(conn, t.rejections)
    c = t.rejections.c
    upsert = upsert.on_conflict_do_update(index_elements=[c.source, c.fingerprint], set_={
        "seen": c.seen + upsert.excluded.seen, "last_seen_at": upsert.excluded.last_seen_at})
    # In the order of the input, which the listing keeps (newest first by id). Two writers meeting the same
    # rejections in another order may deadlock; `ingest_batch` runs the loser again.
    conn.execute(upsert, list(rows.values()))


def rejection_fingerprint(rejection: Rejection, payload: str | None) -> str:
    """What makes two rejections one: the message id and reason; with no message id, what the message said
    (`payload`, its JSON text) and the reason, wherever it was (a retried HTTP batch has a new request id
    in its position); with neither, where it was. Unique per source in `rejections`."""
    if rejection.message_id is not None:
        same: list[str | None] = ["message", rejection.message_id, rejection.reason]
    elif payload is not None:
        same = ["payload", hashlib.sha256(payload.encode()).hexdigest(), rejection.reason]
    else:
        same = ["position", rejection.position, rejection.reason]
    return hashlib.sha256(json.dumps(same).encode()).hexdigest()


class LeadWriter:
    """What moving a lead writes, on the unit of work's connection (a fake unit of work keeps its own)."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def flush(self) -> None:
        """Nothing is buffered: the writes go at once."""

    def load_for_update(self, lead_ids: Sequence[int]) -> dict[int, Lead]:
        return load_leads(self.conn, lead_ids, for_update=True)

    def insert_stage_changes(self, changes: Sequence[StageChange], version: str | None) -> None:
        insert_stage_changes(self.conn, changes, version)

    def update(self, changed: Iterable[Lead], now: datetime) -> None:
        """Write back leads changed in bulk (their versions bumped)."""
        update_leads(self.conn, changed, now)

    def save(self, lead: Lead, now: datetime) -> None:
        """Write a lead back, failing with Conflict if someone else wrote it since it was read."""
        version = lead.version
        lead.version += 1
        result = self.conn.execute(update(t.leads).where(t.leads.c.id == lead.id, t.leads.c.version == version)
                                   .values(**lead_values(lead, now)))
        if result.rowcount != 1:
            raise Conflict(f"lead {lead.id} changed while it was being moved: try again")


def sql_lead_writer(uow: UnitOfWork) -> LeadWriter:
    return LeadWriter(uow.conn)


def lead_writer(uow: UnitOfWork) -> LeadWriter:
    """The unit of work's lead writer (its SQL one; a fake unit of work registers its own)."""
    return uow.part(sql_lead_writer)
