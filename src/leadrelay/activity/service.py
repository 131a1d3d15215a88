"""Ingesting activities: the one service function every source goes through.

Per batch, in one transaction: validate, drop duplicates (by source and message id),
resolve identities (merging leads where needed), attach accounts, score, qualify and
move stages, then store the activities, every score change and every stage move.

Writers run side by side on PostgreSQL (server threads and processes, a CLI import). A
batch first locks the identities and accounts it names (`lock_identities`), so two
batches naming the same new person store them once, one after the other; and it reads
its leads' identities again once it holds their rows, so it never writes to a lead
another batch merged away meanwhile. What still collides (a deadlock, a unique key
taken first) rolls the batch back whole and runs it again after a jittered pause; after
RACE_ATTEMPTS it is refused as `Busy` (HTTP 503 with Retry-After), nothing of it stored.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import DBAPIError

from leadrelay.activity.segment import iter_messages, parse_message
from leadrelay.activity.store import upsert_accounts
from leadrelay.core.app import App
from leadrelay.core.errors import Busy, InvalidInput
from leadrelay.handoff.desk import desk_of
from leadrelay.handoff.meeting_service import on_activities as apply_meetings
from leadrelay.handoff.meeting_service import read_track
from leadrelay.lead import store as repo
from leadrelay.lead.activities import Activity, Rejection
from leadrelay.lead.engine import Outcome, process, reset_derived, sort_key
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.identity import IdentityGraph, IdentityKey, identity_keys
from leadrelay.lead.model import Lead
from leadrelay.privacy.gate import refuse_erased
from leadrelay.sales.signals import on_activities as watch_sales_signals
from leadrelay.storage import packing
from leadrelay.storage import tables as t
from leadrelay.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from leadrelay.playbook.loader import Playbook

REPORTED_REJECTIONS = 200  # rejections kept in the report; all of them are stored
RACE_ATTEMPTS = 8  # runs of a batch that keeps colliding with other writers before it is refused as Busy
RACE_PAUSE = 0.05  # seconds, at most, before the second run; doubled for each next one, up to 1 s
_RACE_SQLSTATES = {"23505", "40001", "40P01"}  # a unique key taken first, serialization failure, deadlock


@dataclass
class IngestReport:
    """What one ingest call did. Rejections are stored too (table `rejections`)."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    leads_created: int = 0
    leads_merged: int = 0
    stage_moves: Counter = field(default_factory=Counter)  # to-stage -> count
    rejections: list[Rejection] = field(default_factory=list)
    handoffs_from_history: int = 0  # handoffs opened while loading history (recorded; their past deadlines too)
    notices_not_sent: int = 0  # notices recorded but not sent: loaded history tells nobody

    def add(self, other: IngestReport) -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.leads_created += other.leads_created
        self.leads_merged += other.leads_merged
        self.stage_moves.update(other.stage_moves)
        self.handoffs_from_history += other.handoffs_from_history
        self.notices_not_sent += other.notices_not_sent
        room = REPORTED_REJECTIONS - len(self.rejections)
        self.rejections.extend(other.rejections[:max(room, 0)])

    def as_dict(self) -> dict:
        return {
            "received": self.received, "accepted": self.accepted, "duplicates": self.duplicates,
            "rejected": self.rejected, "leads_created": self.leads_created, "leads_merged": self.leads_merged,
            "stage_moves": dict(sorted(self.stage_moves.items())),
            "recorded_silently": {"handoffs": self.handoffs_from_history, "notices": self.notices_not_sent},
            "rejections": [{"position": r.position, "message_id": r.message_id, "reason": r.reason}
                           for r in self.rejections],
        }


