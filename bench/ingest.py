"""Ingest throughput: the engine against a raw append of the same rows, on SQLite and PostgreSQL.

N synthetic Segment messages (the demo stream: page views, tracks, identifies and groups
from tens of thousands of visitors; bad and duplicate messages dropped, so N activities
are really stored) go through `ingest(app, pairs, live=False)` with the starter playbook
and the default batch size. In the same run the same N rows (`activity_values` of the same
parsed activities, their payloads packed with a dictionary trained on them beforehand) are
appended raw into the real migrated `activities` table of a fresh
database (same columns, unique constraint, indexes, FK and connection pragmas), with one
batched executemany per transaction of the same batch size. Raw append is the physical
limit of the store; ratio = engine activities/s / raw activities/s (target on SQLite with
200,000 activities: >= 25 %). Per backend raw runs first, then the engine.

After the SQLite bulk run, 200 known leads below sal each get one "Demo Requested" track
through `ingest()`; the time from call to return (committed) is reported as p50/p99, and
each lead is checked to be in sal.

    python bench/ingest.py [--activities N] [--json] [--backends sqlite,postgresql]
                           [--save-messages FILE | --messages FILE] [--playbook FILE]

Two versions of the code on the same data (the demo stream changes as the product grows):
save the messages once, then feed the file to each version, e.g. an older one checked out
with `git worktree add /tmp/before COMMIT` and run with `PYTHONPATH=/tmp/before/src`,
each with its own starter (`--playbook /tmp/before/src/leadrelay/playbook/starter.yaml`).

PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
every run uses fresh schemas (search_path) that are dropped afterwards. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from leadrelay.activity.segment import parse_message
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.lead.activities import Activity
from leadrelay.lead.rows import activity_values
from leadrelay.playbook.loader import load_playbook, starter_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.bulk import insert_rows
from leadrelay.storage.database import connect, transaction
from leadrelay.storage.migrate import upgrade
from leadrelay.storage.packing import TRAIN_SAMPLE, Payloads, as_json

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SOURCE = "bench"
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
NOW = START + timedelta(days=DAYS + 1)  # the clock: after every generated activity
HAND_RAISERS = 200
TARGET = 0.5  # issue 14; issue 2's was 0.25


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


PLAYBOOK = None  # --playbook: the playbook to run instead of the starter
PROFILE = False  # --profile: cProfile the engine's run

def make_messages(n: int, source: list[dict] | None = None) -> tuple[list[dict], list[Activity]]:
    """Exactly n valid, unique demo-stream messages (arrival order) and their parsed activities; from `source`
    (messages saved by an earlier run, so two versions of the code can be measured on the same data) when given."""
    visitors = int(n / 11.9 * 1.08) + 50  # ~11.9 messages per visitor in the demo stream
    while True:
        messages, activities, seen = [], [], set()
        stream = source if source is not None else generate_demo_stream(seed=7, visitors=visitors, start=START,
                                                                        days=DAYS)
        for i, raw in enumerate(stream):
            parsed = parse_message(raw, source=SOURCE, received_at=NOW, position=str(i), live=False)
            if isinstance(parsed, Activity) and parsed.message_id not in seen:
                seen.add(parsed.message_id)
                messages.append(raw)
                activities.append(parsed)
                if len(messages) == n:
                    return messages, activities
        if source is not None:
            return messages, activities  # a saved file holds what it holds
        visitors = int(visitors * 1.25) + 10


class _Unpacked:
    """Leaves payloads as dicts: `run_raw` packs them, in each database with the dictionary trained there."""

    @staticmethod
    def pack(payload: dict) -> dict:
        return payload


def raw_rows(activities: list[Activity]) -> tuple[list[dict], int]:
    """Row dicts as the engine stores them (payloads not yet packed), spread over one stand-in lead per visitor."""
    leads: dict[str, int] = {}
    rows = []
    for a in activities:
        lead_id = leads.setdefault(a.anonymous_id or a.user_id, len(leads) + 1)
        row = activity_values(a, lead_id, _Unpacked())  # type: ignore[arg-type]
        gid = a.context.get("groupId")  # as the engine's _attach_accounts does
        if row["group_id"] is None and isinstance(gid, (str, int)) and gid != "":
            row["group_id"] = str(gid)
        rows.append(row)
    return rows, len(leads)


def run_raw(url: str, rows: list[dict], n_leads: int, batch: int, bulk: bool = False) -> float:
    """Append the rows raw: one `insert(activities)` executemany per batch (SQLAlchemy Core, the limit the issue
    measured against), or with `bulk` the product's own bulk insert (`storage.bulk.insert_rows`: the driver's
    executemany on SQLite, COPY on PostgreSQL), the faster limit."""
    engine = connect(url)
    try:
        upgrade(engine)
        packer = Payloads()
        with transaction(engine) as conn:  # stand-in leads for the FK, the payload dictionary: outside the timing
            conn.execute(insert(t.leads), [
                {"id": i, "traits": {}, "trait_times": {}, "engine_state": {}, "segment": "new",
                 "fit_score": 0.0, "engagement_score": 0.0, "version": 0, "created_at": NOW, "updated_at": NOW}
                for i in range(1, n_leads + 1)])
            packer.train(conn, [as_json(row["payload"]) for row in rows[:TRAIN_SAMPLE] if row["payload"]])
        rows = [row | {"payload": packer.pack(row["payload"])} for row in rows]  # as the engine stores them
        stmt = insert(t.activities)
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            with transaction(engine) as conn:
                if bulk:
                    insert_rows(conn, t.activities, rows[i:i + batch])
                else:
                    conn.execute(stmt, rows[i:i + batch])
        elapsed = time.perf_counter() - started
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(t.activities)) == len(rows)
        return len(rows) / elapsed
    finally:
        engine.dispose()


def run_engine(url: str, messages: list[dict], hand_raisers: bool) -> tuple[float, int, list[float] | None]:
    clock = Clock(NOW)
    app = bootstrap(Settings(database_url=url), playbook=PLAYBOOK or starter_playbook(), clock=clock)
    try:
        pairs = [(str(i), m) for i, m in enumerate(messages)]
        profiler = cProfile.Profile() if PROFILE else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        report = ingest(app, pairs, source=SOURCE, live=False)
        elapsed = time.perf_counter() - started
        if profiler is not None:  # where the engine's time went (and the rate is the profiler's, not the engine's)
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
        with app.engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(t.activities).where(t.activities.c.source == SOURCE))
        if stored != len(messages) or report.rejected or report.duplicates:
            raise SystemExit(f"engine stored {stored} of {len(messages)} activities "
                             f"(rejected {report.rejected}, duplicates {report.duplicates})")
        latencies = hand_raiser_latencies(app, clock) if hand_raisers else None
        return len(messages) / elapsed, app.settings.batch_size, latencies
    finally:
        app.close()


def hand_raiser_latencies(app, clock: Clock) -> list[float]:
    c = t.leads.c
    with app.engine.connect() as conn:
        known = conn.execute(select(c.id, c.user_id).where(
            c.merged_into.is_(None), c.user_id.is_not(None), c.disqualified_by.is_(None),
            c.stage.in_(("subscriber", "lead", "mql"))).order_by(c.id)).all()
    if len(known) < HAND_RAISERS:
        log(f"only {len(known)} known leads below sal (wanted {HAND_RAISERS}); timing those")
    latencies = []
    for i, (lead_id, user_id) in enumerate(random.Random(1).sample(known, min(HAND_RAISERS, len(known)))):
        clock.now += timedelta(seconds=1)
        message = {"type": "track", "event": "Demo Requested", "userId": user_id,
                   "messageId": f"bench-hand-raiser-{uuid.uuid4()}", "timestamp": clock.now.isoformat()}
        started = time.perf_counter()
        ingest(app, [(f"hand-raiser {i}", message)], source=SOURCE)
        latencies.append((time.perf_counter() - started) * 1000)
        with app.engine.connect() as conn:
            stage = conn.scalar(select(c.stage).where(c.id == lead_id))
        if stage != "sal":
            raise SystemExit(f"hand-raiser lead {lead_id} ({user_id}) is in {stage!r}, not sal")
    return latencies


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def pg_schema_url(admin) -> tuple[str, str]:
    schema = "bench_" + uuid.uuid4().hex[:12]
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def bench_backend(backend: str, messages, rows, n_leads, batch, hand_raisers) -> tuple[dict, list[float] | None]:
    log(f"[{backend}] raw append of {len(rows)} rows ...")
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
            raw = run_raw(f"sqlite:///{Path(tmp) / 'raw.db'}", rows, n_leads, batch)
            raw_bulk = run_raw(f"sqlite:///{Path(tmp) / 'bulk.db'}", rows, n_leads, batch, bulk=True)
            log(f"[{backend}] raw {raw:,.0f}/s, bulk {raw_bulk:,.0f}/s; engine ...")
            engine_rate, batch, latencies = run_engine(f"sqlite:///{Path(tmp) / 'engine.db'}", messages, hand_raisers)
    else:
        admin = connect(PG_URL)
        schemas = []
        try:
            schema, url = pg_schema_url(admin)
            schemas.append(schema)
            raw = run_raw(url, rows, n_leads, batch)
            schema, url = pg_schema_url(admin)
            schemas.append(schema)
            raw_bulk = run_raw(url, rows, n_leads, batch, bulk=True)
            log(f"[{backend}] raw {raw:,.0f}/s, bulk {raw_bulk:,.0f}/s; engine ...")
            schema, url = pg_schema_url(admin)
            schemas.append(schema)
            engine_rate, batch, latencies = run_engine(url, messages, hand_raisers)
        finally:
            with admin.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    log(f"[{backend}] engine {engine_rate:,.0f}/s")
    return {"engine_per_s": round(engine_rate, 1), "raw_per_s": round(raw, 1), "raw_bulk_per_s": round(raw_bulk, 1),
            "ratio": round(engine_rate / raw, 4), "ratio_bulk": round(engine_rate / raw_bulk, 4)}, latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=200_000, help="activities to ingest (default 200000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--save-messages", metavar="FILE", help="also write the generated messages (JSON lines)")
    parser.add_argument("--messages", metavar="FILE", help="ingest these saved messages instead of generating: "
                        "the same data for two versions of the code")
    parser.add_argument("--playbook", metavar="FILE", help="a playbook file instead of the built-in starter")
    parser.add_argument("--profile", action="store_true", help="cProfile the engine's run (top functions on stderr; "
                        "its rate is then the profiler's)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    batch = Settings().batch_size  # the engine default, not tuned for the benchmark

    global PLAYBOOK, PROFILE
    PROFILE = args.profile
    if args.playbook:
        PLAYBOOK = load_playbook(args.playbook)
    saved = None
    if args.messages:
        with open(args.messages, encoding="utf-8") as fh:
            saved = [json.loads(line) for line in fh if line.strip()]
    log(f"{'reading' if saved is not None else 'generating'} {args.activities} messages ...")
    messages, activities = make_messages(args.activities, saved)
    if args.save_messages:
        with open(args.save_messages, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(m) + "\n" for m in messages)
    args.activities = len(messages)
    rows, n_leads = raw_rows(activities)
    del activities
    results: dict = {"activities": args.activities, "batch_size": batch, "sqlite": None, "postgresql": None,
                     "hand_raiser_p50_ms": None, "hand_raiser_p99_ms": None, "hand_raisers": 0}
    for backend in backends:
        if backend == "postgresql":
            try:
                connect(PG_URL).dispose()
            except StorageUnavailable as exc:
                log(f"[postgresql] skipped: {exc}")
                continue
        result, latencies = bench_backend(backend, messages, rows, n_leads, batch, hand_raisers=backend == "sqlite")
        results[backend] = result
        if latencies:
            results["hand_raiser_p50_ms"] = round(percentile(latencies, 50), 2)
            results["hand_raiser_p99_ms"] = round(percentile(latencies, 99), 2)
            results["hand_raisers"] = len(latencies)

    if args.json:
        print(json.dumps(results))
        return 0
    print(f"activities: {args.activities:,}   batch size: {batch}   ({n_leads:,} visitors/users)")
    print(f"{'backend':<12}{'engine/s':>12}{'raw/s':>12}{'ratio':>9}")
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        if r is None:
            print(f"{backend:<12}{'not run':>12}")
        else:
            print(f"{backend:<12}{r['engine_per_s']:>12,.0f}{r['raw_per_s']:>12,.0f}{r['ratio']:>9.1%}")
    if results["sqlite"]:
        met = "met" if results["sqlite"]["ratio"] >= TARGET else "NOT met"
        print(f"target: engine >= {TARGET:.0%} of raw append on SQLite: {met}")
    if results["hand_raiser_p99_ms"] is not None:
        print(f"hand-raiser to committed sal ({results['hand_raisers']} leads, SQLite): "
              f"p50 {results['hand_raiser_p50_ms']:.1f} ms, p99 {results['hand_raiser_p99_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
