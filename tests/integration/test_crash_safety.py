"""Crash safety, tested (issue 13): real `leadrelay` processes killed with SIGKILL, a database
that goes away mid-batch, a disk that fills up.

Each test runs the real console script as a subprocess on loopback and waits with deadlines
(never a fixed sleep longer than a poll), then looks at the database itself:

- an ingest killed part-way committed whole batches only, and the same command run again
  completes the file with every messageId stored once;
- a server killed while clients send batches lost none it answered 200, stored the others
  whole or not at all, and takes everything resent without storing anything twice;
- a worker killed while a slow receiver holds a request leaves its messages leased; once the
  lease runs out a new worker delivers every message, a duplicate only with the same
  webhook-id and body, every one signed correctly;
- PostgreSQL: a connection terminated mid-batch is a clear error (HTTP 503 with Retry-After,
  or the CLI's one line and exit code), never a hang, and the retry stores nothing twice;
- SQLite: a full disk is a clear error, whole batches only, and a database that is not corrupt.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from leadrelay.access.tokens import create_token
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.dispatcher import LEASE
from leadrelay.delivery.webhook import generate_secret
from leadrelay.playbook.loader import load_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade
from leadrelay.storage.outbox_tables import outbox
from tests.api.conftest import free_port
from tests.conftest import PG_URL, postgres_schema_url

LEADRELAY = Path(sys.executable).parent / "leadrelay"
MESSAGES = 10_000  # in the file a killed ingest runs again: ten batches, killed after two
BATCH = 1_000  # LEADRELAY_BATCH_SIZE of the CLI runs: one transaction each
PER_LEAD = 4  # an identify, then three page views, per user
WAIT = 30.0  # seconds any one thing may take before the test calls it a hang


# --------------------------------------------------------------------------- helpers


def message(n: int) -> dict:
    """Message n of the stream: user n // 4 identifies, then views three pages."""
    user = n // PER_LEAD
    if n % PER_LEAD == 0:
        return {"type": "identify", "messageId": f"m{n}", "userId": f"u{user}", "timestamp": "2026-09-01T10:00:00Z",
                "traits": {"email": f"p{user}@corp{user % 50}.io"}}
    return {"type": "page", "messageId": f"m{n}", "userId": f"u{user}",
            "timestamp": f"2026-09-01T10:0{n % PER_LEAD}:00Z", "properties": {"path": "/pricing"}}


def write_stream(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps(message(n)) + "\n" for n in range(count)))
    return path


def tagged(url: str) -> tuple[str, str | None]:
    """The URL with a unique PostgreSQL application_name, so the test can find its process's connections."""
    if not url.startswith("postgresql"):
        return url, None
    name = "lr_crash_" + uuid.uuid4().hex[:10]
    return f"{url}&application_name={name}", name


def migrated(url: str) -> Engine:
    engine = connect(url)
    upgrade(engine)
    return engine


def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
    return env | {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_PRIVATE_WEBHOOKS": "true", "NO_COLOR": "1",
                  "COLUMNS": "500"} | extra


def start(args: list[str], env: dict[str, str], log: Path, **popen) -> subprocess.Popen:
    """A `leadrelay` process in a session of its own (SIGKILL reaches all of it), output to `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([str(LEADRELAY), *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, **popen)


def feed(proc: subprocess.Popen, stream: Path, start: int, stop: int | None = None) -> None:
    """Write lines `start` to `stop` of `stream` to the process's stdin (closed after the last line). An ingest
    fed part of its input cannot finish before the test has caught it mid-way, however fast it is."""
    assert proc.stdin is not None
    lines = stream.read_text().splitlines(keepends=True)
    proc.stdin.write("".join(lines[start:stop]).encode())
    proc.stdin.flush()
    if stop is None:
        proc.stdin.close()


def kill_9(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    assert proc.wait(timeout=WAIT) == -signal.SIGKILL


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(LEADRELAY), *args], env=env, capture_output=True, text=True, timeout=120, **kwargs)


def wait_for(what: str, condition: Callable[[], object], *, timeout: float = WAIT,
             proc: subprocess.Popen | None = None, log: Path | None = None) -> object:
    """Poll `condition` until it is truthy; fail on the deadline, or if `proc` ended first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"waiting for {what}: the process ended first (exit {proc.returncode})\n"
                        + (log.read_text()[-3000:] if log else ""))
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout}s")
        time.sleep(0.01)


