"""HTTP ingestion throughput: the real Segment SDK sending to `leadrelay serve`, against in-process `ingest()`.

N valid, unique Segment messages (the seeded demo stream: page views, tracks, identifies
and groups; bad and duplicate messages dropped) are ingested twice per backend, each
time into a fresh database:

- in-process: `ingest(app, pairs, live=True)` with the starter playbook and the default
  batch size, timed from call to return;
- over HTTP: `leadrelay serve` runs as a subprocess on a free loopback port, and the
  official `segment-analytics-python` client (its background thread batching up to
  `--upload-size` messages per request) sends the same messages with their ids,
  timestamps and context; timed from the first SDK call until `flush()` returns, when
  every batch has been answered 200. Then the stored activities are counted: exactly N.

ratio = HTTP events/s / in-process events/s, measured in the same run (target >= 0.5).
The client and the server share the machine, as they would on one host. The SDK's own
default is 100 messages per request; `--upload-size 100` measures that (per-request
costs weigh more, most on PostgreSQL, where each transaction has fixed round trips).

    python bench/http_ingest.py [--events N] [--json] [--backends sqlite,postgresql] [--upload-size 500]

PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
every run uses fresh schemas that are dropped afterwards; unreachable means skipped (null in JSON).
Progress goes to stderr; with --json, stdout is one JSON object:
{"events": N, "sqlite": {"http_per_s", "inprocess_per_s", "ratio"}, "postgresql": {same keys} | null}.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from segment.analytics import Client
from sqlalchemy import create_engine, func, select, text

from leadrelay.access.tokens import create_token
from leadrelay.activity.segment import parse_message
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.lead.activities import Activity
from leadrelay.playbook.loader import starter_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LEADRELAY = Path(sys.executable).parent / "leadrelay"
SOURCE = "bench-http"
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60
SDK_TYPES = ("page", "track", "identify", "group")
TARGET = 0.5


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_messages(n: int) -> list[dict]:
    """Exactly n valid, unique demo-stream messages of the types the SDK sends, in arrival order."""
    visitors = int(n / 11.9 * 1.1) + 50  # ~11.9 messages per visitor in the demo stream
    now = datetime.now(UTC)
    while True:
        messages, seen = [], set()
        for i, raw in enumerate(generate_demo_stream(seed=11, visitors=visitors, start=START, days=DAYS)):
            if not isinstance(raw, dict) or raw.get("type") not in SDK_TYPES:
                continue
            parsed = parse_message(raw, source=SOURCE, received_at=now, position=str(i), live=True)
            if isinstance(parsed, Activity) and parsed.message_id not in seen:
                seen.add(parsed.message_id)
                messages.append(raw)
                if len(messages) == n:
                    return messages
        visitors = int(visitors * 1.25) + 10


def send(client: Client, message: dict) -> None:
    """One SDK call carrying everything the message holds."""
    common = {"context": dict(message.get("context") or {}), "message_id": message["messageId"],
              "timestamp": datetime.fromisoformat(message["timestamp"]), "anonymous_id": message.get("anonymousId"),
              "user_id": message.get("userId")}
    kind = message["type"]
    if kind == "page":
        client.page(name=message.get("name"), properties=message.get("properties") or {}, **common)
    elif kind == "track":
        client.track(event=message["event"], properties=message.get("properties") or {}, **common)
    elif kind == "identify":
        client.identify(traits=message.get("traits") or {}, **common)
    else:
        client.group(group_id=message["groupId"], traits=message.get("traits") or {}, **common)


def run_inprocess(url: str, messages: list[dict]) -> float:
    app = bootstrap(Settings(database_url=url), playbook=starter_playbook())
    try:
        pairs = [(str(i), m) for i, m in enumerate(messages)]
        started = time.perf_counter()
        report = ingest(app, pairs, source=SOURCE, live=True)
        elapsed = time.perf_counter() - started
        assert report.accepted == len(messages), report.as_dict()
        return len(messages) / elapsed
    finally:
        app.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """`leadrelay serve` on `url`'s database: yields (base URL, write key)."""
    engine = connect(url)
    upgrade(engine)
    _, write_key = create_token(engine, "ingest", source=SOURCE, now=datetime.now(UTC), label="bench")
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env["LEADRELAY_DATABASE_URL"] = url
    with open(workdir / "serve.log", "wb") as server_log:
        proc = subprocess.Popen([str(LEADRELAY), "serve", "--port", str(port), "--log-level", "warning"], cwd=workdir,
                                env=env, stdout=server_log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"leadrelay serve did not start:\n{(workdir / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield base, write_key
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_http(url: str, messages: list[dict], workdir: Path, upload_size: int) -> float:
    errors: list[Exception] = []
    with served(url, workdir) as (base, write_key):
        client = Client(write_key, host=base, upload_size=upload_size, upload_interval=0.05,
                        max_queue_size=len(messages) + 1, on_error=lambda error, batch: errors.append(error))
        started = time.perf_counter()
        for message in messages:
            send(client, message)
        client.flush()
        elapsed = time.perf_counter() - started
        client.join()
    if errors:
        raise RuntimeError(f"the SDK reported {len(errors)} error(s), first: {errors[0]}")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(t.activities))
    finally:
        engine.dispose()
    assert stored == len(messages), f"{stored} activities stored, {len(messages)} sent"
    return len(messages) / elapsed


@contextmanager
def pg_schema() -> Iterator[str]:
    schema = "bench_http_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_backend(backend: str, messages: list[dict], upload_size: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="leadrelay-http-bench-") as tmp:
        workdir = Path(tmp)
        if backend == "sqlite":
            inprocess = run_inprocess(f"sqlite:///{workdir / 'inprocess.db'}", messages)
            http = run_http(f"sqlite:///{workdir / 'http.db'}", messages, workdir, upload_size)
        else:
            try:
                connect(PG_URL).dispose()
            except StorageUnavailable as exc:
                log(f"postgresql: skipped ({exc.message})")
                return None
            with pg_schema() as url:
                inprocess = run_inprocess(url, messages)
            with pg_schema() as url:
                http = run_http(url, messages, workdir, upload_size)
    result = {"http_per_s": round(http, 1), "inprocess_per_s": round(inprocess, 1), "ratio": round(http / inprocess, 4)}
    log(f"{backend}: HTTP {result['http_per_s']:,.0f} events/s, in-process {result['inprocess_per_s']:,.0f} events/s, "
        f"ratio {result['ratio']:.0%} (target {TARGET:.0%})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="Events to send (default 50,000).")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--upload-size", type=int, default=500,
                        help="Messages per HTTP request the SDK batches (its upload_size; default 500).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")
    args = parser.parse_args()
    log(f"generating {args.events:,} messages ...")
    messages = make_messages(args.events)
    out: dict = {"events": args.events, "sqlite": None, "postgresql": None}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}")
        log(f"{backend}: in-process, then HTTP (upload_size {args.upload_size}) ...")
        out[backend] = bench_backend(backend, messages, args.upload_size)
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
