"""Speed to lead: a demo request goes in, a running worker delivers the webhook; p50 and p99.

Setup (not timed): a fresh database, a playbook whose `Demo Requested` hand-raiser moves a
lead to sal (owned by the SDR team: a handoff, routed at once to an SDR with room), a
webhook to a real HTTP receiver on loopback (signed, secret in an environment variable),
N known leads (an identify each), and a running worker, as the product runs it on each store:

- SQLite: the worker in the process that ingests, in a thread with an App of its own, as
  `leadrelay serve --worker` runs it beside the HTTP API (woken by the commit, in the process);
- PostgreSQL: a `leadrelay worker` subprocess (woken by the commit's NOTIFY).

`--interval` is the worker's polling interval (default 1 s, the worker's default): with the
wake-up it is only the fallback; a tree without it (the one before) waits up to one interval.

Each request: a `Demo Requested` track of a known lead goes through `ingest()` in this
process (the service function the HTTP API calls), which commits the sal move, the
handoff, the routing decision and the outbox rows together; the worker claims the rows and
POSTs them. The latency is from just before the `ingest()` call to the arrival at the
receiver of the first webhook naming that lead (`lead.handoff_opened` or `lead.assigned`,
matched by `data.lead.id`); the arrival of `lead.assigned` (the rep knows) is reported too,
and the time from the batch's COMMIT (the first commit of the `ingest()` call: the one that
wrote the outbox rows) to that first arrival: the worker's part (`after_commit_*`).
By default requests go one at a time (the next after the previous one's webhooks arrived);
`--rate R` sends R requests per second instead, whatever the deliveries, so that ingest and
the worker compete for the store as under real traffic.

    python bench/speed_to_lead.py [--json] [--requests N] [--rate R] [--interval S] [--backend sqlite|postgresql]

Target: p99 under 20 ms (`p99_ratio` is 20 ms / p99: 1 or more meets it). PostgreSQL:
LEADRELAY_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), in
a fresh schema dropped afterwards.
Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import event, func, select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.playbook.loader import load_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.outbox_tables import outbox

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LEADRELAY = Path(sys.executable).parent / "leadrelay"
SECRET_ENV = "LEADRELAY_BENCH_WEBHOOK_SECRET"
TARGET_MS = 20.0
WAIT_SECONDS = 30.0  # a webhook that has not arrived by then counts as lost

PLAYBOOK = """
name: speed to lead bench
qualification: {webmail: {disqualify: false}}
stages:
  sal: {owner: sdr}
hand_raisers: [{id: demo_request, when: {event: Demo Requested}, to: sal}]
calendars: {us: {timezone: America/New_York}}
teams:
  - {id: sdr_na, function: sdr, strategy: round_robin, calendar: us, manager: {name: Dana, email: dana@bench.example}}
reps:
  - {id: alice, name: Alice, email: alice@bench.example, team: sdr_na, capacity: 5000}
  - {id: ben, name: Ben, email: ben@bench.example, team: sdr_na, capacity: 5000, weight: 2}
  - {id: chloe, name: Chloe, email: chloe@bench.example, team: sdr_na, capacity: 5000}
routing: {rules: [{id: everyone, team: sdr_na}]}
sla:
  policies:
    - id: demo_request
      handoff: hand_raise
      clock: wall
      first_touch_within: 30m
      warn_before: 10m
      escalation: [{after: 0m, action: notify_manager}, {after: 15m, action: reassign}]
notifications:
  webhooks:
    - {id: crm, url: "%(url)s", secret_env: %(secret_env)s, events: [lead.handoff_opened, lead.assigned]}
"""


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


class Receiver:
    """Loopback HTTP server: the arrival time (perf_counter) of each event type per lead id."""

    def __init__(self):
        self.arrivals: dict[int, dict[str, float]] = {}
        self.message_ids: dict[str, int] = {}
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                at = time.perf_counter()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
                event = json.loads(body)
                lead_id = event["data"]["lead"]["id"]
                with receiver.cond:
                    receiver.arrivals.setdefault(lead_id, {}).setdefault(event["type"], at)
                    message_id = self.headers.get("webhook-id", "")
                    receiver.message_ids[message_id] = receiver.message_ids.get(message_id, 0) + 1
                    receiver.cond.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadrelay"

    def wait_for(self, lead_id: int, event_type: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while event_type not in self.arrivals.get(lead_id, {}):
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.arrivals[lead_id][event_type]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def commits(engine) -> list[float]:
    """The moments (perf_counter) this process's transactions on `engine` send their COMMIT."""
    moments: list[float] = []

    @event.listens_for(engine, "commit")
    def committing(conn) -> None:
        moments.append(time.perf_counter())

    return moments


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@contextmanager
def in_process_worker(url: str, playbook_path: Path, interval: float) -> Iterator[None]:
    """The worker as `serve --worker` runs it: a thread of this process, with an App of its own."""
    from leadrelay.worker import run as run_worker

    app = bootstrap(Settings(database_url=url, private_webhooks=True), playbook=load_playbook(playbook_path),
                    migrate=False)
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app,), kwargs={"interval": interval, "stop": stop},
                              name="worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        app.close()