def stored_ids(engine: Engine) -> Counter:
    with engine.connect() as conn:
        return Counter(conn.scalars(select(t.activities.c.message_id)))


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def live_leads(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(t.leads).where(t.leads.c.merged_into.is_(None)))


def assert_whole_batches(engine: Engine, total: int, *, all_of_them: bool = False) -> int:
    """What is stored is the file's first k messages, k a whole number of batches, one lead per user (k < total
    unless `all_of_them` may be: the failure came after the last commit)."""
    ids = stored_ids(engine)
    k = len(ids)
    assert all(n == 1 for n in ids.values())
    assert k % BATCH == 0 and (k < total or all_of_them), f"{k} messages stored: not whole batches of {BATCH}"
    assert set(ids) == {f"m{n}" for n in range(k)}, "what is stored is not the file's prefix"
    assert live_leads(engine) == k // PER_LEAD
    return k


def assert_complete(engine: Engine, total: int) -> None:
    ids = stored_ids(engine)
    assert set(ids) == {f"m{n}" for n in range(total)} and set(ids.values()) == {1}
    assert live_leads(engine) == total // PER_LEAD == count(engine, t.leads)
    with engine.connect() as conn:
        users = conn.scalars(select(t.identities.c.value).where(t.identities.c.kind == "user")).all()
    assert sorted(users) == sorted(f"u{n}" for n in range(total // PER_LEAD))


def one_line_error(stderr: str) -> str:
    """The CLI's error: a line starting `error:`, and no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    return errors[0]


# --------------------------------------------------------------------------- 1. a killed ingest


def test_an_ingest_killed_part_way_keeps_whole_batches_and_running_it_again_completes_the_file(
        database_url, tmp_path):
    """Protects: one transaction per batch. A `kill -9` of `leadrelay ingest` leaves only whole
    batches (the file's prefix, no half-processed leads), and the same command run again skips
    what was stored as duplicates and completes the file: every messageId once, one lead per user."""
    stream = write_stream(tmp_path / "stream.jsonl", MESSAGES)
    engine = migrated(database_url)
    env = cli_env(database_url, LEADRELAY_BATCH_SIZE=str(BATCH))
    log = tmp_path / "ingest.log"
    try:
        proc = start(["ingest", "-"], env, log, stdin=subprocess.PIPE)
        feed(proc, stream, 0, 2 * BATCH + BATCH // 2)  # the rest never comes: it waits mid-batch when killed
        wait_for("two committed batches", lambda: count(engine, t.activities) >= 2 * BATCH, proc=proc, log=log)
        kill_9(proc)
        stored = assert_whole_batches(engine, MESSAGES)

        again = run(["ingest", str(stream), "--json"], env)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert (report["received"], report["accepted"], report["duplicates"], report["rejected"]) == (
            MESSAGES, MESSAGES - stored, stored, 0)
        assert report["leads_created"] == (MESSAGES - stored) // PER_LEAD
        assert_complete(engine, MESSAGES)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 2. a killed server


CLIENTS = 3
BATCHES_PER_CLIENT = 12
PER_BATCH = 40
BEFORE_THE_KILL = 4  # batches each client sends before it waits for the kill (3 × 4 ≥ the 10 acknowledged)


@dataclass
class Sent:
    batch: int
    ids: list[str]
    status: int | None = None  # None: no answer (the server died), or never sent


def segment_batch(b: int) -> list[dict]:
    """Batch b: ten users of its own, each identifying and viewing three pages."""
    return [message(b * PER_BATCH + i) for i in range(PER_BATCH)]


class Server:
    def __init__(self, url: str, tmp_path: Path):
        self.env = cli_env(url)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = tmp_path
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.log = self.tmp / f"serve{self.starts}.log"
        self.proc = start(["serve", "--port", str(self.port), "--log-level", "warning"], self.env, self.log)
        wait_for("a server answering /healthz", self._healthy, proc=self.proc, log=self.log)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                kill_9(self.proc)


@pytest.fixture
def server_for(tmp_path) -> Iterator[Callable[[str], Server]]:
    made: list[Server] = []

    def make(url: str) -> Server:
        made.append(Server(url, tmp_path))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def test_a_server_killed_while_clients_send_loses_no_acknowledged_batch(database_url, tmp_path, server_for):
    """Protects: a 200 from /v1/batch means committed. After `kill -9` of `leadrelay serve` with
    clients sending, every batch answered 200 is stored, every unanswered one is stored whole or
    not at all, and resending everything to the restarted server stores nothing twice."""
    server = server_for(database_url)
    engine = migrated(database_url)
    write_key = create_token(engine, "ingest", source="website", now=datetime.now(UTC))[1]
    server.start()
    batches = [Sent(b, [m["messageId"] for m in segment_batch(b)]) for b in range(CLIENTS * BATCHES_PER_CLIENT)]

    def post(client: httpx.Client, sent: Sent) -> httpx.Response:
        return client.post(f"{server.base}/v1/batch", auth=(write_key, ""), json={"batch": segment_batch(sent.batch)})

    # Each client sends its first batches, then waits until the kill is on its way: a server fast enough to
    # answer every batch before it is killed would leave nothing to test.
    gate = threading.Event()

    def send(mine: list[Sent]) -> None:
        with httpx.Client(timeout=WAIT) as client:
            for n, sent in enumerate(mine):
                if n == BEFORE_THE_KILL:
                    gate.wait(WAIT)
                try:
                    sent.status = post(client, sent).status_code
                except httpx.TransportError:
                    return  # the server is gone: this batch, and the rest, got no answer

    try:
        clients = [threading.Thread(target=send, args=(batches[i::CLIENTS],)) for i in range(CLIENTS)]
        for thread in clients:
            thread.start()
        wait_for("10 acknowledged batches", lambda: sum(s.status == 200 for s in batches) >= 10,
                 proc=server.proc, log=server.log)
        gate.set()  # the clients send on while the server is killed: batches in flight, others unanswered
        kill_9(server.proc)
        for thread in clients:
            thread.join(WAIT)
            assert not thread.is_alive(), "a client hung on a dead server"

        acknowledged = [s for s in batches if s.status == 200]
        unanswered = [s for s in batches if s.status is None]
        assert all(s.status in (200, None) for s in batches), Counter(s.status for s in batches)
        assert unanswered, "the server finished before it was killed"
        ids = stored_ids(engine)
        assert set(ids.values()) == {1}
        lost = [s.batch for s in acknowledged if not all(i in ids for i in s.ids)]
        assert lost == [], f"batches answered 200 but not stored: {lost}"
        partial = [s.batch for s in unanswered if 0 < sum(i in ids for i in s.ids) < PER_BATCH]
        assert partial == [], f"batches stored in part: {partial}"
        before = len(ids)

        server.start()
        accepted = duplicates = 0
        with httpx.Client(timeout=WAIT) as client:
            for sent in batches:
                answer = post(client, sent)
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["accepted"] + body["duplicates"] == PER_BATCH and body["accepted"] in (0, PER_BATCH)
                accepted, duplicates = accepted + body["accepted"], duplicates + body["duplicates"]
        total = len(batches) * PER_BATCH
        assert (accepted, duplicates) == (total - before, before)
        assert_complete(engine, total)
        print(f"{engine.dialect.name}: {len(acknowledged)} batches acknowledged, "
              f"{before // PER_BATCH - len(acknowledged)} stored unanswered, {len(unanswered)} unanswered")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 3. a killed worker

SECRET_ENV = "LEADRELAY_TEST_CRASH_SECRET"
SECRET = generate_secret()
WORKER_LEADS = 20
KILL_AT = 5  # the worker dies while the receiver holds this request (1-based)

WORKER_PLAYBOOK = """
name: crash safety
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc}]
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a, capacity: 1000}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a, capacity: 1000}
routing: {rules: [{id: rest, team: sdr_a}]}
notifications:
  webhooks: [{id: crm, url: "%(base)s/crm", secret_env: %(secret_env)s, events: [lead.assigned]}]
