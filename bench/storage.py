"""Storage per activity: the bytes a store takes for each activity ingested, on SQLite and PostgreSQL.

N messages of the demo stream (as `bench/ingest.py` makes them: page views, tracks,
identifies and groups of tens of thousands of visitors) go through `ingest()` with the
starter playbook into a fresh database. Then every table and index is measured (SQLite:
the `dbstat` table after a checkpoint, so the write-ahead log is in the file; PostgreSQL:
`pg_total_relation_size`, after VACUUM) and divided by N. Everything counts: the activities
with their indexes, and what the engine keeps because of them (leads, scores, stage history,
identities, events). Target (issue 14): at most 300 bytes per activity on SQLite, without
losing what `leads show` and replay need; ratio = 300 ÷ bytes per activity.

    python bench/storage.py [--activities N] [--backends sqlite,postgresql] [--json] [--messages FILE]

JSON: {"activities": N, "target_bytes": 300, "sqlite": {"bytes_per_activity", "ratio", "payload_bytes",
"tables": {TABLE: bytes per activity, ...}}, "postgresql": {...} | null}. `tables` folds each index into
its table. `payload_bytes` is the mean stored payload (zstd-packed JSON since migration 0018).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from ingest import NOW, PG_URL, SOURCE, Clock, log, make_messages, pg_schema_url  # bench/ingest.py
from sqlalchemy import func, select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.playbook.loader import starter_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect

TARGET = 300


def fill(url: str, messages: list[dict]) -> None:
    app = bootstrap(Settings(database_url=url), playbook=starter_playbook(), clock=Clock(NOW))
    try:
        ingest(app, [(str(i), m) for i, m in enumerate(messages)], source=SOURCE, live=False)
    finally:
        app.close()


def sqlite_sizes(path: Path) -> tuple[Counter, float]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        owner = {name: table for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master")}
        sizes: Counter = Counter()
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            sizes[owner.get(name, name)] += size
        payload = conn.execute("SELECT avg(length(payload)) FROM activities").fetchone()[0] or 0.0
    finally:
        conn.close()
    return sizes, payload


def postgres_sizes(url: str) -> tuple[Counter, float]:
    engine = connect(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM"))
            rows = conn.execute(text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'")).all()
            payload = conn.scalar(select(func.avg(func.pg_column_size(t.activities.c.payload)))) or 0.0
    finally:
        engine.dispose()
    return Counter(dict(rows)), float(payload)


def measure(backend: str, messages: list[dict]) -> dict:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
            path = Path(tmp) / "store.db"
            fill(f"sqlite:///{path}", messages)
            sizes, payload = sqlite_sizes(path)
    else:
        admin = connect(PG_URL)
        schema, url = pg_schema_url(admin)
        try:
            fill(url, messages)
            sizes, payload = postgres_sizes(url)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    n = len(messages)
    per = sum(sizes.values()) / n
    return {"bytes_per_activity": round(per, 1), "ratio": round(TARGET / per, 3), "payload_bytes": round(payload, 1),
            "tables": {name: round(size / n, 1) for name, size in sizes.most_common() if size / n >= 0.5}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=50_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--messages", metavar="FILE", help="saved messages (bench/ingest.py --save-messages)")
    args = parser.parse_args(argv)
    saved = None
    if args.messages:
        with open(args.messages, encoding="utf-8") as fh:
            saved = [json.loads(line) for line in fh if line.strip()]
    messages, _ = make_messages(args.activities, saved)
    results: dict = {"activities": len(messages), "target_bytes": TARGET, "sqlite": None, "postgresql": None}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        try:
            log(f"[{backend}] ingesting {len(messages):,} activities ...")
            results[backend] = measure(backend, messages)
        except StorageUnavailable as exc:
            log(f"[{backend}] skipped: {exc}")
    if args.json:
        print(json.dumps(results))
        return 0
    for backend in ("sqlite", "postgresql"):
        r = results[backend]
        if r is None:
            continue
        print(f"{backend}: {r['bytes_per_activity']:.0f} bytes per activity (target {TARGET}), "
              f"payload {r['payload_bytes']:.0f} bytes")
        for name, per in r["tables"].items():
            print(f"  {name:<28}{per:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
