"""Several `leadrelay worker` processes side by side, with real parts: real migrations, real
subprocesses, a real HTTP receiver on loopback and wall-clock SLA timers that fire during the run.

The story: 48 leads become MQLs or request a demo while every rep is inactive, so 48
handoffs wait in the queue. Then the reps come in (one through `leadrelay reps set`, the
rest through the service), and 4 workers (PostgreSQL) or 2 (SQLite) start sweeping every
50 ms. Eight reps can hold only 14 leads at once, the SLA clocks are seconds long and end
in `reassign`, so for a few seconds the workers assign the queue, warn, breach, escalate
and reassign, all at the same time. Then the reps leave again (`--inactive`): every ladder
ends in a reassignment to nobody, the timers run out and the outbox drains. The workers
are stopped with Ctrl-C (SIGINT) and the database and the receiver must show that:

- every outbox message was delivered exactly once (one 2xx per webhook-id, and as many
  as the endpoint has outbox rows), with a valid Standard Webhooks signature;
- no handoff was assigned twice: replaying the routing decisions in commit order, the
  queue only ever assigns an unowned handoff and an SLA reassignment always acts on the
  current owner;
- no rep ever held more open leads than their capacity: not in that replay, not in any
  snapshot taken while the workers ran, not at the end;
- each assignment produced exactly one `lead.assigned` message;
- every worker exited cleanly (exit code 0, no traceback).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.handoff.directory import set_rep
from leadrelay.playbook.loader import load_playbook
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from tests.conftest import postgres_schema_url

LEADRELAY = Path(sys.executable).parent / "leadrelay"
SECRET_ENV = "LEADRELAY_TEST_MANY_WORKERS_SECRET"
SECRET = generate_secret()

LEADS = 48
CAPACITY = {"ann": 2, "bob": 3, "cat": 1, "dan": 2, "eve": 2, "fay": 1, "gus": 2, "hal": 1}  # 14 < 48
ACTIVE_SECONDS = 4.0  # reps available: assignment, timers and reassignment all run at once ...
ACTIVE_MAX_SECONDS = 20.0  # ... until the seats have been filled three times over (or this long)
SETTLE_TIMEOUT = 30.0  # after the reps leave: timers run out, outbox drains
OPS_FAILURES = 2  # the `ops` endpoint answers 503 to its first requests: those messages are retried

PLAYBOOK = """
name: many workers
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC}}
teams:
  - {id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}
  - {id: sdr_b, function: sdr, strategy: least_loaded, calendar: utc}
  - {id: sdr_c, function: sdr, calendar: utc}
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a, capacity: 2, active: false}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a, capacity: 3, weight: 2, active: false}
  - {id: cat, name: Cat, email: cat@x.io, team: sdr_a, capacity: 1, active: false}
  - {id: dan, name: Dan, email: dan@x.io, team: sdr_b, capacity: 2, active: false}
  - {id: eve, name: Eve, email: eve@x.io, team: sdr_b, capacity: 2, active: false}
  - {id: fay, name: Fay, email: fay@x.io, team: sdr_b, capacity: 1, active: false}
  - {id: gus, name: Gus, email: gus@x.io, team: sdr_c, capacity: 2, active: false}
  - {id: hal, name: Hal, email: hal@x.io, team: sdr_c, capacity: 1, active: false}
routing:
  rules:
    - {id: vip, when: {traits.vip: true}, rep: hal}
    - {id: big, when: {traits.employees: {">=": 1000}}, team: sdr_b}
    - {id: mid, when: {traits.employees: {">=": 100}}, team: sdr_c}
    - {id: rest, team: sdr_a}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 1s
      warn_before: 0.5s
      escalation: [{after: 0m, action: notify_manager}, {after: 1s, action: reassign, restart_clock: true}]
      max_reassignments: 1000
    - id: mql
      handoff: mql
      clock: wall
      accept_within: 1.5s
      escalation: [{after: 0.5s, action: notify_rep}, {after: 1s, action: reassign, restart_clock: true}]
      max_reassignments: 1000
notifications:
  webhooks:
    - {id: crm, url: "%(base)s/crm", secret_env: %(secret_env)s}
    - id: ops
      url: "%(base)s/ops"
      secret_env: %(secret_env)s
      events: [lead.assigned, sla.escalated, sla.breached]
