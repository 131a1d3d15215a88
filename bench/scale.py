"""How the hot paths' cost grows with the store: the same operations at N and at K·N leads.

    python bench/scale.py [--json] [--leads N] [--factor K] [--backends sqlite,postgresql] [--base V] [--profile]

Issue 14: nothing that runs per activity may depend on the store's size. Two stores are
built, of N and K·N leads (default 100,000 and 1,000,000), and the same operations, on
the same leads, with the same clock, run on both, side by side (small, then large, one
operation or one sample at a time, so that the machine's noise falls on both alike):

- `ingest`: one `ingest()` call of the next 2,000 messages of the demo stream (new
  visitors and known ones, with their duplicates and malformed messages), after 200 more
  ingested untimed to warm the caches as a running server has them;
- `hand_raiser`: 50 known leads below sal each send one `Demo Requested` track through
  `ingest()`; the time from the call to its return (committed, lead in sal: checked);
  median (the figure judged) and p99;
- `assign`: 500 more known leads request a demo while every SDR is inactive (their
  handoffs wait in the queue), the SDRs come back with room, and ONE
  `worker.assign_queued` call is timed;
- `leads_show`: what `leadrelay leads show LEAD` and the API's lead detail read
  (`explain_lead` and `with_prediction`) for 30 known leads with 10 to 40 activities
  each, by email; median;
- `sweep_due`: `worker.sweep(app, now)` 30 minutes later: the SLA timers of the handoffs
  opened above came due (warnings, breaches, escalations), and 100 outbox messages are
  delivered to a webhook receiver on loopback;
- `sweep_idle`: `worker.sweep(app, now)` with nothing due (the outbox drained first);
  median of seven.

The growth of an operation is its time in the large store divided by its time in the
small one; the target is growth <= 1.5 for each (`ratio` = 1.5 / growth: 1 or more meets
it). Single calls (`ingest`, `assign`, `sweep_due`) also give the growth of this
process's CPU time (`cpu_growth`): on SQLite that is all of the work, and on a shared
machine it varies less than the wall time.

How the stores are built (minutes, not the hours ingesting a million leads would take):

1. A base of V visitors (`--base`, default 20,000, at most N) goes through the real
   engine: the demo stream of `generate_demo_stream(seed=7)` over 180 days, up to day 170,
   with the starter playbook and a webhook, loaded as history (`live=False`, not quiet),
   then one worker sweep catches up on everything that came due (SLA steps, escalations,
   stale leads, follow-ups) and the outbox is marked delivered. That gives every table
   what the product writes: leads with anonymous, user and email identities, about 13
   activities each (packed payloads, trained dictionary), score and stage changes,
   accounts, handoffs closed and open with their SLA timers, routing decisions, touches,
   meetings, domain events, follow-up timers, suppressions, PQL signals, sent outbox rows
   and the reps' assignment counters. The base is built once per backend and copied.
2. The base is doubled by the database (`INSERT ... SELECT`, one transaction per
   doubling; the last one copies only as many leads as are missing) until the store holds
   N (or K·N) leads: every copy gets ids of its own, references shifted to its copies,
   and its unique values (identities, message ids, group ids) tagged `~<offset>`. Only
   history is copied: closed handoffs and their timers, decisions, touches, meetings and
   events; fired or cancelled follow-ups; sent outbox rows. What is open (handoffs owned
   or queued, timers pending) stays as the base has it, the same in both stores: a bigger
   history does not give the reps more open leads. The assignment counters grow with the
   copies. On PostgreSQL foreign-key triggers are off while copying
   (`session_replication_role`) and ANALYZE runs afterwards, as autovacuum would.

The leads every operation names are base leads (the same ids in both stores, with the same
history). Progress on stderr; with `--json` one JSON object on stdout:
`{"leads_small", "leads_large", "factor", "limit", "sqlite": {"build": {...}, "operations":
{NAME: {"unit", "small", "large", "growth", "ratio", ...}}, "over_limit": [NAME, ...]},
"postgresql": {...} | null}`. `--profile` runs each operation on the large store under
cProfile (the top functions on stderr). PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test), in fresh schemas dropped afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ingest import Clock, log  # bench/ingest.py
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.engine import make_url

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.app import App
from leadrelay.core.errors import StorageUnavailable
from leadrelay.delivery.webhook import generate_secret
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.handoff.directory import set_rep
from leadrelay.handoff.model import OPEN_STATUSES
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.predict.queries import with_prediction
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade
from leadrelay.storage.outbox_tables import PENDING, SENT, outbox
from leadrelay.worker import SweepReport, assign_queued, sweep

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET_ENV = "LEADRELAY_BENCH_WEBHOOK_SECRET"
LIMIT = 1.5  # growth allowed from N to K·N leads
SOURCE = "demo"
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 180
CUT_DAY = 170  # the history: the stream before this day; the timed batch: the messages that follow
WARM = 200  # messages ingested untimed before the batch
BATCH = 2_000  # messages per timed `ingest()` call (the default batch size: one transaction)
BATCHES = 4  # timed calls, alternating between the stores; the median is the figure
HAND_RAISERS = 50
QUEUE = 500
SHOWN = 30
IDLE_SWEEPS = 7
SDRS = ("alice", "ben", "chloe", "david")  # the starter playbook's SDRs
JUDGED = ("ingest", "hand_raiser", "assign", "leads_show", "sweep_due", "sweep_idle")


class Receiver:
    """A webhook receiver on loopback that answers 200 to everything (the sweeps deliver to it)."""

    def __init__(self) -> None:
        self.received = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver.received += 1

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadrelay"


def playbook(url: str):
    """The starter playbook, with a webhook for every event type (every notice writes an outbox row)."""
    return parse_playbook(starter_text() + f"\nnotifications:\n  webhooks:\n    - {{id: crm, url: \"{url}\", "
                                           f"secret_env: {SECRET_ENV}}}\n", "scale.yaml")


def settings(url: str) -> Settings:
    """The receiver runs on loopback, which notifications may reach only when the operator allows it."""
    return Settings(database_url=url, private_webhooks=True)


# The demo stream: history, and the batches that follow it

@dataclass
class Stream:
    history: list[tuple[str, Any]]
    warm: list[tuple[str, Any]]
    batches: list[list[tuple[str, Any]]]  # the timed ones, one `ingest()` call each
    now: datetime  # the clock while the history is loaded: an hour after its last message


def moment(message: Any) -> datetime | None:
    value = message.get("timestamp") if isinstance(message, dict) else None
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def prepare_stream(visitors: int) -> Stream:
    messages = generate_demo_stream(seed=7, visitors=visitors, start=START, days=DAYS)
    cut = START + timedelta(days=CUT_DAY)
    index = next(i for i, m in enumerate(messages) if (at := moment(m)) is not None and at >= cut)
    pairs = [(str(i), m) for i, m in enumerate(messages)]
    history, tail = pairs[:index], pairs[index:index + WARM + BATCH * BATCHES]
    latest = max(at for _, m in history + tail if (at := moment(m)) is not None)
    batches = [tail[i:i + BATCH] for i in range(WARM, len(tail), BATCH)]
    return Stream(history, tail[:WARM], batches, latest + timedelta(hours=1))


# The places stores live: SQLite files or PostgreSQL schemas

class Place:
    """Where the stores of one backend live, and how one is copied and reached for bulk SQL."""

    backend = ""

    def url(self, name: str) -> str:
        raise NotImplementedError

    def clone(self, source: str, name: str) -> None:
        raise NotImplementedError

    def raw(self, name: str) -> Any:
        """A DB-API connection to the store for the bulk copies (foreign keys not checked)."""
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SqlitePlace(Place):
    backend = "sqlite"

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="leadrelay-scale-")

    def path(self, name: str) -> Path:
        return Path(self.folder.name) / f"{name}.db"

    def url(self, name: str) -> str:
        return f"sqlite:///{self.path(name)}"

    def clone(self, source: str, name: str) -> None:
        with sqlite3.connect(self.path(source)) as src, sqlite3.connect(self.path(name)) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def raw(self, name: str) -> Any:
        conn = sqlite3.connect(self.path(name), isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "foreign_keys=OFF", "cache_size=-1000000"):
            conn.execute(f"PRAGMA {pragma}")  # a bench store being built: nothing to roll back to
        return conn

    def size(self, name: str) -> int:
        return sum(p.stat().st_size for p in Path(self.folder.name).glob(f"{name}.db*"))

    def close(self) -> None:
        self.folder.cleanup()


class PostgresPlace(Place):
    backend = "postgresql"

    def __init__(self) -> None:
        self.admin = connect(PG_URL)
        self.schemas: dict[str, str] = {}

    def schema(self, name: str) -> str:
        if name not in self.schemas:
            self.schemas[name] = f"bench_scale_{uuid.uuid4().hex[:8]}_{name}"
            with self.admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schemas[name]}"'))
        return self.schemas[name]

    def url(self, name: str) -> str:
        separator = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{separator}options=-csearch_path%3D{self.schema(name)}"

    def clone(self, source: str, name: str) -> None:
        engine = connect(self.url(name))
        try:
            upgrade(engine)  # the same migrations: the same tables, columns in the same order
        finally:
            engine.dispose()
        src, dst = self.schema(source), self.schema(name)
        with self.admin.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no foreign-key triggers
            for table in t.metadata.sorted_tables:
                conn.exec_driver_sql(f'DELETE FROM "{dst}"."{table.name}"')  # what the migrations put there
                conn.exec_driver_sql(f'INSERT INTO "{dst}"."{table.name}" SELECT * FROM "{src}"."{table.name}"')
            set_sequences(conn.exec_driver_sql, dst)

    def raw(self, name: str) -> Any:
        import psycopg

        url = make_url(self.url(name)).set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False))
        conn.execute("SET session_replication_role = replica")  # the copies keep the keys; no triggers
        return conn

    def size(self, name: str) -> int:
        with self.admin.connect() as conn:
            return int(conn.scalar(text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relkind = 'r'"),
                {"schema": self.schema(name)}) or 0)

    def close(self) -> None:
        with self.admin.begin() as conn:
            for schema in self.schemas.values():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        self.admin.dispose()


def set_sequences(execute: Callable[[str], Any], schema: str | None = None) -> None:
    """PostgreSQL: every id sequence goes on after the ids the copies were given."""
    for table in t.metadata.sorted_tables:
        if "id" in table.c and table.c.id.autoincrement is True:
            name = f'"{schema}"."{table.name}"' if schema else table.name
            execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), max(id)) FROM {name} "
                    "HAVING max(id) IS NOT NULL")


# The base: the demo stream through the engine, as history

def build_base(url: str, stream: Stream, book) -> dict[str, Any]:
    clock = Clock(stream.now)
    app = bootstrap(settings(url), playbook=book, clock=clock)
    try:
        started = time.perf_counter()
        report = ingest(app, stream.history, source=SOURCE, live=False, backfill=False)
        ingested = time.perf_counter() - started
        log(f"  {report.accepted:,} activities ingested in {ingested:.0f} s ({report.accepted / ingested:,.0f}/s); "
            "catching up ...")
        caught = sweep(app, stream.now, deliver=False)  # what came due during the history
        with app.engine.begin() as conn:  # what the history sent was delivered
            conn.execute(update(outbox).where(outbox.c.status == PENDING)
                         .values(status=SENT, attempts=1, sent_at=outbox.c.created_at))
        log(f"  catch-up sweep: {caught.summary()}")
        with app.engine.connect() as conn:
            leads, last = conn.execute(select(func.count(), func.max(t.leads.c.id))).one()
        return {"leads": leads, "last_lead_id": last, "activities": report.accepted, "ingest_s": round(ingested, 1),
                "ingest_per_s": round(report.accepted / ingested)}
    finally:
        app.close()


# Doubling a store in the database

# What is copied, parents first: (table, which rows). History only (see the module docstring).
CLOSED = "(handoff_id IS NULL OR handoff_id IN (SELECT id FROM handoffs WHERE status = 'closed' AND id <= {H}))"
COPIED: list[tuple[Table, str]] = [
    (t.accounts, "id <= {own}"),
    (h.account_owners, "account_id <= {A}"),
    (t.leads, "id <= {lim}"),
    (t.identities, "lead_id <= {lim}"),
    (t.activities, "lead_id <= {lim} AND id <= {own}"),
    (t.score_changes, "lead_id <= {lim} AND id <= {own}"),
    (t.stage_changes, "lead_id <= {lim} AND id <= {own}"),
    (s.pql_signals, "lead_id <= {lim}"),
    (s.product_qualified, "lead_id <= {lim}"),
    (h.suppressions, "lead_id <= {lim} AND id <= {own}"),
    (t.followup_timers, "lead_id <= {lim} AND id <= {own} AND status <> 'pending'"),
    (h.handoffs, "lead_id <= {lim} AND id <= {own} AND status = 'closed'"),
    (h.routing_decisions, "lead_id <= {lim} AND id <= {own} AND " + CLOSED),
    (h.sla_timers, "lead_id <= {lim} AND id <= {own} AND " + CLOSED),
    (h.touches, "lead_id <= {lim} AND id <= {own} AND " + CLOSED),
    (h.meetings, "lead_id <= {lim} AND id <= {own} AND " + CLOSED),
    (h.domain_events, "lead_id <= {lim} AND id <= {own} AND " + CLOSED),
    (outbox, "lead_id <= {lim} AND id <= {own} AND status <> 'pending'"),
]
REFERENCES = {"lead_id": "L", "handoff_id": "H", "activity_id": "X", "account_id": "A"}
TAG = "'~{k}'"
TAGGED = {  # (table, column): the copy's value; unique values get the copy's tag
    ("accounts", "group_id"): "group_id || " + TAG,
    ("leads", "email"): "replace(email, '@', " + TAG + " || '@')",
    ("leads", "user_id"): "user_id || " + TAG,
    ("leads", "merged_into"): "CASE WHEN merged_into <= {lim} THEN merged_into + {L} ELSE merged_into END",
    ("identities", "value"): "CASE WHEN kind = 'email' THEN replace(value, '@', " + TAG + " || '@') "
                             "ELSE value || " + TAG + " END",
    ("activities", "message_id"): "message_id || " + TAG,
    ("activities", "anonymous_id"): "anonymous_id || " + TAG,
    ("activities", "user_id"): "user_id || " + TAG,
    ("activities", "email"): "replace(email, '@', " + TAG + " || '@')",
    ("activities", "group_id"): "group_id || " + TAG,
    ("meetings", "external_id"): "external_id || " + TAG,
    ("outbox", "message_id"): "'scale_' || (id + {own})",
}
SHORTHAND = {"leads": "L", "handoffs": "H", "activities": "X", "accounts": "A"}


def copy_statement(table: Table) -> str:
    """INSERT ... SELECT of `table` onto itself, with placeholders for the offsets and the last lead copied."""
    names, values = [], []
    for column in table.columns:
        name = column.name
        names.append(f'"{name}"')
        if (table.name, name) in TAGGED:
            values.append(TAGGED[table.name, name])
        elif name == "id" and column.autoincrement is True:
            values.append("id + {own}")
        elif name in REFERENCES:
            values.append(f'"{name}" + {{{REFERENCES[name]}}}')
        else:
            values.append(f'"{name}"')
    where = dict(COPIED)[table]
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(values)} FROM {table.name} WHERE {where}"


def grow(place: Place, name: str, target: int) -> list[float]:
    """Double the store's leads (and their history) until it holds `target`; the seconds each doubling took."""
    conn = place.raw(name)
    cur = conn.cursor()

    def one(sql: str) -> Any:
        cur.execute(sql)
        return cur.fetchone()[0]

    uncopied = [table.name for table in t.metadata.sorted_tables if "lead_id" in table.c
                and table not in dict(COPIED) and table.name not in ("report_dirty", "report_leads")
                and one(f"SELECT count(*) FROM {table.name}")]
    if uncopied:
        raise SystemExit(f"the base has rows in {', '.join(uncopied)}, which bench/scale.py does not copy")
    statements = [(table, copy_statement(table)) for table, _ in COPIED]
    steps = []
    have = one("SELECT count(*) FROM leads")
    try:
        while have < target:
            started = time.perf_counter()
            need = min(have, target - have)
            lim = one(f"SELECT id FROM leads ORDER BY id LIMIT 1 OFFSET {need - 1}")
            offsets = {table.name: one(f"SELECT coalesce(max(id), 0) FROM {table.name}")
                       for table, _ in COPIED if "id" in table.c}
            shift = {letter: offsets[table] for table, letter in SHORTHAND.items()}
            if place.backend == "sqlite":
                cur.execute("BEGIN")
            for table, statement in statements:
                cur.execute(statement.format(lim=lim, k=shift["L"], own=offsets.get(table.name, 0), **shift))
            # in 64 bits: a counter times a million copies overflows PostgreSQL's integer
            cur.execute("UPDATE rep_assignment_counts SET assigned = assigned + "
                        f"CAST(assigned AS BIGINT) * {need} / {have}")
            conn.commit()
            have += need
            steps.append(time.perf_counter() - started)
            log(f"    {have:,} leads ({steps[-1]:.0f} s)")
        if place.backend == "postgresql":
            set_sequences(cur.execute)
            conn.commit()
            conn.autocommit = True
            cur.execute("ANALYZE")  # the planner's statistics, as autovacuum keeps them
    finally:
        conn.close()
    return steps