@contextmanager
def worker_process(url: str, playbook_path: Path, interval: float, secret: str, workdir: Path) -> Iterator[None]:
    """`leadrelay worker` in a process of its own, on the same database."""
    env = os.environ | {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_PLAYBOOK": str(playbook_path), SECRET_ENV: secret,
                        "LEADRELAY_PRIVATE_WEBHOOKS": "true"}  # the receiver is on loopback
    with open(workdir / "worker.err", "w") as err:
        worker = subprocess.Popen([str(LEADRELAY), "worker", "--interval", str(interval)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


def run(url: str, requests: int, rate: float, interval: float, workdir: Path) -> dict:
    receiver = Receiver()
    playbook_path = workdir / "playbook.yaml"
    playbook_path.write_text(PLAYBOOK % {"url": receiver.url, "secret_env": SECRET_ENV})
    secret = generate_secret()
    os.environ[SECRET_ENV] = secret  # read when a message is sent (the worker gets it through its environment)
    # The receiver runs on loopback, which notifications may reach only when the operator allows it.
    app = bootstrap(Settings(database_url=url, private_webhooks=True), playbook=load_playbook(playbook_path))
    in_process = url.startswith("sqlite")
    worker = in_process_worker(url, playbook_path, interval) if in_process \
        else worker_process(url, playbook_path, interval, secret, workdir)
    stack = ExitStack()
    try:
        now = app.clock()
        known = [(f"identify {i}", {"type": "identify", "messageId": f"known-{i}", "userId": f"bench-{i}",
                                    "timestamp": (now - timedelta(minutes=5)).isoformat(),
                                    "traits": {"email": f"buyer{i}@company{i}.example", "first_name": f"B{i}"}})
                 for i in range(requests)]
        ingest(app, known)
        with app.engine.connect() as conn:
            lead_ids = dict(conn.execute(select(t.leads.c.user_id, t.leads.c.id)
                                         .where(t.leads.c.user_id.like("bench-%"))).all())
        log(f"  {len(lead_ids)} known leads; starting the worker "
            f"({'in this process' if in_process else 'leadrelay worker'}, --interval {interval:g}) ...")
        stack.enter_context(worker)
        # Warm up: one request not counted, so the worker is past its start-up.
        time.sleep(1.0)
        started_at: dict[int, float] = {}
        committed_at: dict[int, float] = {}
        committing = commits(app.engine)
        ingest_ms: list[float] = []

        def request(i: int) -> None:
            lead_id = lead_ids[f"bench-{i}"]
            message = {"type": "track", "event": "Demo Requested", "userId": f"bench-{i}",
                       "messageId": f"demo-{uuid.uuid4()}", "timestamp": app.clock().isoformat(),
                       "properties": {"source": "pricing page"}}
            before = len(committing)
            started_at[lead_id] = time.perf_counter()
            ingest(app, [(f"demo {i}", message)])
            ingest_ms.append((time.perf_counter() - started_at[lead_id]) * 1000)
            committed_at[lead_id] = committing[before]  # the batch's own (PostgreSQL then ANALYZEs, committed apart)

        request(requests - 1)
        if receiver.wait_for(lead_ids[f"bench-{requests - 1}"], "lead.assigned", WAIT_SECONDS) is None:
            raise SystemExit("warm-up: no webhook within 30 s; is the worker running? (a worker process logs to "
                             "worker.err)")
        del started_at[lead_ids[f"bench-{requests - 1}"]]
        ingest_ms.clear()
        measured = list(range(requests - 1))
        log(f"  {len(measured)} demo requests ({'one at a time' if not rate else f'{rate:g}/s'}) ...")
        began = time.perf_counter()
        for n, i in enumerate(measured):
            if rate:
                pause = began + n / rate - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            request(i)
            if not rate:
                receiver.wait_for(lead_ids[f"bench-{i}"], "lead.assigned", WAIT_SECONDS)
        first, assigned, after_commit, lost = [], [], [], 0
        for i in measured:
            lead_id = lead_ids[f"bench-{i}"]
            at_assigned = receiver.wait_for(lead_id, "lead.assigned", WAIT_SECONDS)
            at_opened = receiver.wait_for(lead_id, "lead.handoff_opened", 0 if at_assigned is None else WAIT_SECONDS)
            arrivals = [a for a in (at_assigned, at_opened) if a is not None]
            if at_assigned is None:
                lost += 1
                continue
            first.append((min(arrivals) - started_at[lead_id]) * 1000)
            after_commit.append((min(arrivals) - committed_at[lead_id]) * 1000)
            assigned.append((at_assigned - started_at[lead_id]) * 1000)
        elapsed = time.perf_counter() - began
        with app.engine.connect() as conn:
            rows = conn.scalar(select(func.count()).select_from(outbox))
            sal = conn.scalar(select(func.count()).select_from(t.leads).where(t.leads.c.stage == "sal"))
        duplicates = sum(1 for n in receiver.message_ids.values() if n > 1)
        p99 = percentile(first, 99)
        return {"worker": "in-process thread (serve --worker)" if in_process else "leadrelay worker process",
                "interval_s": interval, "requests": len(measured), "p50_ms": round(percentile(first, 50), 1),
                "p99_ms": round(p99, 1), "max_ms": round(max(first), 1),
                "target_ms": TARGET_MS, "p99_ratio": round(TARGET_MS / p99, 3),
                "assigned_p50_ms": round(percentile(assigned, 50), 1),
                "assigned_p99_ms": round(percentile(assigned, 99), 1),
                "ingest_p50_ms": round(percentile(ingest_ms, 50), 1),
                "ingest_p99_ms": round(percentile(ingest_ms, 99), 1),
                "after_commit_p50_ms": round(percentile(after_commit, 50), 1),
                "after_commit_p99_ms": round(percentile(after_commit, 99), 1),
                "lost": lost, "duplicates": duplicates, "outbox_rows": rows, "leads_in_sal": sal,
                "rate": rate or None, "seconds": round(elapsed, 1)}
    finally:
        stack.close()
        app.close()
        receiver.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--requests", type=int, default=1000, help="demo requests measured (default 1000)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests per second (default: one at a time, each after the previous one arrived)")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="the worker's polling interval in seconds (default 1, the worker's default)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
        workdir = Path(tmp)
        log(f"[{args.backend}] setting up ...")
        if args.backend == "sqlite":
            result = run(f"sqlite:///{workdir / 'speed.db'}", args.requests + 1, args.rate, args.interval, workdir)
        else:
            admin = connect(PG_URL)
            schema = "bench_" + uuid.uuid4().hex[:12]
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                result = run(f"{PG_URL}?options=-csearch_path%3D{schema}", args.requests + 1, args.rate,
                             args.interval, workdir)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    result = {"backend": args.backend} | result
    if args.json:
        print(json.dumps(result))
        return 0
    met = "met" if result["p99_ms"] < TARGET_MS and not result["lost"] else "NOT met"
    print(f"speed to lead on {args.backend}, {result['requests']} demo requests "
          f"({'one at a time' if not args.rate else f'{args.rate:g}/s'}), {result['worker']}, "
          f"interval {args.interval:g} s:")
    print(f"  demo request -> first webhook: p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms   (target p99 < {TARGET_MS:.0f} ms: {met}, "
          f"ratio {result['p99_ratio']:.2f})")
    print(f"  -> lead.assigned:              p50 {result['assigned_p50_ms']:.1f} ms, "
          f"p99 {result['assigned_p99_ms']:.1f} ms")
    print(f"  ingest() call (committed):     p50 {result['ingest_p50_ms']:.1f} ms, "
          f"p99 {result['ingest_p99_ms']:.1f} ms")
    print(f"  committed -> first webhook:    p50 {result['after_commit_p50_ms']:.1f} ms, "
          f"p99 {result['after_commit_p99_ms']:.1f} ms   (the worker's part)")
    print(f"  lost {result['lost']}, delivered twice {result['duplicates']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
