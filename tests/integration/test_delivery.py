"""Notifications end to end with real parts: a real HTTP receiver on loopback, a real SMTP
server (aiosmtpd), the real migrations, SQLite and PostgreSQL.

Time is driven by the `now` each sweep is given, so the retry schedule is checked to the
second without waiting; only the timeout tests take real (sub-second) time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from leadrelay.core.errors import InvalidPlaybook, NotFound
from leadrelay.delivery import slack as slack_channel
from leadrelay.delivery import text
from leadrelay.delivery.dispatcher import BACKOFF, LEASE, MAX_ATTEMPTS, claim, deliver_due, retry
from leadrelay.delivery.notices import EVENT_TYPES, Notice
from leadrelay.delivery.outbox import enqueue
from leadrelay.delivery.webhook import generate_secret, unix_seconds
from leadrelay.playbook.loader import parse_playbook
from leadrelay.playbook.notifications import EmailChannel, Notifications
from leadrelay.settings import Settings
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade
from leadrelay.storage.outbox_tables import endpoints, outbox

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
LEADRELAY = Path(sys.executable).parent / "leadrelay"


# --------------------------------------------------------------------------- a real HTTP receiver


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self):
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers as each test says.

    `respond(path, *steps)`: each step is a status, or (status, delay seconds[, headers]);
    requests take the steps in turn and the last step repeats. Unplanned paths answer 200.
    """

    def __init__(self):
        self.requests: list[Request] = []
        self._plans: dict[str, list] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                status, delay, headers = receiver._next(self.path)
                with receiver._lock:
                    receiver.requests.append(request)
                if delay:
                    time.sleep(delay)
                answer = b"ok" if status < 300 else b"nope"
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up (timeout): fine
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def respond(self, path: str, *steps) -> None:
        with self._lock:
            self._plans[path] = list(steps)

    def _next(self, path: str):
        with self._lock:
            plan = self._plans.get(path) or [200]
            step = plan.pop(0) if len(plan) > 1 else plan[0]
        if isinstance(step, int):
            return step, 0, {}
        status, delay, *rest = step
        return status, delay, (rest[0] if rest else {})

    def got(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def verify_standard_webhook(secret: str, request: Request) -> dict:
    """What a receiver does, written from the spec (not with LeadRelay's code)."""
    msg_id, timestamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    assert msg_id.startswith("msg_") and "." not in msg_id and timestamp.isdigit()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()).decode()
    versions = [s.split(",", 1) for s in request.headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in versions), "bad signature"
    assert request.headers["content-type"] == "application/json"
    return json.loads(request.body)


# --------------------------------------------------------------------------- data