# The stores and the operations

@dataclass
class Store:
    label: str
    app: App
    clock: Clock
    leads: int
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Picks:
    """The base leads the operations name (the same in both stores)."""

    shown: list[str]
    hand_raisers: list[str]  # user ids
    queue: list[str]
    warm: list[str]


def pick_leads(app: App, base_max: int) -> Picks:
    c, a, o = t.leads.c, t.activities.c, h.handoffs.c
    rng = random.Random(14)
    with app.engine.connect() as conn:
        count = select(func.count()).where(a.lead_id == c.id).scalar_subquery()
        shown = conn.execute(select(c.id, c.email).where(c.id <= base_max, c.stage.is_not(None),
                                                         c.merged_into.is_(None), count.between(10, 40))
                             .order_by(c.id)).all()
        open_handoff = select(o.id).where(o.lead_id == c.id, o.status.in_(OPEN_STATUSES)).exists()
        below_sal = conn.scalars(select(c.user_id).where(
            c.id <= base_max, c.user_id.is_not(None), c.merged_into.is_(None), c.disqualified_by.is_(None),
            c.stage.in_(("subscriber", "lead", "mql")), ~open_handoff).order_by(c.id)).all()
    wanted = HAND_RAISERS + QUEUE + 5
    if len(below_sal) < wanted or len(shown) < SHOWN:
        raise SystemExit(f"the base has {len(below_sal)} known leads below sal and {len(shown)} with 10-40 "
                         f"activities; {wanted} and {SHOWN} are needed: give a larger --base")
    chosen = rng.sample(below_sal, wanted)
    return Picks(shown=[email or str(lead_id) for lead_id, email in rng.sample(shown, SHOWN)],
                 hand_raisers=chosen[:HAND_RAISERS], queue=chosen[HAND_RAISERS:HAND_RAISERS + QUEUE],
                 warm=chosen[HAND_RAISERS + QUEUE:])