"""


@dataclass(frozen=True)
class Hit:
    message_id: str
    timestamp: str
    signature: str
    body: bytes


class SlowReceiver:
    """Records each POST as it arrives, then holds it `delay` seconds before answering 200."""

    def __init__(self, delay: float):
        self.delay = delay
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.hits.append(Hit(self.headers.get("webhook-id", ""), self.headers.get(
                        "webhook-timestamp", ""), self.headers.get("webhook-signature", ""), body))
                time.sleep(receiver.delay)
                try:
                    self.send_response(200)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender died meanwhile
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def received(self) -> list[Hit]:
        with self.lock:
            return list(self.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_receiver() -> Iterator[SlowReceiver]:
    receiver = SlowReceiver(delay=0.3)
    yield receiver
    receiver.close()


def signed_correctly(hit: Hit) -> bool:
    """Standard Webhooks v1, checked with the official library (a receiver's code, not LeadRelay's)."""
    headers = {"webhook-id": hit.message_id, "webhook-timestamp": hit.timestamp, "webhook-signature": hit.signature}
    try:
        Webhook(SECRET).verify(hit.body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_a_worker_killed_mid_delivery_leaves_its_messages_to_the_next_after_the_lease(
        database_url, tmp_path, slow_receiver):
    """Protects: at-least-once delivery with a stable webhook-id. A `kill -9` of `leadrelay worker`
    while a slow receiver holds a request leaves the claimed messages leased: a new worker sends
    none of them again before the lease runs out, and all of them after; the one in flight is the
    only duplicate, with the same webhook-id and body, and every request is signed correctly."""
    playbook_path = tmp_path / "playbook.yaml"
    playbook_path.write_text(WORKER_PLAYBOOK % {"base": slow_receiver.base, "secret_env": SECRET_ENV})
    app = bootstrap(Settings(database_url=database_url), playbook=load_playbook(playbook_path))
    env = cli_env(database_url, LEADRELAY_PLAYBOOK=str(playbook_path), **{SECRET_ENV: SECRET})
    log = tmp_path / "worker.log"
    try:
        at = (app.clock() - timedelta(seconds=5)).isoformat()
        ingest(app, [(f"{n}{kind}", m) for n in range(WORKER_LEADS) for kind, m in (
            ("i", {"type": "identify", "messageId": f"i{n}", "userId": f"u{n}", "timestamp": at,
                   "traits": {"email": f"p{n}@c{n}.io"}}),
            ("p", {"type": "page", "messageId": f"p{n}", "userId": f"u{n}", "timestamp": at,
                   "properties": {"path": "/pricing"}}))])
        with app.engine.connect() as conn:
            rows = {m.message_id: m for m in conn.execute(select(outbox))}
        assert len(rows) == WORKER_LEADS and {m.event_type for m in rows.values()} == {"lead.assigned"}

        proc = start(["worker", "--interval", "0.05"], env, log)
        wait_for(f"request {KILL_AT} at the receiver", lambda: len(slow_receiver.received()) >= KILL_AT,
                 proc=proc, log=log)
        kill_9(proc)  # within the receiver's delay: request KILL_AT is in flight, unrecorded
        slow_receiver.delay = 0.0
        in_flight = slow_receiver.received()[-1].message_id
        with app.engine.connect() as conn:
            o = outbox.c
            sent_before = set(conn.scalars(select(o.message_id).where(o.status == "sent")))
            leased = conn.execute(select(o.message_id, o.attempts, o.next_attempt_at)
                                  .where(o.status == "pending")).all()
        assert len(sent_before) == KILL_AT - 1 and in_flight not in sent_before
        # Claimed by the dead worker and leased to it: due again only when the lease runs out, not before.
        assert {m.message_id for m in leased} == set(rows) - sent_before
        assert all(m.attempts == 1 and m.next_attempt_at > datetime.now(UTC) + LEASE / 2 for m in leased)

        later = (datetime.now(UTC) + LEASE + timedelta(minutes=1)).isoformat()
        after = run(["worker", "--once", "--now", later, "--json"], env)
        assert after.returncode == 0 and "Traceback" not in after.stderr, after.stderr

        hits = slow_receiver.received()
        with app.engine.connect() as conn:
            statuses = Counter(conn.scalars(select(outbox.c.status)))
        assert statuses == {"sent": WORKER_LEADS}
        assert {h.message_id for h in hits} == set(rows)
        times = Counter(h.message_id for h in hits)
        assert {i for i, n in times.items() if n > 1} == {in_flight} and times[in_flight] == 2
        assert len({h.body for h in hits if h.message_id == in_flight}) == 1, "the resend's body differs"
        assert all(signed_correctly(h) for h in hits)
    finally:
        app.close()


# --------------------------------------------------------------------------- 4. PostgreSQL goes away


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_schema_url()


def terminate_mid_batch(name: str) -> int | None:
    """Terminate a connection of application `name` that is inside a write transaction; its pid, or None."""
    admin = create_engine(PG_URL)
    try:
        with admin.connect() as conn:
            pid = conn.scalar(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                                   "AND backend_xid IS NOT NULL LIMIT 1"), {"name": name})
            if pid is not None:
                conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            return pid
    finally:
        admin.dispose()


def terminated_when_writing(name: str, done: Callable[[], bool]) -> int | None:
    """Poll until a connection of `name` is writing (then terminate it) or `done()`."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        pid = terminate_mid_batch(name)
        if pid is not None or done():
            return pid
        time.sleep(0.005)
    pytest.fail(f"no connection of {name} started writing within {WAIT}s")


