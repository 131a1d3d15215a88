"""A running worker is woken by the commit that leaves it work, and polls only as a fallback: real parts.

Each worker here polls every 30 s, so a message delivered within a few seconds of its commit
can only have been woken for: by the commit's NOTIFY on PostgreSQL (a `leadrelay worker`
process), or in the process itself when `leadrelay serve --worker` runs the worker beside the
API (SQLite). The first message of each test may be caught by the worker's first look at the
outbox; the one that counts is committed a second after that look, with the next poll 30 s
away. The bounds are generous: these are not timing benchmarks (`bench/speed_to_lead.py` is).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text

from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage import wake
from tests.api.conftest import free_port
from tests.conftest import PG_URL, postgres_database_url
from tests.integration.test_slow_receiver import PLAYBOOK as SLOW_PLAYBOOK
from tests.integration.test_slow_receiver import Receiver, new_mql, wait_for

LEADRELAY = Path(sys.executable).parent / "leadrelay"
SECRET_ENV = "WAKE_TEST_WEBHOOK_SECRET"
POLL_SECONDS = 30.0  # the workers' interval: far longer than any wait below
WOKEN_WITHIN = 10.0  # seconds from a commit to its webhooks' arrival, however loaded the machine


def playbook_text(base: str) -> str:
    """The slow-receiver test's playbook: an MQL at the first pricing view, routed to ann at once; a CRM hears of
    it (lead.mql, lead.assigned) and nothing else; an accept clock of an hour, so nothing else falls due."""
    data = yaml.safe_load(SLOW_PLAYBOOK % {"base": base, "secret_env": SECRET_ENV})
    data["name"] = "wake"
    data["sla"]["policies"][0]["accept_within"] = "1h"
    data["notifications"]["webhooks"] = [{"id": "crm", "url": f"{base}/crm", "secret_env": SECRET_ENV,
                                          "events": ["lead.mql", "lead.assigned"]}]
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def playbook_path(tmp_path, receiver, monkeypatch) -> Path:
    monkeypatch.setenv(SECRET_ENV, generate_secret())  # the worker and the server inherit it
    path = tmp_path / "playbook.yaml"
    path.write_text(playbook_text(receiver.base))
    return path


@pytest.fixture
def postgres_app(playbook_path) -> Iterator:
    """An App on a fresh PostgreSQL database: the process that commits (the API's, say)."""
    for url in postgres_database_url():
        app = bootstrap(Settings(database_url=url), playbook=parse_playbook(playbook_path.read_text(), "p.yaml"))
        yield app
        app.close()


class WorkerProcess:
    """`leadrelay worker --interval 30` on the App's database; its stderr kept."""

    def __init__(self, app, playbook_path: Path, tmp_path: Path):
        url = app.engine.url.render_as_string(hide_password=False)
        env = os.environ | {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_PLAYBOOK": str(playbook_path)}
        self.err = tmp_path / "worker.err"
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen([str(LEADRELAY), "worker", "--interval", str(POLL_SECONDS)], env=env,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def log(self) -> str:
        return self.err.read_text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def worker_process(postgres_app, playbook_path, tmp_path) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(postgres_app, playbook_path, tmp_path)
    yield worker
    worker.kill()


def listeners(app) -> list[int]:
    """The backends listening for work on the App's database (pg_stat_activity)."""
    with app.engine.connect() as conn:
        return list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND application_name = :name"), {"name": wake.APPLICATION_NAME}))


def delivered(receiver: Receiver, n: int, what: str) -> None:
    wait_for(lambda: len(receiver.hits("/crm")) >= n, WOKEN_WITHIN, what)


@pytest.mark.postgres
def test_a_worker_polling_every_30s_delivers_within_seconds_of_a_commit_woken_by_its_notify(
        postgres_app, worker_process, receiver):
    wait_for(lambda: listeners(postgres_app), 30, "the worker listening")
    new_mql(postgres_app, "u1")
    delivered(receiver, 2, "u1's lead.mql and lead.assigned")
    time.sleep(1)  # what that delivery set off is over: the worker's next look of its own is 30 s away

    new_mql(postgres_app, "u2")  # committed in this process; the worker hears of it by NOTIFY
    delivered(receiver, 4, "u2's messages, woken by the commit")

    assert worker_process.stop() == 0
    assert len({hit.message_id for hit in receiver.hits("/crm")}) == 4


@pytest.mark.postgres
def test_a_worker_that_loses_its_listening_connection_polls_meanwhile_and_listens_again(
        postgres_app, worker_process, receiver):
    wait_for(lambda: listeners(postgres_app), 30, "the worker listening")
    new_mql(postgres_app, "u1")
    delivered(receiver, 2, "u1's messages")
    [first] = listeners(postgres_app)

    with postgres_app.engine.begin() as conn:  # what a restarted PostgreSQL or a dropped network does to it
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    new_mql(postgres_app, "u2")  # while it is not listening (or just again): caught when it listens again
    delivered(receiver, 4, "u2's messages, committed while the worker was not listening")
    wait_for(lambda: listeners(postgres_app) not in ([], [first]), 30, "a new listening connection")
    time.sleep(1)

    new_mql(postgres_app, "u3")
    delivered(receiver, 6, "u3's messages, woken through the new connection")

    assert worker_process.stop() == 0
    log = worker_process.log()
    assert "lost the connection listening for work" in log and "polling until it is back" in log
    assert "listening for work again after" in log


def test_serve_with_its_worker_delivers_within_seconds_of_a_request_on_sqlite(tmp_path, playbook_path, receiver):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")} | {
        "LEADRELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'leadrelay.db'}", "LEADRELAY_PLAYBOOK": str(playbook_path),
        "LEADRELAY_PRIVATE_WEBHOOKS": "true", "NO_COLOR": "1"}
    made = subprocess.run([str(LEADRELAY), "tokens", "create", "--role", "ingest", "--source", "website"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    write_key = made.stdout.strip()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        served = subprocess.Popen([str(LEADRELAY), "serve", "--port", str(port), "--worker", "--worker-interval",
                                   str(POLL_SECONDS)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), 30, "the server answering")

        def new_mql_over_http(user: str) -> None:
            now = datetime.now(UTC).isoformat()
            batch = {"batch": [{"type": "identify", "messageId": f"i-{user}", "userId": user, "timestamp": now,
                                "traits": {"email": f"{user}@corp.io"}},
                               {"type": "page", "messageId": f"p-{user}", "userId": user, "timestamp": now,
                                "properties": {"path": "/pricing"}}]}
            sent = httpx.post(f"{url}/v1/batch", auth=(write_key, ""), content=json.dumps(batch),
                              headers={"Content-Type": "application/json"})
            assert (sent.status_code, sent.json()["accepted"]) == (200, 2)

        new_mql_over_http("u1")
        delivered(receiver, 2, "u1's messages")
        time.sleep(1)
        new_mql_over_http("u2")  # the request's commit wakes the worker in the server's process
        delivered(receiver, 4, "u2's messages, woken by the request's commit")

        served.send_signal(signal.SIGTERM)
        assert served.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    finally:
        if served.poll() is None:
            served.kill()
            served.wait()
    assert "Application shutdown complete." in log.read_text()  # the worker stopped with the server


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.postgres
def test_the_speed_to_lead_bench_runs_its_worker_process_where_it_may_reach_the_loopback_receiver():
    """Protects the benchmark: its `leadrelay worker` process was not allowed private webhook targets, so every
    message to the bench's loopback receiver went to the dead letters and the bench never got past its warm-up."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "speed_to_lead.py"
    env = {k: v for k, v in os.environ.items() if k != "LEADRELAY_PRIVATE_WEBHOOKS"}  # the bench must say it itself
    env["LEADRELAY_BENCH_POSTGRES_URL"] = PG_URL
    ran = subprocess.run([sys.executable, str(bench), "--requests", "1", "--backend", "postgresql", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    result = json.loads(ran.stdout)
    assert (result["worker"], result["requests"], result["lost"], result["duplicates"]) == (
        "leadrelay worker process", 1, 0, 0)
