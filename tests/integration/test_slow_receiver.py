"""A slow receiver holds up only its own messages: a running worker, real parts, both databases.

The worker runs as `leadrelay worker` does (`leadrelay.worker.run`, here in a thread with a
stop event), against a real HTTP receiver on loopback where one endpoint takes seconds per
request. The review found that one endpoint taking 10 s per request cut a healthy endpoint
to about one message a second and made SLA timers late: every sweep waited for the slowest
endpoint before the next one could fire a timer. The assertions compare counts, not
wall-clock budgets: everything the healthy endpoint is owed arrives, and the timer fires,
before the slow endpoint has answered twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.notices import Notice
from leadrelay.delivery.outbox import enqueue
from leadrelay.delivery.webhook import generate_secret
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import run

SECRET_ENV = "LEADRELAY_TEST_SLOW_RECEIVER_SECRET"
SLOW_SECONDS = 3.0  # per request to /slow
INTERVAL = 0.2  # seconds between the worker's sweeps (and its looks at the outbox)


# --------------------------------------------------------------------------- a loopback receiver


@dataclass(frozen=True)
class Hit:
    path: str
    message_id: str
    arrived: float  # time.monotonic()
    answered: float | None  # None while the receiver still sleeps on it


class Receiver:
    """Records every POST with when it arrived and when it was answered; `delays[path]` seconds per request."""

    def __init__(self, delays: dict[str, float] | None = None):
        self.delays = dict(delays or {})
        self._hits: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", "0")))
                hit = {"path": self.path, "message_id": self.headers.get("webhook-id", ""),
                       "arrived": time.monotonic(), "answered": None}
                with receiver._lock:
                    receiver._hits.append(hit)
                time.sleep(receiver.delays.get(self.path, 0))
                try:
                    self.send_response(200)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the client gave up
                    return
                with receiver._lock:
                    hit["answered"] = time.monotonic()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def hits(self, path: str) -> list[Hit]:
        with self._lock:
            return [Hit(**hit) for hit in self._hits if hit["path"] == path]

    def answered(self, path: str) -> int:
        return sum(1 for hit in self.hits(path) if hit.answered is not None)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds}s: {what}"
        time.sleep(0.02)


class RunningWorker:
    """`leadrelay.worker.run` in a thread, stopped as SIGTERM stops it (the stop event its handler sets)."""

    def __init__(self, app, interval: float = INTERVAL):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(app, interval), daemon=True)
        self.thread.start()

    def _run(self, app, interval: float) -> None:
        try:
            run(app, interval=interval, stop=self.stop)
        except BaseException as exc:  # pragma: no cover - reported by close()
            self.errors.append(exc)

    def close(self, timeout: float = 15) -> float:
        """Stop; the seconds it took to return."""
        started = time.monotonic()
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not stop"
        assert not self.errors, self.errors
        return time.monotonic() - started


# --------------------------------------------------------------------------- the scenario

PLAYBOOK = """
name: slow receiver
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc}]
reps: [{id: ann, name: Ann, email: ann@x.io, team: sdr_a}]
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - {id: mql, handoff: mql, clock: wall, accept_within: 1s}
notifications:
  webhooks:
    - {id: slow, url: "%(base)s/slow", secret_env: %(secret_env)s, events: [test.ping], timeout_seconds: 10}
    - {id: crm, url: "%(base)s/crm", secret_env: %(secret_env)s, events: [lead.mql, lead.assigned, sla.breached]}
"""


@pytest.fixture
def receiver():
    server = Receiver({"/slow": SLOW_SECONDS})
    yield server
    server.close()


@pytest.fixture
def live_app(database_url, receiver, monkeypatch):
    """An App on the real clock (SLA timers fall due while the test runs) with the slow and the healthy endpoint."""
    monkeypatch.setenv(SECRET_ENV, generate_secret())
    playbook = parse_playbook(PLAYBOOK % {"base": receiver.base, "secret_env": SECRET_ENV}, "slow.yaml")
    app = bootstrap(Settings(database_url=database_url), playbook=playbook)
    yield app
    app.close()


def ping_slow(app, n: int) -> None:
    """`n` messages for the slow endpoint, due now."""
    now = app.clock()
    with app.engine.begin() as conn:
        enqueue(conn, [Notice("test.ping", now, None, {"n": i}) for i in range(n)],
                app.playbook.model.notifications, now)


def new_mql(app, user: str) -> None:
    """A lead who becomes an MQL now: assigned to ann, with a 1 s accept deadline."""
    at = datetime.now(UTC).isoformat()
    report = ingest(app, [
        ("identify", {"type": "identify", "messageId": f"i-{user}", "userId": user, "timestamp": at,
                      "traits": {"email": f"{user}@corp.io"}}),
        ("page", {"type": "page", "messageId": f"p-{user}", "userId": user, "timestamp": at,
                  "properties": {"path": "/pricing"}})])
    assert (report.accepted, report.rejected) == (2, 0)


def outbox_rows(app, target: str):
    with app.engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.target == target).order_by(outbox.c.id)).all()


def test_a_slow_endpoint_holds_up_neither_a_healthy_one_nor_the_sla_timers(live_app, receiver):
    app = live_app
    ping_slow(app, 4)  # 12 s of work for /slow
    worker = RunningWorker(app)
    try:
        wait_for(lambda: receiver.hits("/slow"), 10, "the slow endpoint's first request")
        new_mql(app, "u1")  # while /slow sleeps: messages for /crm, and a deadline 1 s away

        def crm_has_everything() -> bool:
            rows = outbox_rows(app, "crm")
            return any(r.event_type == "sla.breached" for r in rows) and len(receiver.hits("/crm")) == len(rows)

        wait_for(crm_has_everything, 4 * SLOW_SECONDS, "every /crm message, the breach included")
        answered_by_then = receiver.answered("/slow")
        with app.engine.connect() as conn:
            timer = conn.execute(select(h.sla_timers).where(h.sla_timers.c.step == "breach")).one()
    finally:
        worker.close()

    assert answered_by_then < 2, "the healthy endpoint waited for the slow one"
    assert [r.event_type for r in outbox_rows(app, "crm")] == ["lead.mql", "lead.assigned", "sla.breached"]
    assert all(r.status == "sent" and r.attempts == 1 for r in outbox_rows(app, "crm"))
    assert timer.fired_at is not None  # and was delivered (above) before /slow answered its second request


def test_a_stopped_worker_finishes_the_send_in_flight_and_hands_back_the_rest(live_app, receiver):
    app = live_app
    receiver.delays["/slow"] = 1.0
    ping_slow(app, 3)
    worker = RunningWorker(app)
    try:
        wait_for(lambda: receiver.hits("/slow"), 10, "the slow endpoint's first request")
    finally:
        took = worker.close()

    assert took < 3 * receiver.delays["/slow"], "the worker waited for more than the send in flight"
    hits = receiver.hits("/slow")
    assert len(hits) == 1 and hits[0].answered is not None  # in flight when stopped: finished, not cut off
    rows = outbox_rows(app, "slow")
    sent = [r for r in rows if r.status == "sent"]
    assert [r.message_id for r in sent] == [hits[0].message_id]
    # The rest were handed back: due again at once, the claim's attempt not counted, for any worker to send.
    back = [r for r in rows if r.status != "sent"]
    assert len(back) == 2 and all(r.status == "pending" and r.attempts == 0 for r in back)
    assert all(r.next_attempt_at <= app.clock() for r in back)