@pytest.fixture
def engine(database_url):
    eng = connect(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    eng = connect(f"sqlite:///{tmp_path / 'outbox.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


SECRET = generate_secret()
ENV = {"HOOK_SECRET": SECRET}
SETTINGS = Settings(database_url="sqlite://")


def hooks(receiver: Receiver, *specs: tuple[str, str], **extra) -> Notifications:
    """Webhooks (id, path) on the receiver, every event type, shared secret HOOK_SECRET."""
    return Notifications.model_validate({"webhooks": [
        {"id": hook_id, "url": receiver.url(path), "secret_env": "HOOK_SECRET", **extra} for hook_id, path in specs]})


def breach(lead_id: int = 42, at: datetime = T0, **data) -> Notice:
    base = {
        "lead": {"id": lead_id, "email": "jane@acme.io", "name": "Jane Doe", "company": "Acme"},
        "owner": {"name": "Alice", "email": "alice@acme.io"},
        "sla": {"policy": "inbound", "deadline": "accept", "due_at": "2026-10-01T14:05:00Z"},
    }
    return Notice("sla.breached", at, lead_id, base | data,
                  {"owner": "alice@acme.io", "manager": "maria@acme.io"})


def put(engine, notices, notifications, now=T0) -> int:
    with engine.begin() as conn:
        return enqueue(conn, notices, notifications, now)


def rows(engine, **where):
    query = select(outbox).order_by(outbox.c.id)
    for column, value in where.items():
        query = query.where(outbox.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(query).all()


def sweep(engine, notifications, now=T0, settings=SETTINGS, **kw):
    return deliver_due(engine, settings, notifications, now, environ=ENV, **kw)


# --------------------------------------------------------------------------- the playbook section


PLAYBOOK = """\
name: t
notifications:
  webhooks:
    - id: crm
      url: https://crm.example.com/hooks/leadrelay
      secret_env: LEADRELAY_WEBHOOK_SECRET_CRM
      events: [lead.assigned, sla.breached]
      timeout_seconds: 5
  slack:
    - id: sales
      url_env: LEADRELAY_SLACK_SALES_URL
      events: [lead.handoff_opened, sla.breached]
  email:
    from: leadrelay@acme.io
    events:
      lead.assigned: [owner]
      sla.breached: [owner, manager, ops@acme.io]
"""


def test_the_notifications_section_loads_and_defaults_to_nothing():
    model = parse_playbook(PLAYBOOK, "pb.yaml").model.notifications
    assert [w.id for w in model.webhooks] == ["crm"] and model.webhooks[0].wants("sla.breached")
    assert not model.webhooks[0].wants("lead.mql")
    assert model.slack[0].url_env == "LEADRELAY_SLACK_SALES_URL" and model.email.from_ == "leadrelay@acme.io"
    assert parse_playbook("name: t\n", "pb.yaml").model.notifications == Notifications()
    every = Notifications.model_validate({"webhooks": [{"id": "all", "url": "http://x.io", "secret_env": "S"}]})
    assert all(every.webhooks[0].wants(t) for t in EVENT_TYPES)


@pytest.mark.parametrize("change,expected", [
    ("events: [lead.assigned, sla.breached]", "events: [lead.asigned]"),
    ("url: https://crm.example.com/hooks/leadrelay", "url: ftp://crm.example.com/x"),
    ("from: leadrelay@acme.io", "from: not-an-address"),
    ("sla.breached: [owner, manager, ops@acme.io]", "sla.breached: [owner, boss]"),
    ("    - id: sales\n", "    - id: crm\n"),
    ("      url_env: LEADRELAY_SLACK_SALES_URL\n", "      url_env: X\n      url: https://hooks.slack.com/x\n"),
    ("      secret_env: LEADRELAY_WEBHOOK_SECRET_CRM\n", "      secret: whsec_abc\n"),
])
def test_a_bad_notifications_section_is_reported_with_its_line(change, expected):
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(PLAYBOOK.replace(change, expected), "pb.yaml")
    issues = "\n".join(info.value.issues)
    assert "pb.yaml:" in issues
    checks = {
        "events: [lead.asigned]": ["pb.yaml:7:", "unknown event type 'lead.asigned'", "allowed: lead.mql,",
                                   "test.ping"],
        "url: ftp://crm.example.com/x": ["pb.yaml:5:", "is not an http:// or https:// URL"],
        "from: not-an-address": ["pb.yaml:14:", "is not an email address"],
        "sla.breached: [owner, boss]": ["sla.breached: no group 'boss' (groups: none; roles: owner, manager, team)"],
        "    - id: crm\n": ["channel id 'crm' is used twice"],
        "      url_env: X\n      url: https://hooks.slack.com/x\n": ["give exactly one of url or url_env"],
        "      secret: whsec_abc\n": ["unknown key 'secret'", "missing required key 'secret_env'"],
    }[expected]
    for check in checks:
        assert check in issues


def test_an_email_rule_may_name_the_owners_team_and_a_group_of_the_email_section():
    """Alerts tell owner, team or marketing (issue 11): `team` is every active rep of the owner's team, a group is a
    named list of addresses (found missing by a user trial: only owner, manager and addresses were taken)."""
    email = EmailChannel.model_validate({"from": "leadrelay@acme.io", "groups": {"marketing": ["mo@acme.io",
                                                                                               "ops@acme.io"]},
                                         "events": {"alert.fired": ["team", "marketing", "ops@acme.io"]}})
    notice = Notice("alert.fired", T0, 7, {}, {"owner": "al@acme.io", "team": ("al@acme.io", "bea@acme.io")})
    assert email.addresses(notice) == ["al@acme.io", "bea@acme.io", "mo@acme.io", "ops@acme.io"]
    assert email.addresses(Notice("alert.fired", T0, 7, {}, {})) == ["mo@acme.io", "ops@acme.io"]  # nobody owns it
    with pytest.raises(ValueError, match="groups.team: a group may not be named like a role"):
        EmailChannel.model_validate({"from": "leadrelay@acme.io", "groups": {"team": ["mo@acme.io"]}})


# --------------------------------------------------------------------------- the outbox


def test_enqueue_writes_one_row_per_matching_target_in_the_callers_transaction(engine):
    notifications = Notifications.model_validate({
        "webhooks": [{"id": "crm", "url": "http://crm.test/h", "secret_env": "S",
                      "events": ["lead.assigned", "sla.breached"]},
                     {"id": "all", "url": "http://all.test/h", "secret_env": "S"}],
        "slack": [{"id": "sales", "url": "https://hooks.slack.test/x",
                   "events": ["lead.handoff_opened", "sla.breached"]}],
        "email": {"from": "leadrelay@acme.io", "events": {"sla.breached": ["owner", "manager", "ops@acme.io"],
                                                           "lead.mql": ["manager"]}},
    })
    mql = Notice("lead.mql", T0, 7, {"lead": {"id": 7, "email": "bo@beta.io"}, "actor": "rule:stage.mql.entry"},
                 {"owner": "alice@acme.io"})  # no manager: that role is skipped
    assert put(engine, [breach(), mql], notifications) == 6 + 1
    written = rows(engine)
    assert [(r.event_type, r.channel, r.target) for r in written] == [
        ("sla.breached", "webhook", "crm"), ("sla.breached", "webhook", "all"), ("sla.breached", "slack", "sales"),
        ("sla.breached", "email", "alice@acme.io"), ("sla.breached", "email", "maria@acme.io"),
        ("sla.breached", "email", "ops@acme.io"), ("lead.mql", "webhook", "all")]
    assert len({r.message_id for r in written}) == 7 and all(r.message_id.startswith("msg_") for r in written)
    assert all(r.status == "pending" and r.attempts == 0 and r.next_attempt_at == T0 for r in written)
    first = written[0].payload
    assert first == {"type": "sla.breached", "timestamp": "2026-10-01T09:00:00Z",
                     "data": breach().data | {"lead_id": 42}}
    assert written[0].lead_id == 42

    # In the caller's transaction: when it rolls back, no message is left behind.
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, [breach()], notifications, T0)
        raise RuntimeError("the state change failed")
    assert len(rows(engine)) == 7


def test_a_webhook_is_signed_per_standard_webhooks_sent_once_and_marked_sent(engine, receiver):
    notifications = hooks(receiver, ("crm", "/crm"))
    put(engine, [breach()], notifications)
    report = sweep(engine, notifications)
    assert (report.claimed, report.sent) == (1, 1)
    [request] = receiver.got("/crm")
    body = verify_standard_webhook(SECRET, request)
    [row] = rows(engine)
    assert request.headers["webhook-id"] == row.message_id
    # Signed with the real time of sending, whatever moment the sweep pretends it is (`worker --now`).
    assert abs(int(request.headers["webhook-timestamp"]) - unix_seconds(datetime.now(UTC))) < 60
    assert body == row.payload and body["type"] == "sla.breached" and body["data"]["lead"]["email"] == "jane@acme.io"
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 1, T0, None)
    assert sweep(engine, notifications, T0 + timedelta(hours=1)).claimed == 0
    assert len(receiver.requests) == 1


def test_failures_follow_the_standard_webhooks_schedule_then_dead_letter_and_retry_replays(engine, receiver):
    assert [d.total_seconds() for d in BACKOFF] == [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert sum(BACKOFF, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)  # the spec's table
    receiver.respond("/crm", 500)
    notifications = hooks(receiver, ("crm", "/crm"))
    put(engine, [breach()], notifications)
    at = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        at += BACKOFF[attempt - 1]
        if attempt > 1:
            assert sweep(engine, notifications, at - timedelta(seconds=1)).claimed == 0  # not due yet
        report = sweep(engine, notifications, at)
        assert report.claimed == 1
        [row] = rows(engine)
        assert row.attempts == attempt and row.last_error.startswith("HTTP 500")
        if attempt < MAX_ATTEMPTS:
            assert (row.status, row.next_attempt_at) == ("pending", at + BACKOFF[attempt])
    assert at - T0 == timedelta(hours=75, minutes=35, seconds=5)
    [row] = rows(engine)
    assert row.status == "dead" and report.dead == 1
    assert sweep(engine, notifications, at + timedelta(days=30)).claimed == 0

    requests = receiver.got("/crm")
    assert len(requests) == MAX_ATTEMPTS
    assert {r.headers["webhook-id"] for r in requests} == {row.message_id}  # stable across retries
    stamps = [int(r.headers["webhook-timestamp"]) for r in requests]
    assert stamps == sorted(stamps) and abs(stamps[-1] - unix_seconds(datetime.now(UTC))) < 60  # real send times
    for request in requests:
        verify_standard_webhook(SECRET, request)

    # Replay the dead letter once the receiver is fixed.
    receiver.respond("/crm", 200)
    later = at + timedelta(days=2)
    result = retry(engine, None, later)
    assert result.reset == [row.id]
    assert rows(engine)[0].status == "pending" and rows(engine)[0].attempts == 0
    assert sweep(engine, notifications, later).sent == 1
    replay = receiver.got("/crm")[-1]
    assert replay.headers["webhook-id"] == row.message_id
    assert rows(engine)[0].status == "sent"


def test_retry_after_from_the_receiver_is_honoured_when_longer_than_the_backoff(engine, receiver):
    receiver.respond("/crm", (503, 0, {"Retry-After": "120"}))
    notifications = hooks(receiver, ("crm", "/crm"))
    put(engine, [breach()], notifications)
    sweep(engine, notifications)
    assert rows(engine)[0].next_attempt_at == T0 + timedelta(seconds=120)


def test_410_disables_the_endpoint_holds_its_messages_and_enabling_it_resumes(engine, receiver):
    receiver.respond("/crm", 410)
    notifications = hooks(receiver, ("crm", "/crm"), ("erp", "/erp"))
    put(engine, [breach(1), breach(2)], notifications)
    report = sweep(engine, notifications)
    assert len(receiver.got("/crm")) == 1  # the second message was never sent
    assert len(receiver.got("/erp")) == 2  # the other endpoint is not affected
    assert report.sent == 2 and report.disabled == 2
    with engine.connect() as conn:
        endpoint = conn.execute(select(endpoints)).one()
    assert endpoint.id == "crm" and endpoint.kind == "webhook" and endpoint.disabled_at == T0
    assert "HTTP 410" in endpoint.disabled_reason
    assert [r.status for r in rows(engine, target="crm")] == ["disabled", "disabled"]

    # New messages for it are held, not sent.
    put(engine, [breach(3)], notifications, T0 + timedelta(minutes=1))
    report = sweep(engine, notifications, T0 + timedelta(minutes=1))
    assert report.disabled == 1 and report.sent == 1
    assert len(receiver.got("/crm")) == 1
    assert [r.status for r in rows(engine, target="crm")] == ["disabled"] * 3

    # Retrying one of them alone warns that the endpoint is still disabled.
    held = rows(engine, target="crm")
    assert retry(engine, [held[0].id], T0 + timedelta(minutes=2)).still_disabled == ["crm"]

    # The receiver wants messages again: enable the endpoint; everything held is sent, once.
    receiver.respond("/crm", 200)
    result = retry(engine, [], T0 + timedelta(hours=1), enable_endpoint="crm")
    assert result.enabled == "crm" and len(result.reset) == 2  # the third was requeued just above
    report = sweep(engine, notifications, T0 + timedelta(hours=1))
    assert report.sent == 3
    assert [r.status for r in rows(engine, target="crm")] == ["sent"] * 3
    assert len({r.headers["webhook-id"] for r in receiver.got("/crm")}) == 3
    with pytest.raises(NotFound):
        retry(engine, [], T0, enable_endpoint="nobody")


def test_an_unreachable_and_a_slow_endpoint_do_not_hold_up_a_healthy_one(engine, receiver):
    receiver.respond("/slow", (200, 3.0))
    down = f"http://127.0.0.1:{closed_port()}/hooks"
    notifications = Notifications.model_validate({"webhooks": [
        {"id": "slow", "url": receiver.url("/slow"), "secret_env": "HOOK_SECRET", "timeout_seconds": 0.5},
        {"id": "down", "url": down, "secret_env": "HOOK_SECRET", "timeout_seconds": 0.5},
        {"id": "ok", "url": receiver.url("/ok"), "secret_env": "HOOK_SECRET"},
    ]})
    put(engine, [breach(i) for i in range(5)], notifications)
    report = sweep(engine, notifications)
    assert report.claimed == 15 and report.sent == 5 and report.retrying == 10
    assert len(receiver.got("/ok")) == 5  # in the same sweep as the failures, on a lane of its own
    # The sweep did not wait out five timeouts per bad endpoint: one probe each, the rest not tried.
    assert len(receiver.got("/slow")) == 1  # one probe: the others were not tried after it timed out
    for target, first_error in (("slow", "timed out after 0.5s"), ("down", "cannot connect")):
        failed = rows(engine, target=target)
        assert all(r.status == "pending" and r.attempts == 1 and r.next_attempt_at == T0 + BACKOFF[1] for r in failed)
        assert first_error in failed[0].last_error
        assert all(r.last_error.startswith("not tried") for r in failed[1:])


def test_ingestion_is_not_blocked_while_a_sweep_waits_on_a_slow_endpoint(engine, receiver):
    receiver.respond("/slow", (200, 2.0))
    notifications = hooks(receiver, ("slow", "/slow"), timeout_seconds=1.5)
    put(engine, [breach()], notifications)
    worker = threading.Thread(target=sweep, args=(engine, notifications))
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not receiver.got("/slow") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert receiver.got("/slow"), "the sweep never sent"
        put(engine, [breach(2)], notifications)  # the engine's write transaction, mid-delivery
        assert worker.is_alive(), "the write waited for the sweep, which holds /slow's request for 1.5 s"
    finally:
        worker.join()
    assert len(rows(engine)) == 2


def test_a_crashed_worker_s_claim_expires_after_the_lease(engine, receiver):
    notifications = hooks(receiver, ("crm", "/crm"))
    put(engine, [breach()], notifications)
    claimed, _ = claim(engine, T0, 10)  # claimed, then the worker died before sending
    assert len(claimed) == 1
    assert sweep(engine, notifications, T0 + LEASE - timedelta(seconds=1)).claimed == 0
    report = sweep(engine, notifications, T0 + LEASE)
    assert report.sent == 1 and len(receiver.got("/crm")) == 1
    assert rows(engine)[0].attempts == 2  # the lost attempt counts


def test_two_dispatchers_side_by_side_send_every_message_exactly_once(database_url, engine, receiver):
    receiver.respond("/a", (200, 0.002))
    notifications = hooks(receiver, ("a", "/a"), ("b", "/b"), ("c", "/c"))
    put(engine, [breach(i) for i in range(50)], notifications)  # 150 messages
    start = threading.Barrier(2)
    claimed = Counter()
    errors = []

    def work(name: str) -> None:
        own = connect(database_url)  # each worker its own engine, as separate processes would have
        try:
            start.wait()
            while True:
                report = sweep(own, notifications, limit=7)
                claimed[name] += report.claimed
                if report.claimed == 0:
                    return
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.dispose()

    workers = [threading.Thread(target=work, args=(name,)) for name in ("w1", "w2")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    assert len(ids) == 150 and set(ids.values()) == {1}
    assert sum(claimed.values()) == 150 and min(claimed.values()) > 0
    assert {r.status for r in rows(engine)} == {"sent"}
    assert {r.message_id for r in rows(engine)} == set(ids)


def test_a_backlog_on_one_endpoint_does_not_crowd_out_the_others(engine, receiver):
    notifications = hooks(receiver, ("big", "/big"))
    put(engine, [breach(i) for i in range(30)], notifications)
    put(engine, [Notice("test.ping", T0, None, {"actor": "user:sam"})], hooks(receiver, ("small", "/small")),
        T0 + timedelta(seconds=1))
    both = hooks(receiver, ("big", "/big"), ("small", "/small"))
    report = sweep(engine, both, T0 + timedelta(seconds=1), limit=5)
    assert report.claimed == 5 and len(receiver.got("/small")) == 1  # newest, yet in the first sweep


# --------------------------------------------------------------------------- Slack


def test_slack_gets_one_readable_line_as_text(engine, receiver, monkeypatch):
    monkeypatch.setenv("LEADRELAY_SLACK_SALES_URL", receiver.url("/slack"))
    notifications = Notifications.model_validate(
        {"slack": [{"id": "sales", "url_env": "LEADRELAY_SLACK_SALES_URL", "events": ["sla.breached"]}]})
    put(engine, [breach(), Notice("lead.mql", T0, 1, {})], notifications)
    report = deliver_due(engine, SETTINGS, notifications, T0)  # the URL comes from the real environment
    assert report.sent == 1
    [request] = receiver.got("/slack")
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"text": ":rotating_light: SLA breached: lead jane@acme.io (Acme) — "
                                      "acceptance due 14:05 UTC, owner Alice"}


def test_every_event_type_reads_well_and_slack_markup_is_escaped():
    for event_type in EVENT_TYPES:
        payload = {"type": event_type, "timestamp": "2026-10-01T09:00:00Z",
                   "data": {"lead": {"id": 3, "email": "bo@beta.io"}, "reason": "not_ready", "actor": "user:sam"}}
        line = slack_channel.message_text(payload)
        assert line.startswith(":") and "None" not in line and "bo@beta.io" in line
        assert text.title(event_type) in line
    payload = {"type": "lead.assigned", "timestamp": "2026-10-01T09:00:00Z",
               "data": {"lead": {"email": "x@a.io", "company": "A&B <Labs>"}, "owner": "Sam",
                        "from_stage": "mql", "to_stage": "sal", "fit": 62.5}}
    assert slack_channel.message_text(payload) == (
        ":bust_in_silhouette: Lead assigned: lead x@a.io (A&amp;B &lt;Labs&gt;) — mql → sal, owner Sam, fit 62.5")
    due_tomorrow = {"type": "sla.warning", "timestamp": "2026-10-01T23:00:00Z",
                    "data": {"sla": {"deadline": "first_touch", "due_at": "2026-10-02T08:30:00+00:00"}}}
    assert text.summary(due_tomorrow) == "SLA warning — first touch due Oct 2 08:30 UTC"


# --------------------------------------------------------------------------- email


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=closed_port())
    controller.start()
    yield inbox, Settings(database_url="sqlite://", smtp_host="127.0.0.1", smtp_port=controller.port)
    controller.stop()


EMAIL = Notifications.model_validate({"email": {"from": "LeadRelay <leadrelay@acme.io>", "events": {
    "sla.breached": ["owner", "manager"], "lead.rejected": ["nobody@acme.io"]}}})


def test_email_goes_through_a_real_smtp_server_with_subject_and_body(engine, smtp):
    inbox, settings = smtp
    put(engine, [breach()], EMAIL)
    report = sweep(engine, EMAIL, settings=settings)
    assert report.sent == 2
    assert sorted(e.rcpt_tos[0] for e in inbox.envelopes) == ["alice@acme.io", "maria@acme.io"]
    assert all(len(e.rcpt_tos) == 1 and e.mail_from == "leadrelay@acme.io" for e in inbox.envelopes)
    by_address = {row.target: row for row in rows(engine)}
    for envelope in inbox.envelopes:
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        assert message["Subject"] == "[LeadRelay] SLA breached: jane@acme.io (Acme)"
        assert message["To"] == envelope.rcpt_tos[0]
        assert message["X-LeadRelay-Message-Id"] == by_address[envelope.rcpt_tos[0]].message_id
        content = message.get_content().replace("\r\n", "\n")  # CRLF on the wire
        assert content.startswith("SLA breached: lead jane@acme.io (Acme) — acceptance due 14:05 UTC, owner Alice\n")
        assert "When:  2026-10-01 09:00:00 UTC" in content and "sla.due_at: 2026-10-01T14:05:00Z" in content
    assert {r.status for r in rows(engine)} == {"sent"}


def test_a_refused_recipient_is_dead_at_once_and_a_down_smtp_server_is_retried(engine, smtp):
    inbox, settings = smtp
    put(engine, [Notice("lead.rejected", T0, 5, {"reason": "bad_fit"})], EMAIL)
    report = sweep(engine, EMAIL, settings=settings)
    assert report.dead == 1 and rows(engine)[0].last_error.startswith("SMTP 550")

    down = Settings(database_url="sqlite://", smtp_host="127.0.0.1", smtp_port=closed_port())
    put(engine, [breach()], EMAIL)
    report = sweep(engine, EMAIL, settings=down)
    assert report.retrying == 2
    waiting = rows(engine, status="pending")
    assert all(r.next_attempt_at == T0 + BACKOFF[1] for r in waiting)
    assert "cannot send through 127.0.0.1" in waiting[0].last_error
    assert sweep(engine, EMAIL, T0 + BACKOFF[1], settings=settings).sent == 2


def test_a_missing_secret_is_a_failed_attempt_not_a_crash(engine, receiver):
    notifications = Notifications.model_validate(
        {"webhooks": [{"id": "crm", "url": receiver.url("/crm"), "secret_env": "NOT_SET_ANYWHERE"}]})
    put(engine, [breach()], notifications)
    report = sweep(engine, notifications)
    assert report.retrying == 1 and not receiver.requests
    assert rows(engine)[0].last_error == "environment variable NOT_SET_ANYWHERE (secret of webhook 'crm') is not set"


# --------------------------------------------------------------------------- the CLI


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    env.update(NO_COLOR="1", COLUMNS="250", LEADRELAY_DATABASE_URL=url)
    return subprocess.run([str(LEADRELAY), *args], capture_output=True, text=True, env=env, timeout=60)


def test_outbox_list_and_retry_from_the_command_line(tmp_path, sqlite_engine, receiver):
    url = str(sqlite_engine.url)
    receiver.respond("/crm", 500)
    receiver.respond("/gone", 410)
    notifications = hooks(receiver, ("crm", "/crm"), ("gone", "/gone"))
    put(sqlite_engine, [breach(1), breach(2)], notifications)
    at = T0
    for step in BACKOFF:
        at += step
        sweep(sqlite_engine, notifications, at)
    with sqlite_engine.begin() as conn:  # not about notifications: a sent one, for the listing
        conn.execute(update(outbox).where(outbox.c.id == 1).values(status="sent", sent_at=T0))

    listed = cli(url, "outbox", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    messages = json.loads(listed.stdout)
    assert [(m["id"], m["status"]) for m in messages] == [(4, "disabled"), (3, "dead"), (2, "disabled"), (1, "sent")]
    assert messages[1]["attempts"] == MAX_ATTEMPTS and messages[1]["last_error"].startswith("HTTP 500")
    assert messages[1]["payload"]["type"] == "sla.breached"
    dead = json.loads(cli(url, "outbox", "list", "--status", "dead", "--json").stdout)
    assert [m["id"] for m in dead] == [3]

    table = cli(url, "outbox", "list")
    assert table.returncode == 0 and "dead" in table.stdout and "HTTP 500" in table.stdout
    assert "endpoint gone (webhook) is disabled" in table.stdout
    assert "--enable-endpoint gone" in table.stdout

    done = cli(url, "outbox", "retry", "--dead")
    assert done.returncode == 0 and "1 message(s) queued again: 3" in done.stdout
    assert [r.status for r in rows(sqlite_engine)] == ["sent", "disabled", "pending", "disabled"]

    held = cli(url, "outbox", "retry", "2")
    assert held.returncode == 0 and "warning: endpoint gone is disabled" in held.stderr

    enabled = cli(url, "outbox", "retry", "--enable-endpoint", "gone", "--json")
    assert enabled.returncode == 0
    assert json.loads(enabled.stdout) == {"requeued": [4], "already_pending": [], "enabled_endpoint": "gone",
                                          "still_disabled": []}
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(endpoints)
                            .where(endpoints.c.disabled_at.is_not(None))).scalar() == 0

    missing = cli(url, "outbox", "retry", "99")
    assert missing.returncode == 1 and "no outbox message with id 99" in missing.stderr
    assert cli(url, "outbox", "retry").returncode == 2
    assert cli(url, "outbox", "list", "--status", "lost").returncode == 2


# --------------------------------------------------------------------------- targets inside the network


INTERNAL = [("http://127.0.0.1:9/x", "127.0.0.1 is a loopback address"),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
            ("http://10.1.2.3/admin", "10.1.2.3 is a private address"),
            ("http://[::1]:8080/", "::1 is a loopback address"),
            ("http://0x7f.1/", "0x7f.1 (127.0.0.1) is a loopback address"),
            ("http://localhost:5432/", "is a loopback address"),
            ("http://[::ffff:10.0.0.1]/", "is a private address"),
            ("http://0.0.0.0/", "is a reserved address")]


@pytest.mark.parametrize(("url", "told"), INTERNAL, ids=[u for u, _ in INTERNAL])
def test_a_webhook_to_an_address_inside_the_network_is_refused_unless_the_operator_allows_it(engine, url, told):
    notifications = Notifications.model_validate({"webhooks": [{"id": "crm", "url": url, "secret_env": "HOOK_SECRET"}]})
    put(engine, [breach()], notifications)
    report = sweep(engine, notifications, settings=Settings(database_url="sqlite://", private_webhooks=False))
    [row] = rows(engine)
    assert report.sent == 0 and row.status == "dead", row.last_error  # retrying cannot help: dead at once
    assert told in row.last_error and "LEADRELAY_PRIVATE_WEBHOOKS=true" in row.last_error


def test_a_slack_url_inside_the_network_is_refused_too(engine):
    notifications = Notifications.model_validate({"slack": [{"id": "sales", "url": "http://169.254.169.254/hooks"}]})
    put(engine, [breach()], notifications)
    sweep(engine, notifications, settings=Settings(database_url="sqlite://", private_webhooks=False))
    [row] = rows(engine)
    assert row.status == "dead" and "169.254.169.254 is a link-local address" in row.last_error


def test_an_allowed_internal_receiver_gets_its_messages_and_a_failure_keeps_no_body(engine, receiver):
    receiver.respond("/crm", (500, 0, {}))
    notifications = hooks(receiver, ("crm", "/crm"))
    put(engine, [breach()], notifications)
    sweep(engine, notifications, settings=Settings(database_url="sqlite://", private_webhooks=True))
    [row] = rows(engine)
    assert len(receiver.got("/crm")) == 1
    assert row.last_error == "HTTP 500 Internal Server Error"  # the status, never the receiver's page
