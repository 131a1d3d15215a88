"""End-to-end: `leadrelay serve` as a subprocess, tokens from `leadrelay tokens`, a curl-like client.

SQLite only (a server start costs about a second); the database-specific behaviour is
covered through the ASGI app on both backends in the other modules.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import free_port
from tests.messages import identify, track

LEADRELAY = Path(sys.executable).parent / "leadrelay"


class Served:
    def __init__(self, tmp_path: Path, **settings: str):
        self.tmp = tmp_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        self.env.update(LEADRELAY_DATABASE_URL=f"sqlite:///{tmp_path / 'leadrelay.db'}", NO_COLOR="1",
                        **{f"LEADRELAY_{k.upper()}": v for k, v in settings.items()})
        self.log = tmp_path / "serve.log"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(LEADRELAY), *args], cwd=self.tmp, env=self.env, capture_output=True, text=True,
                              timeout=60)

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([str(LEADRELAY), "serve", "--port", str(self.port)], cwd=self.tmp,
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"leadrelay serve did not start:\n{self.log.read_text()}")

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    running = Served(tmp_path)
    yield running
    if running.proc and running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


def test_serve_ingests_and_answers_like_the_readme_says(served):
    write_key = served.cli("tokens", "create", "--role", "ingest", "--source", "website").stdout.strip()
    admin = json.loads(served.cli("tokens", "create", "--role", "admin", "--label", "ops", "--json").stdout)
    assert write_key.startswith("lrw_") and admin["secret"].startswith("lrk_")
    unknown = served.cli("tokens", "create", "--role", "rep", "--rep", "nobody")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "error: the playbook has no rep 'nobody'")
    served.start()

    ready = httpx.get(f"{served.url}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    batch = {"batch": [identify(user="jane", email="jane@acme.io", title="VP Sales"),
                       track("Demo Requested", user="jane")]}
    sent = httpx.post(f"{served.url}/v1/batch", auth=(write_key, ""), content=gzip.compress(json.dumps(batch).encode()),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert (sent.status_code, sent.json()["accepted"]) == (200, 2)

    headers = {"Authorization": f"Bearer {admin['secret']}"}
    leads = httpx.get(f"{served.url}/api/leads", params={"stage": "sal"}, headers=headers).json()["leads"]
    assert [lead["email"] for lead in leads] == ["jane@acme.io"]

    bad = httpx.post(f"{served.url}/v1/batch", auth=(write_key, ""), content=b'{"batch": [')
    assert (bad.status_code, bad.json()["code"]) == (400, "bad_json")
    assert httpx.get(f"{served.url}/openapi.json").json()["info"]["title"] == "LeadRelay"
    assert httpx.get(f"{served.url}/docs").status_code == 200

    revoked = served.cli("tokens", "revoke", str(admin["token"]["id"]))
    assert revoked.returncode == 0, revoked.stderr
    gone = httpx.get(f"{served.url}/api/leads", headers=headers)
    assert (gone.status_code, gone.json()["code"]) == (401, "unauthorized")

    assert served.stop() in (0, -signal.SIGTERM)  # uvicorn shuts down cleanly, then re-raises the signal
    lines = served.log_lines()
    assert any(line["message"] == "Application shutdown complete." for line in lines)
    requests = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    assert requests[bad.headers["X-Request-ID"]]["status"] == 400
    errors = [line for line in lines if line.get("event") == "error"]
    assert {(e["code"], e["request_id"]) for e in errors} >= {("bad_json", bad.headers["X-Request-ID"]),
                                                              ("unauthorized", gone.headers["X-Request-ID"])}
    assert write_key not in served.log.read_text() and admin["secret"] not in served.log.read_text()


def test_an_overloaded_server_answers_429_with_retry_after(tmp_path):
    served = Served(tmp_path, max_inflight="1")
    write_key = served.cli("tokens", "create", "--role", "ingest", "--source", "website").stdout.strip()
    served.start()
    try:
        release = threading.Event()

        def slow_body() -> Iterator[bytes]:
            yield b'{"batch": ['
            release.wait(10)
            yield b"]}"

        holder = threading.Thread(target=lambda: httpx.post(f"{served.url}/v1/batch", auth=(write_key, ""),
                                                            content=slow_body(), timeout=30))
        holder.start()
        time.sleep(0.5)  # the slow request now holds the only slot
        turned_away = httpx.post(f"{served.url}/v1/track", auth=(write_key, ""), json=track("Demo Requested", user="x"))
        health = httpx.get(f"{served.url}/healthz")
        release.set()
        holder.join()
        assert turned_away.status_code == 429
        assert turned_away.headers["Retry-After"] == "1" and turned_away.json()["code"] == "overloaded"
        assert health.status_code == 200  # health checks are never turned away
        after = httpx.post(f"{served.url}/v1/track", auth=(write_key, ""), json=track("Demo Requested", user="x"))
        assert after.status_code == 200
    finally:
        served.stop()


def test_a_database_that_went_away_is_a_503_that_does_not_name_its_host(app, tokens, caplog):
    """Issue 13: the 503's message carried the database's host and port to anyone, signed in or not."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine

    from leadrelay.entrypoints.api.app import create_app
    from tests.api.conftest import bearer

    api = create_app(app)
    app.engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone", connect_args={"connect_timeout": 2})
    with TestClient(api) as client:
        ready = client.get("/readyz")
        leads = client.get("/api/leads", headers=bearer(tokens.admin))
    assert (ready.status_code, ready.json()) == (503, {"code": "not_ready", "message": "the database does not answer"})
    assert (leads.status_code, leads.json()) == (503, {"code": "storage_unavailable",
                                                     "message": "the database did not answer: retry shortly"})
    assert "127.0.0.1" in caplog.text  # for the operator, in the log