def ingest(
    app: App,
    messages: Iterable[tuple[str, object]],
    *,
    source: str | None = None,
    received_at: datetime | None = None,
    live: bool = True,
    backfill: bool | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Ingest `(position, message)` pairs in transactions of `settings.batch_size` messages.

    Batch envelopes are unpacked. Each transaction stands alone: a failure rolls back
    that batch only. `on_batch(report_of_batch)` is called after each commit (progress).
    `live=False` is for files of messages sent long ago: timestamps are taken as sent,
    without Segment's clock-skew correction against the time of receipt.
    `backfill` (default: `not live`) loads history: handoffs, timers and breaches are
    recorded at their historical times, and nothing is sent or escalated for a moment
    already past at load time.
    """
    backfill = (not live) if backfill is None else backfill
    report = IngestReport()
    flat = (pair for position, raw in messages for pair in iter_messages(raw, position=position))
    for chunk in _batched(flat, app.settings.batch_size):
        part = ingest_batch(app, chunk, source=source, received_at=received_at, live=live, backfill=backfill)
        report.add(part)
        if on_batch:  # first: the batch is committed, whatever happens to the statistics below
            on_batch(part)
        if _statistics_due(app.engine, part.received, app.settings.batch_size):
            refresh_statistics(app.engine)
    return report


def ingest_batch(
    app: App,
    items: list[tuple[str, object]],
    *,
    source: str | None = None,
    received_at: datetime | None = None,
    live: bool = True,
    backfill: bool | None = None,
) -> IngestReport:
    """Ingest already-unpacked `(position, message)` pairs in one transaction (see `ingest`)."""
    backfill = (not live) if backfill is None else backfill
    source = source or app.settings.source
    now = app.clock()
    received_at = received_at or now
    report = IngestReport(received=len(items))
    parsed: list[Activity] = []
    rejections: list[Rejection] = []
    meetings = app.playbook.rules.handoff.meetings
    where: dict[int, tuple[str, object]] = {}  # meeting tracks: id(activity) -> (position, message)
    positions: dict[int, str] = {}  # id(activity) -> where it was in the input
    for position, raw in items:
        if isinstance(raw, Rejection):  # the reader already knew it was bad (not JSON, broken CSV row)
            rejections.append(raw)
            continue
        result = parse_message(raw, source=source, received_at=received_at, position=position, live=live,
                               storable=_surely_storable(raw))
        if isinstance(result, Activity) and result.type == "track" and meetings.step_of(result.name):
            result = _meeting_track(meetings, result, position, raw, where)
        if isinstance(result, Activity):
            parsed.append(result)
        else:
            rejections.append(result)
        positions[id(result)] = position
    report.rejected = len(rejections)
    report.rejections = rejections[:REPORTED_REJECTIONS]

    if parsed:
        packing.ready(app.engine)  # a payload dictionary due is trained and stored before the batch packs
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            with UnitOfWork(app, now, quiet=backfill) as uow:
                conn = uow.conn
                repo.lock_identities(conn, _locked_keys(parsed))  # before any read: see the module docstring
                record_playbook(conn, app.playbook, now)
                fresh = _drop_duplicates(conn, source, parsed)
                report.duplicates = len(parsed) - len(fresh)
                fresh, erased = refuse_erased(conn, fresh, positions, now)  # people erased on request stay out
                fresh, strangers = _meetings_of_strangers(conn, fresh, where) if where else (fresh, [])
                strangers += erased
                refused = rejections
                if strangers:  # told in the order of the input
                    order = {position: n for n, (position, _) in enumerate(items)}
                    refused = sorted(rejections + strangers, key=lambda r: order.get(r.position, 0))
                report.accepted = len(fresh)
                report.rejected = len(refused)
                report.rejections = refused[:REPORTED_REJECTIONS]
                repo.insert_rejections(conn, source, refused, received_at)
                if fresh:
                    _apply(uow, fresh, report)
                uow.commit()
            return report
        except DBAPIError as exc:
            # Another writer got there first (a unique key the identity locks do not cover, such as the
            # playbook's first record) or the two deadlocked (a rep action or the worker holding rows in another
            # order). The batch rolled back whole; run it again, and the other's rows are now seen. The pause is
            # random, so two batches that collided do not collide again in step.
            if not _lost_a_race(exc):
                raise
            if attempt == RACE_ATTEMPTS:
                what = "its message was" if len(items) == 1 else f"none of its {len(items)} messages was"
                raise Busy(f"other writers kept changing the same leads: after {RACE_ATTEMPTS} attempts at this "
                           f"batch, {what} stored; trying again is safe (messages already stored count as "
                           "duplicates)") from exc
            time.sleep(random.uniform(0, min(RACE_PAUSE * 2 ** (attempt - 1), 1.0)))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _apply(uow: UnitOfWork, fresh: list[Activity], report: IngestReport) -> None:
    conn, app, now = uow.conn, uow.app, uow.now
    rules = app.playbook.rules
    graph, stored_keys = _identity_graph(conn, fresh)
    assigned, linked_at = [], {}
    for activity in fresh:
        merged = len(graph.merges)
        assigned.append((activity, graph.resolve(activity)))
        for merge in graph.merges[merged:]:
            linked_at[id(merge.loser)] = activity.occurred_at.timestamp()  # when the two became one
    assigned = [(activity, graph.lead_for(lead)) for activity, lead in assigned]
    by_lead: dict[int, tuple[Lead, list[Activity]]] = {}
    for activity, lead in assigned:
        by_lead.setdefault(id(lead), (lead, []))[1].append(activity)

    merges = [(m.loser, graph.lead_for(m.survivor)) for m in graph.merges]
    for loser, survivor in merges:  # a demo request the anonymous side made counts from when they were linked
        if loser.pending_hand and (survivor.pending_hand is None or loser.pending_hand[1] > survivor.pending_hand[1]):
            trigger, raised = loser.pending_hand[:2]
            survivor.pending_hand = (trigger, raised, max(raised, linked_at.get(id(loser), raised)),
                                     *loser.pending_hand[3:])  # why it waited, when recorded
            loser.pending_hand = None
        elif survivor.pending_hand:  # the survivor was the anonymous side: linked now, not when it raised a hand
            trigger, raised, linked = (*survivor.pending_hand, survivor.pending_hand[1])[:3]
            survivor.pending_hand = (trigger, raised, max(linked, linked_at.get(id(loser), linked)),
                                     *survivor.pending_hand[3:])
    for loser, survivor in merges:  # one wait per follow-up for the person: the one started first
        for rule_id, timer in loser.followups.items():
            mine = survivor.followups.get(rule_id)
            if mine is None or timer[0] < mine[0]:
                survivor.followups[rule_id] = timer
        loser.followups = {}
    replay = {id(survivor) for _, survivor in merges}
    for lead, acts in by_lead.values():
        if lead.last_activity_at is not None and min(a.occurred_at for a in acts) < lead.last_activity_at:
            replay.add(id(lead))  # a late activity: caps and decay must be recomputed in time order
    replayed = [lead for lead, _ in by_lead.values() if id(lead) in replay]
    stored = repo.lead_activities(conn, [lead.id for lead in replayed if lead.id]
                                  + [_stored_id(loser) for loser, _ in merges])
    history: dict[int, list[Activity]] = {id(lead): list(stored[lead.id]) if lead.id else [] for lead in replayed}
    for loser, survivor in merges:
        history[id(survivor)].extend(stored[_stored_id(loser)])

    _attach_accounts(conn, assigned, now)

    outcome = Outcome()
    for lead, acts in by_lead.values():
        acts.sort(key=sort_key)
        if id(lead) in replay:
            new = {id(a) for a in acts}
            everything = sorted(history[id(lead)] + acts, key=sort_key)
            reset_derived(lead)
            process(lead, everything, rules, outcome, decide=lambda a: id(a) in new)
        else:
            process(lead, acts, rules, outcome)

    repo.insert_leads(conn, graph.new_leads, now)
    for loser, survivor in merges:
        repo.move_lead_rows(conn, _stored_id(loser), _stored_id(survivor))
        loser.merged_into = survivor.id
    repo.insert_activities(conn, assigned)
    repo.delete_score_changes(conn, [lead.id for lead in replayed if lead.id])
    repo.insert_score_changes(conn, outcome.score_changes, rules.version)
    repo.insert_stage_changes(conn, outcome.stage_changes, rules.version)
    repo.insert_identities(conn, graph.keys_to_store(), stored_keys)
    desk = desk_of(uow)
    for loser, survivor in merges:  # before the moves are told: a survivor given the loser's handoff has one open
        merged_at = linked_at.get(id(loser))
        desk.merge(loser, survivor, datetime.fromtimestamp(merged_at, UTC) if merged_at is not None else now)
    desk.suppress_from_activities(assigned)
    uow.publish(StagesMoved(outcome.stage_changes))
    desk.on_alerts(outcome.alerts)
    if not uow.quiet:  # history loaded from a file starts no timer: its moments are long past
        repo.write_followups(conn, outcome.followups)
    if merges:  # both sides of a merge waiting for the same follow-up: the person hears once
        repo.close_duplicate_waits(conn, [_stored_id(survivor) for _, survivor in merges], now)
    watch_sales_signals(desk, assigned)  # PQL marks and customers' expansion handoffs
    apply_meetings(desk, assigned)  # a scheduler's Meeting Booked, Held, No Show, ...
    desk.write_pending()
    if uow.quiet:
        report.handoffs_from_history = desk.opened
        report.notices_not_sent = desk.silenced
    new_ids = {id(lead) for lead in graph.new_leads}
    touched = [lead for lead, _ in by_lead.values() if id(lead) not in new_ids or lead.owner is not None]
    repo.update_leads(conn, touched + [loser for loser, _ in merges], now)
    report.leads_created = len(graph.new_leads)
    report.leads_merged = len(merges)
    report.stage_moves = Counter(c.to_stage.value for c in outcome.stage_changes)


def _stored_id(lead: Lead) -> int:
    """The id of a stored lead: a merge's loser (`IdentityGraph` merges only stored leads away), or any lead once
    `insert_leads` ran."""
    assert lead.id is not None
    return lead.id


def _meeting_track(rules, activity: Activity, position: str, raw: object,
                   where: dict[int, tuple[str, object]]) -> Activity | Rejection:
    """A scheduler's meeting track, its properties checked: refused on its own when one is malformed."""
    try:
        read_track(rules, activity)
    except InvalidInput as exc:
        return Rejection(position, str(exc), activity.message_id, raw)
    where[id(activity)] = (position, raw)
    return activity


def _meetings_of_strangers(conn: Connection, activities: list[Activity],
                           where: dict[int, tuple[str, object]]) -> tuple[list[Activity], list[Rejection]]:
    """Meeting tracks for someone LeadRelay does not know (no stored identity, and no other message of the
    batch about them) are refused: a meeting needs its lead."""
    meeting_tracks = [a for a in activities if id(a) in where]
    if not meeting_tracks:
        return activities, []
    others = {key for a in activities if id(a) not in where for key in identity_keys(a)}
    asked = {key for a in meeting_tracks for key in identity_keys(a)} - others
    known = others | set(repo.identity_owners(conn, asked)) if asked else others
    strangers = {id(a) for a in meeting_tracks if not any(key in known for key in identity_keys(a))}
    if not strangers:
        return activities, []
    refused = [Rejection(where[id(a)][0], f"'{a.name}' is about someone LeadRelay does not know (no lead has "
                         f"its userId, anonymousId or email): send identify or the form first", a.message_id,
                         where[id(a)][1]) for a in activities if id(a) in strangers]
    return [a for a in activities if id(a) not in strangers], refused


def _surely_storable(raw: object) -> bool:
    """Whether every string in a message is storable (no NUL character, no lone surrogate), found at C speed:
    orjson refuses a lone surrogate and writes a NUL as the escape `\\u0000`. False when unsure (orjson refuses
    the message for another reason, or the escape is there or only looks so): `parse_message` then walks the
    message's strings itself and names the one at fault."""
    try:
        return b"\\u0000" not in orjson.dumps(raw)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits, a key not a string
        return False


def _lost_a_race(exc: DBAPIError) -> bool:
    """Whether the batch failed only because another writer got there first (PostgreSQL). A row a constraint or
    trigger refuses is refused on every run, and SQLite has one writer at a time (BEGIN IMMEDIATE): no races."""
    return getattr(exc.orig, "sqlstate", None) in _RACE_SQLSTATES


def _identity_keys(activities: list[Activity]) -> set[IdentityKey]:
    """Every identity the batch names, an alias's previousId as either kind."""
    keys = {key for a in activities for key in identity_keys(a)}
    for a in activities:
        if a.type == "alias" and a.previous_id:
            keys.update({("user", a.previous_id), ("anonymous", a.previous_id)})
    return keys


def _locked_keys(activities: list[Activity]) -> set[tuple[str, str]]:
    """What a batch locks before it reads: its identities and the accounts (group ids) it names."""
    return _identity_keys(activities) | {("group", a.group_id) for a in activities if a.group_id is not None}


def _identity_graph(conn: Connection, activities: list[Activity]) -> tuple[IdentityGraph, set]:
    keys = _identity_keys(activities)
    owners = repo.identity_owners(conn, keys)
    leads = repo.load_leads(conn, sorted(set(owners.values())), for_update=True)
    # On PostgreSQL a writer naming other identities of one of these leads may have merged it away while this
    # one waited for its row. Now that the rows are held, their identities stay put: read them again until they
    # agree (each new owner is a lead not yet held, so this ends).
    while conn.dialect.name == "postgresql" and (again := repo.identity_owners(conn, keys)) != owners:
        owners = again
        leads |= repo.load_leads(conn, sorted(set(owners.values()) - set(leads)), for_update=True)
    return IdentityGraph(owners={key: leads[lead_id] for key, lead_id in owners.items()}), set(owners)


def _attach_accounts(conn: Connection, assigned: list[tuple[Activity, Lead]], now: datetime) -> None:
    """Link leads to the accounts their newest group call or `context.groupId` names."""
    grouped = [activity for activity, _ in assigned if activity.group_id is not None]  # incl. context.groupId
    if not grouped:
        return
    account_ids = upsert_accounts(conn, grouped, now)
    newest: dict[int, tuple[Lead, Activity]] = {}
    for activity, lead in assigned:
        if activity.group_id is not None:
            seen = newest.get(id(lead))
            if seen is None or activity.occurred_at >= seen[1].occurred_at:
                newest[id(lead)] = (lead, activity)
    traits: dict[int, Any] = dict(conn.execute(select(t.accounts.c.id, t.accounts.c.traits)
                                               .where(t.accounts.c.id.in_(set(account_ids.values())))).tuples().all())
    for lead, activity in newest.values():
        assert activity.group_id is not None  # only those naming a group are kept above
        lead.account_id = account_ids[activity.group_id]
        lead.account = dict(traits[lead.account_id] or {})


def _drop_duplicates(conn: Connection, source: str, activities: list[Activity]) -> list[Activity]:
    seen: set[str] = set()
    unique = []
    for activity in activities:
        if activity.message_id not in seen:
            seen.add(activity.message_id)
            unique.append(activity)
    stored = repo.existing_message_ids(conn, source, [a.message_id for a in unique])
    return [a for a in unique if a.message_id not in stored] if stored else unique


def record_playbook(conn: Connection, playbook: Playbook, now: datetime) -> None:
    """Store the playbook text under its version, so every decision can name the rules that made it.

    A version found stored is remembered for the database (`_stored_versions`): stored versions are never
    deleted, so each batch after the first skips the query. One inserted here is not remembered until a later
    call finds it, since this transaction may still roll back."""
    known = _stored_versions.setdefault(conn.engine, set())
    if playbook.version in known:
        return
    c = t.playbooks.c
    if conn.scalar(select(c.version).where(c.version == playbook.version)) is None:
        conn.execute(insert(t.playbooks).values(
            version=playbook.version, name=playbook.model.name, source=playbook.source, text=playbook.text,
            created_at=now,
        ))
    else:
        known.add(playbook.version)


_stored_versions: WeakKeyDictionary[Engine, set[str]] = WeakKeyDictionary()


# engine -> [messages this process ingested into it, how many make the next refresh of its statistics]
_ingested: WeakKeyDictionary[Engine, list[int]] = WeakKeyDictionary()


def _statistics_due(engine: Engine, received: int, batch_size: int) -> bool:
    """Whether to refresh PostgreSQL's statistics after `received` more messages: once this process has ingested
    1, 2, 4, 8, ... batches' worth into the store, by one call or by many. A long stream refreshes them after
    its batches 1, 2, 4, 8, ...; a server taking one message per request does not pay an ANALYZE per request
    (it was most of a hand-raiser's time on PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return False
    counts = _ingested.setdefault(engine, [0, batch_size])
    counts[0] += received
    if counts[0] < counts[1]:
        return False
    while counts[1] <= counts[0]:
        counts[1] *= 2
    return True


def refresh_statistics(engine) -> None:
    """Let PostgreSQL's planner see how the tables grew during a long stream.

    With stale statistics (a fresh table, autovacuum off or behind) the planner scans
    all of `activities` for every duplicate check instead of using the unique index, and
    a bulk import slows down quadratically. Called when `_statistics_due` says, so the
    cost stays logarithmic in what the process ingested. SQLite needs nothing.
    """
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE activities, identities, leads, score_changes")


def _batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
