"""Absence timers end to end, on both databases: a lead opens the demo form and leaves; the worker sends
`followup.due` to marketing's email tool once the wait is over, after a restart too, never twice; a lead who sent
the form is never followed up; a file loaded as history starts nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.delivery.payloads import validate
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import starter_text
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import sweep
from tests.integration.test_alerts import app_maker
from tests.messages import identify, numbered, track


@pytest.fixture
def make_app(database_url, clock):
    data = yaml.safe_load(starter_text())
    data["followups"] = [{"id": "demo_form_abandoned", "description": "opened the demo form and left",
                          "after": {"all": [{"event": "Form Viewed"}, {"properties.form": "demo"}]},
                          "unless": {"event": "Demo Requested"}, "within": "30m", "channels": ["email_tool"]}]
    data["notifications"] = {"webhooks": [
        {"id": "email_tool", "url": "http://127.0.0.1:9/hook", "secret_env": "LEADRELAY_TEST_HOOK"},
        {"id": "crm", "url": "http://127.0.0.1:9/crm", "secret_env": "LEADRELAY_TEST_HOOK", "events": ["lead.mql"]}]}
    yield from app_maker(database_url, clock, yaml.safe_dump(data, sort_keys=False))


def due(app):
    with app.engine.connect() as conn:
        return [(row.target, row.payload) for row in conn.execute(
            select(outbox.c.target, outbox.c.payload).where(outbox.c.event_type == "followup.due"))]


def visit(user, clock, *, send=False):
    messages = [identify(user=user, email=f"{user}@bigco.com", when=clock()),
                track("Form Viewed", user=user, when=clock() + timedelta(minutes=1), properties={"form": "demo"})]
    if send:
        messages.append(track("Demo Requested", user=user, when=clock() + timedelta(minutes=6)))
    return numbered(messages)


def test_a_left_form_is_followed_up_once_after_the_wait_and_a_sent_one_never(make_app, clock):
    app = make_app()
    ingest(app, visit("left", clock), live=True)
    ingest(app, visit("sent", clock, send=True), live=True)
    sweep(app, clock() + timedelta(minutes=20), deliver=False)
    assert due(app) == []  # still waiting
    app = make_app()  # a restart: the timer is in the store
    report = sweep(app, clock() + timedelta(minutes=40), deliver=False)
    assert report.followups == 1
    [(target, body)] = due(app)
    validate(body)
    assert target == "email_tool" and body["data"]["lead"]["email"] == "left@bigco.com"  # its own channel only
    assert body["data"]["started_by"]["properties"] == {"form": "demo"}
    assert body["data"]["why"] == "demo_form_abandoned: opened the demo form and left (no answer within 30m)"
    assert sweep(app, clock() + timedelta(hours=2), deliver=False).followups == 0  # never twice
    assert [(w["followup"], w["status"]) for w in explain_lead(app, "sent@bigco.com")["followups"]] == [
        ("demo_form_abandoned", "cancelled")]
    assert [w["status"] for w in explain_lead(app, "left@bigco.com")["followups"]] == ["fired"]


def test_two_workers_at_once_send_a_follow_up_once(make_app, clock):
    from concurrent.futures import ThreadPoolExecutor

    app = make_app()
    for n in range(20):
        ingest(app, visit(f"v{n}", clock), live=True)
    apps = [make_app(), make_app()]
    with ThreadPoolExecutor(2) as pool:
        fired = list(pool.map(lambda a: sweep(a, clock() + timedelta(hours=1), deliver=False).followups, apps))
    assert sum(fired) == 20 and len(due(app)) == 20


def test_history_loaded_from_a_file_starts_no_follow_up(make_app, clock, database_url, tmp_path):
    from tests.e2e.cli import Cli

    app = make_app()
    events = tmp_path / "history.jsonl"
    events.write_text("\n".join(json.dumps(m) for _, m in visit("old", clock)) + "\n", encoding="utf-8")
    playbook = tmp_path / "f.yaml"
    playbook.write_text(app.playbook.text, encoding="utf-8")
    assert Cli(tmp_path, database_url)("--playbook", str(playbook), "ingest", str(events)).code == 0
    assert sweep(app, clock() + timedelta(days=1), deliver=False).followups == 0
    assert explain_lead(app, "old@bigco.com")["followups"] == []