@pytest.mark.postgres
def test_a_server_whose_database_connection_is_terminated_mid_batch_answers_503_and_the_retry_is_stored_once(
        postgres_url, tmp_path, server_for):
    """Protects: a database that goes away mid-request is a clear, bounded 503 with Retry-After,
    nothing half-stored, and the client's retry of the same batch is stored exactly once."""
    url, name = tagged(postgres_url)
    server = server_for(url)
    engine = migrated(postgres_url)
    write_key = create_token(engine, "ingest", source="website", now=datetime.now(UTC))[1]
    server.start()
    big = [message(n) for n in range(2_400)]
    try:
        for attempt in range(5):  # the batch may commit before the poll sees it writing: another batch then
            batch = [m | {"messageId": f"{m['messageId']}-{attempt}"} for m in big]
            answer: list[httpx.Response | Exception] = []

            def post(batch=batch, answer=answer) -> None:
                try:
                    answer.append(httpx.post(f"{server.base}/v1/batch", auth=(write_key, ""),
                                             json={"batch": batch}, timeout=WAIT))
                except Exception as exc:  # noqa: BLE001 - the assertion below says what came back
                    answer.append(exc)

            thread = threading.Thread(target=post)
            started = time.monotonic()
            thread.start()
            pid = terminated_when_writing(name, lambda answer=answer: bool(answer))
            thread.join(WAIT)
            assert not thread.is_alive(), "the request hung after its connection was terminated"
            if pid is None:
                continue
            caught = answer[0]
            if isinstance(caught, httpx.Response) and caught.status_code == 200:
                # The commit beat the termination (caught between its last statement and the answer): acknowledged,
                # so it must be stored whole. Another batch, to catch the server mid-write.
                assert sum(m["messageId"] in stored_ids(engine) for m in batch) == len(batch)
                continue
            break
        else:
            pytest.fail("never caught the server writing")
        refused = answer[0]
        assert isinstance(refused, httpx.Response), refused
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json() == {"code": "storage_unavailable",
                                  "message": "the database did not answer: retry shortly"}
        assert time.monotonic() - started < 10
        ids = [m["messageId"] for m in batch]
        assert sum(i in stored_ids(engine) for i in ids) in (0, len(ids))  # whole or nothing

        retry = httpx.post(f"{server.base}/v1/batch", auth=(write_key, ""), json={"batch": batch}, timeout=WAIT)
        assert retry.status_code == 200, retry.text
        assert retry.json()["accepted"] + retry.json()["duplicates"] == len(batch)
        stored = stored_ids(engine)
        assert all(stored[i] == 1 for i in ids) and max(stored.values()) == 1
        assert "Traceback" not in server.log.read_text()
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("after_batches", [0, 2], ids=["in-the-first-batch", "after-two-batches"])
def test_an_ingest_whose_database_connection_is_terminated_says_so_in_one_line_and_the_rerun_completes(
        postgres_url, tmp_path, after_batches):
    """Protects: the CLI's error contract when PostgreSQL goes away mid-batch. One `error:` line,
    no traceback, exit 1 when nothing was stored or 4 part-way (with how far it got), no hang;
    whole batches only; the same command run again completes the file, nothing counted twice."""
    count_of = 12_000  # twelve batches: room to catch the ingest mid-write after two
    stream = write_stream(tmp_path / "stream.jsonl", count_of)
    url, name = tagged(postgres_url)
    engine = migrated(postgres_url)
    env = cli_env(url, LEADRELAY_BATCH_SIZE=str(BATCH))
    log = tmp_path / "ingest.log"
    try:
        proc = start(["ingest", "-"], env, log, stdin=subprocess.PIPE)
        if after_batches:  # fed in two parts: it cannot finish before these batches are seen committed
            feed(proc, stream, 0, after_batches * BATCH + BATCH // 2)
            wait_for(f"{after_batches} batches", lambda: count(engine, t.activities) >= after_batches * BATCH,
                     proc=proc, log=log)
        feed(proc, stream, after_batches * BATCH + BATCH // 2 if after_batches else 0)
        pid = terminated_when_writing(name, lambda: proc.poll() is not None)
        assert pid is not None, "the ingest finished before its connection could be terminated"
        code = proc.wait(timeout=WAIT)
        output = log.read_text()
        # The backend may be caught refreshing the statistics after the last batch committed: all of it stored.
        stored = assert_whole_batches(engine, count_of, all_of_them=True)
        assert stored >= after_batches * BATCH
        line = one_line_error(output)
        assert line.startswith("error: the database failed: the connection to the database was lost ("), line
        # psycopg's words depend on where it notices: a query's reply, or a COPY (bulk insert) mid-stream
        assert any(words in line for words in ("server closed the connection", "terminating connection",
                                               "the connection is lost")), line
        if stored:  # the connection may also go while the statistics are refreshed after a commit
            assert code == 4, output
            assert f"the first {stored} messages were handled and committed ({stored} stored)" in output
        else:
            assert code == 1, output

        again = run(["ingest", str(stream), "--json"], env)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert (report["accepted"], report["duplicates"]) == (count_of - stored, stored)
        assert_complete(engine, count_of)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 5. SQLite: a full disk


def limited_to(size: int) -> Callable[[], None]:
    """preexec_fn: files the process writes stop at `size` bytes (EFBIG, as on a full disk; SIGXFSZ ignored)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@pytest.mark.parametrize("room", ["none", "some"])
def test_an_ingest_that_fills_the_disk_says_so_and_leaves_whole_batches_in_a_sound_database(tmp_path, room):
    """Protects: SQLite on a full disk. The CLI says so in one line (no traceback) and exits 1
    when nothing was stored or 4 part-way; the database holds whole batches only and passes
    `PRAGMA integrity_check`; with room again, the same command completes the file."""
    path = tmp_path / "leadrelay.db"
    url = f"sqlite:///{path}"
    count_of = 8_000
    stream = write_stream(tmp_path / "stream.jsonl", count_of)
    engine = migrated(url)
    engine.dispose()  # checkpointed: the write-ahead log starts empty
    env = cli_env(url, LEADRELAY_BATCH_SIZE=str(BATCH))
    # "none": a few pages past the migrated file; "some": room for a few batches in the write-ahead log.
    size = (path.stat().st_size + 64 * 1024) if room == "none" else 3 * 1024 * 1024
    try:
        done = run(["ingest", str(stream)], env, preexec_fn=limited_to(size))
        line = one_line_error(done.stderr)
        # SQLite's "disk I/O error" (EFBIG) or "database or disk is full" (ENOSPC), said plainly first
        assert line.startswith("error: the database failed: the disk is full (or the file may grow no larger) ("), line
        engine = connect(url)
        stored = len(stored_ids(engine))
        assert_whole_batches(engine, count_of)
        if room == "none":
            assert (done.returncode, stored) == (1, 0), done.stderr
        else:
            assert done.returncode == 4 and stored > 0, done.stderr
            assert f"the first {stored} messages were handled and committed ({stored} stored)" in done.stderr
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

        again = run(["ingest", str(stream), "--json"], env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["duplicates"] == stored
        assert_complete(engine, count_of)
    finally:
        engine.dispose()