def demo_request(user_id: str, at: datetime, tag: str) -> dict:
    return {"type": "track", "event": "Demo Requested", "userId": user_id, "messageId": f"scale-{tag}-{user_id}",
            "timestamp": at.isoformat(), "properties": {"form": "demo"}}


class Timer:
    """Wall and CPU time of one call; under cProfile when asked (the large store's calls, `--profile`)."""

    def __init__(self, profiles: dict[str, cProfile.Profile] | None):
        self.profiles = profiles

    @contextmanager
    def __call__(self, out: dict[str, float], name: str | None = None) -> Iterator[None]:
        profiler = None
        if self.profiles is not None and name is not None:
            profiler = self.profiles.setdefault(name, cProfile.Profile())
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        try:
            yield
        finally:
            if profiler:
                profiler.disable()
            out["seconds"], out["cpu"] = time.perf_counter() - started, time.process_time() - cpu


def run_operations(stores: list[Store], stream: Stream, picks: Picks, receiver: Receiver,
                   profiles: dict[str, cProfile.Profile] | None) -> None:
    """Every operation on every store, one store after the other for each operation (or each sample)."""
    timer = Timer(profiles)

    untimed = Timer(None)

    def timed(store: Store, name: str) -> Timer:
        """The large store's calls are profiled (with `--profile`)."""
        return timer if store is stores[-1] else untimed

    log(f"  ingest: {BATCHES} batches of the demo stream ...")
    for store in stores:
        store.clock.now = stream.now + timedelta(minutes=10)
        ingest(store.app, stream.warm, source=SOURCE, live=False, backfill=False)
        store.figures["ingest"] = []
    for batch in stream.batches:
        for store in stores:
            took: dict[str, float] = {}
            with timed(store, "ingest")(took, "ingest"):
                report = ingest(store.app, batch, source=SOURCE, live=False, backfill=False)
            store.figures["ingest"].append(took | {"accepted": report.accepted, "leads_created": report.leads_created})

    log("  leads show ...")
    for store in stores:
        store.figures["leads_show"] = []
    for ref in picks.shown:
        for store in stores:
            took = {}
            with timed(store, "leads_show")(took, "leads_show"):
                with_prediction(store.app, explain_lead(store.app, ref))
            store.figures["leads_show"].append(took["seconds"] * 1000)

    log("  hand-raisers ...")
    for store in stores:
        store.figures["hand_raiser"] = []
        for user_id in picks.warm:  # untimed: the path's first calls
            store.clock.now += timedelta(seconds=1)
            ingest(store.app, [("warm", demo_request(user_id, store.clock.now, "warm"))], source="scale")
    for user_id in picks.hand_raisers:
        for store in stores:
            store.clock.now += timedelta(seconds=1)
            message = demo_request(user_id, store.clock.now, "hand")
            took = {}
            with timed(store, "hand_raiser")(took, "hand_raiser"):
                ingest(store.app, [("hand-raiser", message)], source="scale")
            store.figures["hand_raiser"].append(took["seconds"] * 1000)
            check_sal(store.app, user_id)

    log(f"  assign: {QUEUE} queued handoffs ...")
    for store in stores:
        for rep in SDRS:
            set_rep(store.app, rep, actor="user:bench", active=False)
        store.clock.now += timedelta(minutes=1)
        at = store.clock.now
        took = {}
        with Timer(None)(took):
            ingest(store.app, [(f"queue {i}", demo_request(user_id, at + timedelta(milliseconds=i), "queue"))
                               for i, user_id in enumerate(picks.queue)], source="scale")
        with store.app.engine.connect() as conn:
            queued = conn.scalar(select(func.count()).select_from(h.handoffs).where(h.handoffs.c.status == "queued"))
        if queued < QUEUE * 0.9:  # a few of the leads may not be handed to sales (an unserved country, say)
            raise SystemExit(f"{store.label}: {queued} handoffs queued, {QUEUE} expected")
        for rep in SDRS:
            set_rep(store.app, rep, actor="user:bench", active=True, capacity=100_000, daily_quota=100_000)
        store.clock.now += timedelta(minutes=1)
        report = SweepReport()
        assigned: dict[str, float] = {}
        with timed(store, "assign")(assigned, "assign"):
            assign_queued(store.app, store.clock.now, report)
        store.figures["queue_ingest_s"] = took["seconds"]
        store.figures["assign"] = assigned | {"queued": queued, "assigned": report.assigned,
                                              "still_queued": report.still_queued}

    log("  sweep with due work, 30 minutes later ...")
    for store in stores:
        store.clock.now += timedelta(minutes=30)
        took = {}
        with timed(store, "sweep_due")(took, "sweep_due"):
            report = sweep(store.app, store.clock.now)
        store.figures["sweep_due"] = took | {"report": report.as_dict()}
        with store.app.engine.begin() as conn:  # the rest of the outbox, as a running courier would have sent it
            conn.execute(update(outbox).where(outbox.c.status == PENDING).values(status=SENT, sent_at=store.clock.now))

    log("  idle sweeps ...")
    for store in stores:
        store.figures["sweep_idle"] = []
        sweep(store.app, store.clock.now)  # untimed: anything left from the due sweep
    for _ in range(IDLE_SWEEPS):
        for store in stores:
            took = {}
            with timed(store, "sweep_idle")(took, "sweep_idle"):
                report = sweep(store.app, store.clock.now)
            store.figures["sweep_idle"].append(took["seconds"] * 1000)
            if report.timers or report.assigned or report.delivered.get("claimed"):
                log(f"  {store.label}: the idle sweep had work: {report.summary()}")


