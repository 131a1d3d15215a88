"""Rescore throughput: `rescore` after a playbook change, against reading the same activities raw.

A store is built per backend: a base of demo-stream messages (page views, tracks,
identifies, groups; the seeded `generate_demo_stream`) is ingested with the starter
playbook, then copied in SQL until the store holds the activities asked for (each copy:
the base's leads, activities and score changes under new ids and message ids; accounts
shared). Building is not timed. Then the playbook changes (the pricing page's points and the
MQL bar) and one `rescore(app)` is timed: every lead's scores rebuilt from its activities,
its stage judged now, moves handed over. In the same run, every activity row is read raw
through the driver's cursor (one `SELECT` of all columns, fetched in batches): the cost of
merely reading what a rescore reads.

Figures: activities/s of the rescore; `ratio_to_raw` = rescore rate / raw read rate (the
share of the store's read speed the rescore reaches while also decoding, replaying and
writing); `ratio_to_target` = rescore rate / 150,000 activities/s (issue 14's target).
On PostgreSQL the rescore runs in worker processes (one per core unless --processes).

    python bench/rescore.py [--activities N] [--base N] [--backends sqlite,postgresql] [--processes N]
                            [--messages FILE | --save-messages FILE] [--dump DIR] [--json]

Two versions of the code on the same data: save the base messages once (--save-messages),
then run each version with --messages (an older tree with PYTHONPATH=/tmp/before/src).
`--dump DIR` writes what the rescore left (every lead row; each lead's score changes in order,
without their row ids; stage changes; handoffs) as JSON lines per backend: two versions'
dumps must be identical (`cmp`). 1M leads / 10M activities: --activities 10000000.

PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
every run uses a fresh schema (search_path) dropped afterwards. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, func, select, text

from leadrelay.activity.rescore import rescore
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.settings import Settings
from leadrelay.storage.database import connect

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
NOW = START + timedelta(days=DAYS + 1)  # the clock: after every generated activity
TARGET = 150_000  # activities/s (issue 14)
SOURCE = "bench"
# The playbook change: the pricing page is worth more and the MQL bar is lower.
CHANGES = (("points: 10\n        cap: {per_day: 10, lifetime: 40}",
            "points: 12\n        cap: {per_day: 12, lifetime: 48}"),
           ('entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}',
            'entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 25}}]}'))
# table -> columns that move with each copy: ids, ids of the base's rows they point to (by table), message ids (None)
COPIED: dict[str, dict[str, str | None]] = {
    "leads": {"id": "leads", "merged_into": "leads"},
    "activities": {"id": "activities", "lead_id": "leads", "message_id": None},
    "score_changes": {"id": "score_changes", "lead_id": "leads", "activity_id": "activities"},
}


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def changed_playbook(text_: str):
    for old, new in CHANGES:
        if text_.count(old) != 1:
            raise SystemExit(f"the playbook has no single {old!r} to change")
        text_ = text_.replace(old, new)
    return parse_playbook(text_, "changed.yaml")


def base_messages(activities: int) -> list[dict]:
    visitors = max(50, int(activities / 11.5))  # about 11.5 activities per visitor in the demo stream
    return generate_demo_stream(seed=7, visitors=visitors, start=START, days=DAYS)


def build(url: str, messages: list[dict], activities: int) -> tuple[int, int]:
    """Ingest the base, then copy it in SQL until the store holds about `activities`; (leads, activities)."""
    app = bootstrap(Settings(database_url=url), playbook=parse_playbook(starter_text(), "starter.yaml"),
                    clock=lambda: NOW)
    try:
        ingest(app, [(str(i), m) for i, m in enumerate(messages)], source=SOURCE, live=False)
        engine = app.engine
        with engine.begin() as conn:
            tables = MetaData()
            tables.reflect(conn, only=list(COPIED))
            base = {name: conn.scalar(select(func.max(tables.tables[name].c.id))) or 0 for name in COPIED}
            stored = conn.scalar(select(func.count()).select_from(tables.tables["activities"])) or 0
            copies = max(1, round(activities / max(stored, 1)))
            for k in range(1, copies):
                for name, moved in COPIED.items():
                    conn.execute(text(_copy_sql(tables.tables[name], moved, base, k)))
                if k % 10 == 0:
                    log(f"  copy {k} of {copies - 1}")
            if conn.dialect.name == "postgresql":
                for name in COPIED:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                      f"(SELECT max(id) FROM {name}))"))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        with engine.connect() as conn:
            leads = conn.scalar(text("SELECT count(*) FROM leads WHERE merged_into IS NULL"))
            acts = conn.scalar(text("SELECT count(*) FROM activities"))
        return leads, acts
    finally:
        app.close()


def _copy_sql(table, moved: dict[str, str | None], base: dict[str, int], k: int) -> str:
    values = []
    for column in table.c:
        target = moved.get(column.name, "")
        if target == "":
            values.append(column.name)
        elif target is None:  # message ids are unique per source
            values.append(f"{column.name} || '~{k}'")
        else:
            values.append(f"{column.name} + {base[target] * k}")
    names = ", ".join(c.name for c in table.c)
    return (f"INSERT INTO {table.name} ({names}) SELECT {', '.join(values)} FROM {table.name} "
            f"WHERE id <= {base[table.name]}")


def raw_read(url: str) -> float:
    """Activities/s of reading every activity row, all columns, through the driver's cursor."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            driver: Any = conn.connection.dbapi_connection
            # PostgreSQL: a server-side cursor, streamed (a client-side one would hold every row in memory)
            cursor = driver.cursor(name="raw_read") if engine.dialect.name == "postgresql" else driver.cursor()
            started = time.perf_counter()
            cursor.execute("SELECT * FROM activities")
            rows = 0
            while batch := cursor.fetchmany(10_000):
                rows += len(batch)
            elapsed = time.perf_counter() - started
            cursor.close()
        return rows / elapsed
    finally:
        engine.dispose()