"""


# --------------------------------------------------------------------------- a loopback receiver


@dataclass(frozen=True)
class Hit:
    path: str
    message_id: str
    timestamp: str
    signature: str
    body: bytes
    status: int


class Receiver:
    """Records every POST; the first `failures[path]` requests to a path are answered 503."""

    def __init__(self, failures: dict[str, int]):
        self.hits: list[Hit] = []
        self.failures = dict(failures)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    status = 503 if receiver.failures.get(self.path, 0) > 0 else 200
                    if status == 503:
                        receiver.failures[self.path] -= 1
                    receiver.hits.append(Hit(self.path, self.headers.get("webhook-id", ""),
                                             self.headers.get("webhook-timestamp", ""),
                                             self.headers.get("webhook-signature", ""), body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def signed_correctly(hit: Hit) -> bool:
    """Standard Webhooks v1, checked with the official library (a receiver's code, not LeadRelay's)."""
    headers = {"webhook-id": hit.message_id, "webhook-timestamp": hit.timestamp, "webhook-signature": hit.signature}
    try:
        Webhook(SECRET).verify(hit.body, headers)
    except WebhookVerificationError:
        return False
    return True


# --------------------------------------------------------------------------- the scenario


@pytest.fixture
def postgres_url():
    yield from postgres_schema_url()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'many.db'}"


@pytest.fixture
def receiver():
    server = Receiver({"/ops": OPS_FAILURES})
    yield server
    server.close()


def lead_messages(n: int, now: datetime) -> list[tuple[str, dict]]:
    """Lead n: every third requests a demo, the others become MQLs; sizes spread them over the rules."""
    employees = (20, 5000, 300, 50, 2000, 150)[n % 6]
    traits = {"email": f"p{n}@corp{n}.io", "first_name": f"P{n}", "employees": employees} | (
        {"vip": True} if n % 16 == 5 else {})
    user = f"u{n}"
    stamp = (now - timedelta(seconds=2)).isoformat()
    second = ({"type": "track", "event": "Demo Requested", "properties": {}} if n % 3 == 0
              else {"type": "page", "properties": {"path": "/pricing"}})
    return [(f"lead {n} identify", {"type": "identify", "messageId": f"id-{n}", "userId": user, "timestamp": stamp,
                                    "traits": traits}),
            (f"lead {n} act", second | {"messageId": f"act-{n}", "userId": user,
                                        "timestamp": (now - timedelta(seconds=1)).isoformat()})]


def open_loads(conn) -> dict[str, int]:
    c = h.handoffs.c
    return dict(conn.execute(select(c.owner, func.count()).where(c.status == "open", c.owner.is_not(None))
                             .group_by(c.owner)).all())


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LEADRELAY), *args], env=env, capture_output=True, text=True, timeout=60)


def run_workers(url: str, workers: int, tmp_path: Path, receiver: Receiver) -> None:
    started = time.monotonic()
    playbook_path = tmp_path / "playbook.yaml"
    playbook_path.write_text(PLAYBOOK % {"base": receiver.base, "secret_env": SECRET_ENV})
    env = os.environ | {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_PLAYBOOK": str(playbook_path), SECRET_ENV: SECRET}
    app = bootstrap(Settings(database_url=url), playbook=load_playbook(playbook_path))
    try:
        summary = _run(app, env, workers, tmp_path, receiver)
    finally:
        app.close()
    print(f"{workers} workers on {app.engine.dialect.name}: {time.monotonic() - started:.1f}s, {summary}")


def _run(app, env: dict[str, str], workers: int, tmp_path: Path, receiver: Receiver) -> str:
    procs: list[subprocess.Popen] = []
    logs: list = []

    def alive(when: str) -> None:
        for i, proc in enumerate(procs):
            if proc.poll() is not None:
                pytest.fail(f"worker {i} died {when} (exit {proc.returncode}):\n"
                            f"{(tmp_path / f'worker{i}.err').read_text()[-3000:]}")

    try:
        # 1. Leads arrive while nobody is working: every handoff waits in the queue.
        now = app.clock()
        report = ingest(app, [m for n in range(LEADS) for m in lead_messages(n, now)])
        assert (report.accepted, report.rejected) == (2 * LEADS, 0)
        with app.engine.connect() as conn:
            statuses = Counter(conn.scalars(select(h.handoffs.c.status)))
        assert statuses == {"queued": LEADS}

        # 2. The reps come in (one through the CLI), then the workers start.
        done = cli(env, "reps", "set", "ann", "--active", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["active"] is True
        for rep in CAPACITY:
            if rep != "ann":
                set_rep(app, rep, actor="user:test", active=True)
        for i in range(workers):
            out, err = open(tmp_path / f"worker{i}.out", "w"), open(tmp_path / f"worker{i}.err", "w")
            logs.append((out, err))
            procs.append(subprocess.Popen([str(LEADRELAY), "worker", "--interval", "0.05"], env=env,
                                          stdout=out, stderr=err))

        # 3. While they work, snapshots of every rep's open leads must stay within capacity.
        snapshots, over = 0, []

        def snapshot() -> None:
            nonlocal snapshots
            with app.engine.connect() as conn:
                loads = open_loads(conn)
            snapshots += 1
            over.extend((rep, n) for rep, n in loads.items() if n > CAPACITY[rep])

        # Long enough for ladders to reach `reassign` and the queue to refill the freed seats, on a slow machine too.
        active_from, seats = time.monotonic(), sum(CAPACITY.values())
        while True:
            snapshot()
            alive("while working")
            with app.engine.connect() as conn:
                d = h.routing_decisions.c
                assignments = conn.scalar(select(func.count()).select_from(h.routing_decisions)
                                          .where(d.owner.is_not(None)))
            elapsed = time.monotonic() - active_from
            if elapsed >= ACTIVE_MAX_SECONDS or (elapsed >= ACTIVE_SECONDS and assignments >= 3 * seats):
                break
            time.sleep(0.1)

        # 4. The reps leave: ladders end in a reassignment to nobody, timers run out, the outbox drains.
        for rep in CAPACITY:
            set_rep(app, rep, actor="user:test", active=False)
        settle_until = time.monotonic() + SETTLE_TIMEOUT
        while True:
            snapshot()
            alive("while settling")
            with app.engine.connect() as conn:
                t, o = h.sla_timers.c, outbox.c
                timers_left = conn.scalar(select(func.count()).select_from(h.sla_timers)
                                          .where(t.fired_at.is_(None), t.cancelled_at.is_(None)))
                open_left = conn.scalar(select(func.count()).select_from(h.handoffs)
                                        .where(h.handoffs.c.status == "open"))
                unsent = conn.scalar(select(func.count()).select_from(outbox).where(o.status != "sent"))
            if timers_left == open_left == unsent == 0:
                break
            assert time.monotonic() < settle_until, (
                f"not settled after {SETTLE_TIMEOUT}s: {timers_left} timers, {open_left} open, {unsent} unsent")
            time.sleep(0.2)
    finally:
        # 5. Ctrl-C, as an operator would.
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=15))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append("hung")
        for out, err in logs:
            out.close()
            err.close()
    stderr = [(tmp_path / f"worker{i}.err").read_text() for i in range(workers)]
    for i, (code, text) in enumerate(zip(codes, stderr, strict=True)):
        assert code == 0 and "Traceback" not in text and "error:" not in text, (
            f"worker {i} exited {code}:\n{text[-3000:]}")
        assert "worker stopped" in text
    busy = sum(1 for text in stderr if "; assigned " in text)  # a worker logs the sweeps that did something
    assert busy >= min(2, workers), "the work was not shared: fewer than two workers ever did anything"

    return f"{snapshots} snapshots, " + check(app, receiver, snapshots, over)


def check(app, receiver: Receiver, snapshots: int, over: list) -> str:
    assert snapshots > 10 and over == [], f"reps over capacity while the workers ran: {over[:10]}"
    with app.engine.connect() as conn:
        decisions = conn.execute(select(h.routing_decisions).order_by(h.routing_decisions.c.id)).all()
        handoffs = {r.id: r for r in conn.execute(select(h.handoffs))}
        messages = conn.execute(select(outbox)).all()
        timer_outcomes = Counter(conn.scalars(select(h.sla_timers.c.outcome)
                                              .where(h.sla_timers.c.fired_at.is_not(None))))
        assigned_events = conn.execute(select(h.domain_events.c.lead_id, h.domain_events.c.quiet)
                                       .where(h.domain_events.c.type == "LeadAssigned")).all()
        caught_up = conn.scalar(select(func.count()).select_from(h.sla_timers)
                                .where(h.sla_timers.c.outcome.like("%caught up: not sent%")))
        assert open_loads(conn) == {}

    # The run really exercised what it claims to.
    assert len(handoffs) == LEADS and all(x.status == "queued" and x.owner is None for x in handoffs.values())
    assert timer_outcomes["escalation:reassign"] >= 10 and timer_outcomes["breach"] >= 10
    assert timer_outcomes["warning"] >= 1 and timer_outcomes["escalation:notify_manager"] >= 1
    assignments = Counter(d.actor for d in decisions if d.owner)
    assert assignments["rule:routing.queue"] > sum(CAPACITY.values()), "the queue was assigned only once"
    assert sum(assignments.values()) > 2 * sum(CAPACITY.values()), "no churn: seats were not freed and refilled"
    assert any("at capacity" in (c["skipped"] or "") for d in decisions for c in d.candidates), "caps never bound"

    # No handoff assigned twice, no rep over capacity: replay the decisions in commit order.
    # (On PostgreSQL every decision is written under the routing lock, so id order is commit order.)
    owner: dict[int, str | None] = {}
    load: Counter = Counter()
    peak: Counter = Counter()
    for d in decisions:
        previous = owner.get(d.handoff_id)
        if d.actor in ("rule:routing", "rule:routing.queue"):
            assert previous is None, (f"decision {d.id}: the queue routed handoff {d.handoff_id} (to {d.owner}) "
                                      f"while {previous} had it")
        else:
            assert d.actor in ("rule:sla.demo", "rule:sla.mql"), d.actor
            assert previous is not None, f"decision {d.id}: SLA reassignment of handoff {d.handoff_id} nobody had"
            skipped = {c["rep"]: c["skipped"] for c in d.candidates}
            assert skipped.get(previous) == "current owner", (
                f"decision {d.id}: the reassignment did not act on the current owner {previous}: {d.candidates}")
            load[previous] -= 1
        if d.owner is not None:
            load[d.owner] += 1
            peak[d.owner] = max(peak[d.owner], load[d.owner])
            assert load[d.owner] <= CAPACITY[d.owner], f"decision {d.id}: {d.owner} over capacity"
        owner[d.handoff_id] = d.owner
    assert all(v is None for v in owner.values()) and +load == Counter()
    assert peak == Counter(CAPACITY), f"every rep filled up exactly to capacity, never beyond: {dict(peak)}"

    # Every assignment was recorded, and announced once -- unless a worker applied it while catching up
    # and a later step of the same sweep moved the lead on (then it is recorded quiet, with the timer
    # saying why, and nobody hears of it).
    assigned_messages = Counter(m.payload["data"]["lead"]["id"] for m in messages
                                if m.event_type == "lead.assigned" and m.target == "crm")
    assigned_decisions = Counter(d.lead_id for d in decisions if d.owner is not None)
    assert Counter(e.lead_id for e in assigned_events) == assigned_decisions
    assert assigned_messages == Counter(e.lead_id for e in assigned_events if not e.quiet)
    quiet = sum(e.quiet for e in assigned_events)
    assert quiet <= caught_up, f"{quiet} assignments were not announced, {caught_up} steps were caught up"
    assert all(m.status == "sent" for m in messages)
    delivered = [hit for hit in receiver.hits if hit.status == 200]
    assert all(signed_correctly(hit) for hit in receiver.hits)
    for endpoint in ("crm", "ops"):
        ids = Counter(hit.message_id for hit in delivered if hit.path == f"/{endpoint}")
        twice = [i for i, n in ids.items() if n > 1]
        assert twice == [], f"{endpoint}: {len(twice)} messages delivered more than once"
        rows = {m.message_id for m in messages if m.target == endpoint}
        assert set(ids) == rows, f"{endpoint}: {len(rows)} outbox rows, {len(ids)} delivered"
    retried = [m for m in messages if m.attempts > 1]
    failed = [hit for hit in receiver.hits if hit.status != 200]
    assert len(failed) == OPS_FAILURES and {m.message_id for m in retried} == {hit.message_id for hit in failed}
    bodies = defaultdict(set)
    for hit in delivered:
        bodies[hit.message_id].add(hit.body)
    by_id = {m.message_id: m for m in messages}
    assert all(json.loads(next(iter(b)))["type"] == by_id[i].event_type for i, b in bodies.items())
    return (f"{len(decisions)} routing decisions ({sum(assignments.values())} with an owner), "
            f"{sum(timer_outcomes.values())} timers fired, {len(messages)} messages")


@pytest.mark.slow
@pytest.mark.postgres
def test_four_workers_on_postgresql_share_the_work_without_doubles_or_overflow(postgres_url, tmp_path, receiver):
    run_workers(postgres_url, 4, tmp_path, receiver)


@pytest.mark.slow
def test_two_workers_on_sqlite_keep_the_same_promises(sqlite_url, tmp_path, receiver):
    run_workers(sqlite_url, 2, tmp_path, receiver)


# --------------------------------------------------------------------------- a burst of timers

BURST_LEADS = 300
BURST_PLAYBOOK = """
name: timer burst
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}]
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a}
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - id: mql
      handoff: mql
      clock: wall
      accept_within: 1m
      escalation: [{after: 0m, action: notify_rep}, {after: 0m, action: notify_manager}]