def check_sal(app: App, user_id: str) -> None:
    c, i = t.leads.c, t.identities.c
    with app.engine.connect() as conn:
        stage = conn.scalar(select(c.stage).join(t.identities, i.lead_id == c.id)
                            .where(i.kind == "user", i.value == user_id))
    if stage != "sal":
        raise SystemExit(f"the hand-raiser {user_id} is in {stage!r}, not sal")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def entry(unit: str, small: float, large: float, **extra: Any) -> dict[str, Any]:
    growth = large / max(small, 1e-9)
    return {"unit": unit, "small": round(small, 4), "large": round(large, 4), "growth": round(growth, 2),
            "ratio": round(LIMIT / growth, 2)} | extra


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def cpu_growth(name: str) -> float:
        return round(large[name]["cpu"] / max(small[name]["cpu"], 1e-9), 2)

    def median_of(figures: dict[str, Any], key: str) -> float:
        return statistics.median(call[key] for call in figures["ingest"])

    shown = [statistics.median(x["leads_show"]) for x in (small, large)]
    raised = [x["hand_raiser"] for x in (small, large)]
    idle = [statistics.median(x["sweep_idle"]) for x in (small, large)]
    p99 = [percentile(x, 99) for x in raised]
    return {
        "ingest": entry("s (median)", median_of(small, "seconds"), median_of(large, "seconds"),
                        cpu_growth=round(median_of(large, "cpu") / median_of(small, "cpu"), 2), messages=BATCH,
                        calls=BATCHES, accepted=[sum(call["accepted"] for call in x["ingest"]) for x in (small, large)],
                        leads_created=[sum(call["leads_created"] for call in x["ingest"]) for x in (small, large)]),
        "hand_raiser": entry("ms (median)", *map(statistics.median, raised), p99=[round(p, 2) for p in p99],
                             growth_p99=round(p99[1] / p99[0], 2), samples=HAND_RAISERS),
        "assign": entry("s", small["assign"]["seconds"], large["assign"]["seconds"], cpu_growth=cpu_growth("assign"),
                        queued=[small["assign"]["queued"], large["assign"]["queued"]],
                        assigned=[small["assign"]["assigned"], large["assign"]["assigned"]]),
        "leads_show": entry("ms (median)", *shown, leads=SHOWN),
        "sweep_due": entry("s", small["sweep_due"]["seconds"], large["sweep_due"]["seconds"],
                           cpu_growth=cpu_growth("sweep_due"),
                           work=[small["sweep_due"]["report"], large["sweep_due"]["report"]]),
        "sweep_idle": entry("ms (median)", *idle, sweeps=IDLE_SWEEPS),
    }