def timed_rescore(url: str, playbook, processes: int | None) -> tuple[float, float, dict, int]:
    app = bootstrap(Settings(database_url=url), playbook=playbook, clock=lambda: NOW)
    try:
        done = {"leads": 0}
        progressive = "processes" in inspect.signature(rescore).parameters  # the newer code

        def progress(leads: int, activities: int = 0) -> None:
            done["leads"] += leads

        kwargs: dict[str, Any] = {"processes": processes} if progressive else {}
        cpu = _cpu()
        started = time.perf_counter()
        report = rescore(app, on_progress=progress, **kwargs)
        elapsed = time.perf_counter() - started
        return elapsed, _cpu() - cpu, report.as_dict(), getattr(report, "processes", 1)
    finally:
        app.close()


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the worker processes): on a shared machine they vary
    less than the wall time. The database server's share is not in them."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def dump(url: str, path: Path) -> None:
    """What the rescore left, as JSON lines: leads, each lead's score changes in order (no row ids), stage changes,
    handoffs."""
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine, only=["leads", "score_changes", "stage_changes", "handoffs"])
    with engine.connect() as conn, path.open("w", encoding="utf-8") as fh:
        for name, order, drop in (("leads", ("id",), ()), ("score_changes", ("lead_id", "id"), ("id",)),
                                  ("stage_changes", ("id",), ()), ("handoffs", ("id",), ())):
            table = tables.tables[name]
            columns = [c for c in table.c if c.name not in drop]
            fh.write(json.dumps({"table": name, "columns": [c.name for c in columns]}) + "\n")
            for row in conn.execute(select(*columns).order_by(*(table.c[o] for o in order))):
                plain = [v if isinstance(v, (int, float, str)) or v is None else str(v) for v in row]
                fh.write(json.dumps(plain) + "\n")
    engine.dispose()


def bench_backend(backend: str, messages, args, playbook) -> dict:
    schema = None
    tmp = tempfile.TemporaryDirectory(prefix="leadrelay-bench-") if backend == "sqlite" else None
    if tmp is not None:
        url = f"sqlite:///{Path(tmp.name) / 'rescore.db'}"
    else:
        schema = "bench_" + uuid.uuid4().hex[:12]
        admin = connect(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        log(f"[{backend}] building a store of about {args.activities:,} activities ...")
        leads, activities = build(url, messages, args.activities)
        log(f"[{backend}] {leads:,} leads, {activities:,} activities; raw read ...")
        raw = raw_read(url)
        log(f"[{backend}] raw read {raw:,.0f} activities/s; rescore ...")
        seconds, cpu, report, processes = timed_rescore(url, playbook, args.processes)
        rate = report["activities"] / seconds
        log(f"[{backend}] rescore {seconds:.2f} s, {rate:,.0f} activities/s ({processes} process(es)): {report}")
        if args.dump:
            Path(args.dump).mkdir(parents=True, exist_ok=True)
            dump(url, Path(args.dump) / f"{backend}.jsonl")
        return {"leads": report["leads"], "activities": report["activities"], "seconds": round(seconds, 3),
                "activities_per_s": round(rate), "processes": processes, "cpu_seconds": round(cpu, 3),
                "cpu_us_per_activity": round(cpu / report["activities"] * 1e6, 2), "raw_read_per_s": round(raw),
                "ratio_to_raw": round(rate / raw, 4), "ratio_to_target": round(rate / TARGET, 4),
                "moves": report["moves"], "handoffs_opened": report["handoffs_opened"]}
    finally:
        if tmp is not None:
            tmp.cleanup()
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=200_000, help="activities in the store (default 200000)")
    parser.add_argument("--base", type=int, default=40_000,
                        help="activities of the demo stream ingested before copying (default 40000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--processes", type=int, default=None, help="rescore worker processes on PostgreSQL "
                        "(default: one per core)")
    parser.add_argument("--save-messages", metavar="FILE", help="also write the base's messages (JSON lines)")
    parser.add_argument("--messages", metavar="FILE", help="ingest these saved messages as the base")
    parser.add_argument("--dump", metavar="DIR", help="write what the rescore left, per backend, to DIR")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.messages:
        with open(args.messages, encoding="utf-8") as fh:
            messages = [json.loads(line) for line in fh if line.strip()]
    else:
        messages = base_messages(min(args.base, args.activities))
    if args.save_messages:
        with open(args.save_messages, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(m) + "\n" for m in messages)
    playbook = changed_playbook(starter_text())
    results: dict = {"target_per_s": TARGET, "cores": os.cpu_count(), "sqlite": None, "postgresql": None}
    for backend in backends:
        if backend == "postgresql":
            try:
                connect(PG_URL).dispose()
            except StorageUnavailable as exc:
                log(f"[postgresql] skipped: {exc}")
                continue
        results[backend] = bench_backend(backend, messages, args, playbook)
    if args.json:
        print(json.dumps(results))
        return 0
    print(f"{'backend':<12}{'leads':>10}{'activities':>12}{'seconds':>9}{'act/s':>10}{'procs':>6}"
          f"{'raw/s':>11}{'÷raw':>7}{'÷target':>9}")
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        if r is not None:
            print(f"{backend:<12}{r['leads']:>10,}{r['activities']:>12,}{r['seconds']:>9.2f}"
                  f"{r['activities_per_s']:>10,}{r['processes']:>6}{r['raw_read_per_s']:>11,}"
                  f"{r['ratio_to_raw']:>7.2f}{r['ratio_to_target']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
