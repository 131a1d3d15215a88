"""The worker follows playbook activations: real parts, both databases.

A version activated through another process (the API, here `playbook.service.activate` on
an App of its own) must reach a worker that is already running, within seconds: the review
found workers that loaded their playbook once, so the messages for a webhook the new version
added dead-lettered, and SLAs and routing ran on the old rules. A worker named a file while
another version is active runs the active one, and says so once on stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.playbook.follow import RECHECK_SECONDS
from leadrelay.playbook.loader import parse_playbook
from leadrelay.playbook.service import activate, activation
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from tests.e2e.cli import Cli
from tests.integration.test_slow_receiver import Receiver, RunningWorker, new_mql, wait_for

LEADRELAY = Path(sys.executable).parent / "leadrelay"
SECRET_ENV = "FOLLOW_TEST_WEBHOOK_SECRET"  # not LEADRELAY_*: the in-process CLI clears those
FOLLOWS_WITHIN = 3 * RECHECK_SECONDS + 4  # a check every RECHECK_SECONDS, then a sweep or two


def playbook_text(*, ann_active: bool = True, accept_within: str = "1h", webhook: str | None = None) -> str:
    hooks = (f"notifications: {{webhooks: [{{id: crm, url: \"{webhook}\", secret_env: {SECRET_ENV}, "
             f"events: [lead.mql, lead.assigned]}}]}}\n") if webhook else ""
    return f"""
name: follow
qualification: {{webmail: {{disqualify: false}}}}
scoring:
  fit: {{rules: [{{id: known, when: {{email: {{exists: true}}}}, points: 60}}]}}
  engagement: {{rules: [{{id: pricing, when: {{path: /pricing}}, points: 40}}]}}
stages:
  mql: {{owner: sdr, entry: {{all: [{{fit: {{">=": 50}}}}, {{engagement: {{">=": 30}}}}]}}}}
calendars: {{utc: {{timezone: UTC}}}}
teams: [{{id: sdr_a, function: sdr, calendar: utc}}]
reps: [{{id: ann, name: Ann, email: ann@x.io, team: sdr_a, active: {str(ann_active).lower()}}}]
routing: {{rules: [{{id: rest, team: sdr_a}}]}}
sla:
  policies:
    - {{id: mql, handoff: mql, clock: wall, accept_within: {accept_within}}}
{hooks}"""


def version_of(text: str) -> str:
    return parse_playbook(text, "p.yaml").version


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, generate_secret())


@pytest.fixture
def apps(database_url):
    """Two processes' Apps on one store, both started on the first version: the worker's, and the API's."""
    first = playbook_text()
    built = [bootstrap(Settings(database_url=database_url), playbook=parse_playbook(first, "p.yaml"))
             for _ in range(2)]
    yield built
    for app in built:
        app.close()


def crm_rows(app):
    with app.engine.connect() as conn:
        return conn.execute(select(outbox).where(outbox.c.target == "crm").order_by(outbox.c.id)).all()


def test_a_running_worker_delivers_to_a_webhook_a_newly_activated_version_adds(apps, receiver, caplog):
    caplog.set_level(logging.INFO, logger="leadrelay.playbook.follow")
    worker_app, api_app = apps
    worker = RunningWorker(worker_app)
    try:
        added = activate(api_app, playbook_text(webhook=f"{receiver.base}/crm"), actor="user:maria")
        new_mql(api_app, "u1")  # the API already runs the new version: its messages are for `crm`
        assert [r.event_type for r in crm_rows(api_app)] == ["lead.mql", "lead.assigned"]
        wait_for(lambda: len(receiver.hits("/crm")) == 2, FOLLOWS_WITHIN, "both messages at the new webhook")
    finally:
        worker.close()

    assert worker_app.playbook.version == added
    # Delivered at the first attempt: a worker meeting an endpoint it does not know looks for a newer version first.
    assert [(r.status, r.attempts, r.last_error) for r in crm_rows(api_app)] == [("sent", 1, None)] * 2
    switched = [r for r in caplog.records if getattr(r, "event", None) == "playbook_switched"]
    assert [(r.version, r.previous) for r in switched] == [(added, version_of(playbook_text()))]