def store_rows(app: App) -> dict[str, int]:
    with app.engine.connect() as conn:
        return {table.name: conn.scalar(select(func.count()).select_from(table)) or 0
                for table in (t.leads, t.identities, t.activities, t.score_changes, t.stage_changes, h.handoffs,
                              h.sla_timers, h.routing_decisions, h.domain_events, outbox)}


def bench_backend(place: Place, stream: Stream, sizes: list[int], base_visitors: int, book, receiver: Receiver,
                  profile: bool) -> dict[str, Any]:
    log(f"[{place.backend}] base: {base_visitors:,} visitors of the demo stream through the engine ...")
    started = time.perf_counter()
    base = build_base(place.url("base"), stream, book)
    base["seconds"] = round(time.perf_counter() - started, 1)
    stores: list[Store] = []
    build: dict[str, Any] = {"base": base}
    try:
        for label, n in zip(("small", "large"), sizes, strict=True):
            log(f"[{place.backend}] {label} store: {n:,} leads ...")
            started = time.perf_counter()
            place.clone("base", label)
            steps = grow(place, label, n)
            clock = Clock(stream.now)
            app = bootstrap(settings(place.url(label)), playbook=book, clock=clock)
            rows = store_rows(app)
            build[label] = {"seconds": round(time.perf_counter() - started, 1),
                            "doublings_s": [round(x, 1) for x in steps], "rows": rows, "bytes": place.size(label)}
            log(f"  built in {build[label]['seconds']:.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
            stores.append(Store(label, app, clock, rows["leads"]))
        picks = pick_leads(stores[0].app, base["last_lead_id"])
        profiles: dict[str, cProfile.Profile] | None = {} if profile else None
        run_operations(stores, stream, picks, receiver, profiles)
        for name, profiler in (profiles or {}).items():
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            log(f"--- profile of {name} on the large store ---\n{out.getvalue()}")
    finally:
        for store in stores:
            store.app.close()
    operations = compare(stores[0].figures, stores[1].figures)
    over = [name for name in JUDGED if operations[name]["growth"] > LIMIT]
    for name, figures in operations.items():
        log(f"  {name:12} {figures['small']:10.3f} {figures['large']:10.3f} {figures['unit']:12} "
            f"x{figures['growth']}" + (f" (CPU x{figures['cpu_growth']})" if "cpu_growth" in figures else ""))
    return {"build": build, "operations": operations, "over_limit": over,
            "samples": {store.label: store.figures for store in stores}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--leads", type=int, default=100_000, help="leads in the small store (default 100000)")
    parser.add_argument("--factor", type=int, default=10, help="the large store has this many times more (default 10)")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql (default sqlite)")
    parser.add_argument("--base", type=int, default=20_000,
                        help="visitors of the demo stream ingested for the base (default 20000, at most --leads)")
    parser.add_argument("--profile", action="store_true", help="cProfile each operation on the large store (stderr)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.factor < 2 or args.leads < 1_000:
        parser.error("--factor must be at least 2 and --leads at least 1000")
    visitors = min(args.base, args.leads)
    sizes = [args.leads, args.leads * args.factor]
    os.environ.setdefault(SECRET_ENV, generate_secret())
    receiver = Receiver()
    book = playbook(receiver.url)
    log(f"demo stream: {visitors:,} visitors ...")
    stream = prepare_stream(visitors)
    log(f"  {len(stream.history):,} messages of history, {BATCH:,} in the timed batch")
    results: dict[str, Any] = {"leads_small": sizes[0], "leads_large": sizes[1], "factor": args.factor,
                               "limit": LIMIT, "base_visitors": visitors, "sqlite": None, "postgresql": None}
    for backend in backends:
        try:
            place: Place = SqlitePlace() if backend == "sqlite" else PostgresPlace()
        except StorageUnavailable as exc:
            log(f"[{backend}] skipped: {exc}")
            continue
        try:
            results[backend] = bench_backend(place, stream, sizes, visitors, book, receiver, args.profile)
        finally:
            place.close()
    receiver.server.shutdown()
    if args.json:
        print(json.dumps(results))
        return 0
    for backend in backends:
        result = results[backend]
        if result is None:
            print(f"{backend}: not run")
            continue
        print(f"{backend}: {sizes[0]:,} -> {sizes[1]:,} leads (built in {result['build']['small']['seconds']:.0f} s "
              f"and {result['build']['large']['seconds']:.0f} s)")
        for name, figures in result["operations"].items():
            print(f"  {name:12} {figures['small']:10.3f} -> {figures['large']:10.3f} {figures['unit']:12} "
                  f"growth x{figures['growth']:<5} ratio {figures['ratio']}")
        print(f"  over the limit of x{LIMIT}: {', '.join(result['over_limit']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