notifications:  # the secret is not set: messages are written, and fail to send without touching the network
  webhooks:
    - {id: crm, url: "http://127.0.0.1:9/hook", secret_env: LEADRELAY_TEST_BURST_UNSET,
       events: [sla.breached, sla.escalated]}
"""


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_firing_a_burst_of_timers_due_at_the_same_moment_do_not_deadlock(postgres_url, tmp_path):
    """Leads assigned together get deadlines at the same moment (overnight leads on a business
    clock all fall due at 9:00). Three timers per handoff — the breach, and the two steps of
    its ladder, planned when it fires — 900 in all, more than one claim (TIMERS_PER_TRANSACTION)
    takes: the claims split a handoff's timers between workers, who must still not deadlock
    (PostgreSQL would abort one, and the worker would die)."""
    from leadrelay.worker import TIMERS_PER_TRANSACTION

    assert 3 * BURST_LEADS > 2 * TIMERS_PER_TRANSACTION and TIMERS_PER_TRANSACTION % 3
    playbook_path = tmp_path / "burst.yaml"
    playbook_path.write_text(BURST_PLAYBOOK)
    app = bootstrap(Settings(database_url=postgres_url), playbook=load_playbook(playbook_path))
    try:
        now = app.clock()
        at = (now - timedelta(seconds=5)).isoformat()
        ingest(app, [m for n in range(BURST_LEADS) for m in (
            (f"{n}i", {"type": "identify", "messageId": f"i{n}", "userId": f"u{n}", "timestamp": at,
                       "traits": {"email": f"p{n}@c{n}.io"}}),
            (f"{n}p", {"type": "page", "messageId": f"p{n}", "userId": f"u{n}", "timestamp": at,
                       "properties": {"path": "/pricing"}}))])
        with app.engine.connect() as conn:
            t = h.sla_timers.c
            assert conn.execute(select(func.count(), func.count(t.fire_at.distinct()))).one() == (BURST_LEADS, 1)
        env = {k: v for k, v in os.environ.items() if k != "LEADRELAY_TEST_BURST_UNSET"} | {
            "LEADRELAY_DATABASE_URL": postgres_url, "LEADRELAY_PLAYBOOK": str(playbook_path)}
        later = (now + timedelta(minutes=2)).isoformat()
        procs = [subprocess.Popen([str(LEADRELAY), "worker", "--once", "--now", later, "--json"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [proc.communicate(timeout=60) for proc in procs]
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
        fired = Counter()
        for out, _ in results:
            fired.update(json.loads(out)["timers"])
        assert fired == {"breach": BURST_LEADS, "escalation:notify_rep": BURST_LEADS,
                         "escalation:notify_manager": BURST_LEADS}  # each timer fired by exactly one worker
        with app.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(h.sla_timers).where(t.fired_at.is_(None))) == 0
            notices = Counter(conn.scalars(select(outbox.c.event_type)))
        assert notices == {"sla.breached": BURST_LEADS, "sla.escalated": 2 * BURST_LEADS}  # one per timer fired
    finally:
        app.close()