def test_a_running_worker_routes_its_queue_and_times_slas_by_a_newly_activated_version(database_url):
    nobody = playbook_text(ann_active=False)
    worker_app, api_app = (bootstrap(Settings(database_url=database_url), playbook=parse_playbook(nobody, "p.yaml"))
                           for _ in range(2))
    worker = RunningWorker(worker_app, interval=0.1)
    try:
        new_mql(api_app, "u1")  # nobody is available: the handoff waits in the queue
        time.sleep(0.5)
        assert handoff(api_app).status == "queued"  # the worker, on the same rules, leaves it there
        ann_back = activate(api_app, playbook_text(accept_within="2s"), actor="user:maria")
        wait_for(lambda: handoff(api_app).owner == "ann", FOLLOWS_WITHIN, "the worker assigning the queue to ann")
        wait_for(lambda: breach(api_app).fired_at is not None, 2 + FOLLOWS_WITHIN, "the new, 2 s deadline's breach")
    finally:
        worker.close()
        worker_app.close()

    got = handoff(api_app)
    assert got.accept_due_at - got.assigned_at == timedelta(seconds=2)  # the new SLA, not the old hour
    with api_app.engine.connect() as conn:
        d = h.routing_decisions.c
        decision = conn.execute(select(h.routing_decisions).where(d.owner == "ann")).one()
    assert (decision.actor, decision.playbook_version) == ("rule:routing.queue", ann_back)
    api_app.close()


def handoff(app):
    with app.engine.connect() as conn:
        return conn.execute(select(h.handoffs)).one()


def breach(app):
    with app.engine.connect() as conn:
        return conn.execute(select(h.sla_timers).where(h.sla_timers.c.step == "breach")).one()


def test_a_worker_named_a_file_while_another_version_is_active_says_so_and_runs_the_active_one(
        apps, receiver, tmp_path, database_url):
    _, api_app = apps
    named = tmp_path / "named.yaml"
    named.write_text(playbook_text())  # no webhook
    active_text = playbook_text(webhook=f"{receiver.base}/crm")
    active = activate(api_app, active_text, actor="user:maria")
    new_mql(api_app, "u1")  # two messages for `crm`, which only the active version knows
    cli = Cli(tmp_path, database_url)

    run = cli("--playbook", str(named), "worker", "--once", "--json")

    assert run.code == 0, run.err
    notes = [line for line in run.err.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {named} is playbook version {version_of(playbook_text())}, but version {active} is "
                     f"active (activated by user:maria at {activation(api_app.engine)['activated_at']}) and runs "
                     "instead: once a version is activated, every long-running process runs it. To run the file, "
                     "activate it."]
    assert run.json()["delivered"]["sent"] == 2 and len(receiver.hits("/crm")) == 2

    (tmp_path / "active.yaml").write_text(active_text)
    for same in (("--playbook", str(tmp_path / "active.yaml")), ()):  # the active version named, or none named
        again = cli(*same, "worker", "--once")
        assert again.code == 0 and "note:" not in again.err, again.err


def test_a_running_worker_process_says_once_which_version_it_runs_and_logs_each_switch(apps, tmp_path, database_url):
    _, api_app = apps
    named = tmp_path / "named.yaml"
    named.write_text(playbook_text())
    active = activate(api_app, playbook_text(accept_within="2h"), actor="user:maria")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")} | {
        "LEADRELAY_DATABASE_URL": database_url, "LEADRELAY_PLAYBOOK": str(named), "NO_COLOR": "1"}
    err = tmp_path / "worker.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([str(LEADRELAY), "worker", "--interval", "0.1"], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: f"now running playbook version {active}" in err.read_text(), 30, "the worker starting")
        later = activate(api_app, playbook_text(accept_within="3h"), actor="user:maria")
        wait_for(lambda: f"now running playbook version {later}" in err.read_text(), FOLLOWS_WITHIN,
                 "the worker switching to the version activated while it runs")
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    text = err.read_text()
    assert code == 0 and "Traceback" not in text, text
    assert text.count("note: ") == 1 and f"but version {active} is active" in text
    assert text.rstrip().endswith("worker stopped")
