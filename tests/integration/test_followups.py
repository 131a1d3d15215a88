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


def test_a_form_view_arriving_after_the_demo_request_it_preceded_starts_no_follow_up(make_app, clock):
    """The browser's Form Viewed came in a later request than the server's Demo Requested, sent two minutes after
    the view: the wait it starts is answered by the request already stored (found by a user trial)."""
    app = make_app()
    ingest(app, numbered([identify(user="lou", email="lou@bigco.com", when=clock()),
                          track("Demo Requested", user="lou", when=clock() + timedelta(minutes=3))]), live=True)
    ingest(app, [("late", track("Form Viewed", user="lou", when=clock() + timedelta(minutes=1),
                                properties={"form": "demo"}))], live=True)
    assert sweep(app, clock() + timedelta(hours=1), deliver=False).followups == 0
    assert due(app) == []
    assert [w["status"] for w in explain_lead(app, "lou@bigco.com")["followups"]] == ["cancelled"]


def test_messages_sent_together_at_one_moment_are_judged_in_the_order_sent(make_app, clock):
    """An SDK stamps milliseconds: a form view and the demo request right after it may share their timestamp.
    They were judged in the order of their random message ids, and a lead who sent the form was followed up."""
    app = make_app()
    moment = clock() + timedelta(minutes=1)
    ingest(app, [("1", identify(user="bob", email="bob@bigco.com", when=clock())),
                 ("2", track("Form Viewed", user="bob", when=moment, properties={"form": "demo"}, message_id="zz")),
                 ("3", track("Demo Requested", user="bob", when=moment, message_id="aa"))], live=True)
    assert sweep(app, clock() + timedelta(hours=1), deliver=False).followups == 0
    assert [w["status"] for w in explain_lead(app, "bob@bigco.com")["followups"]] == ["cancelled"]


def test_a_lead_disqualified_while_waiting_is_not_followed_up(make_app, clock):
    """By a rule (an identify naming an unserved country: the engine cancels the wait) or by a person (the worker
    finds the lead disqualified when the wait comes due); before, followup.due went out with stage disqualified."""
    from leadrelay.lead.service import load_for_update, move_lead
    from leadrelay.lead.stages import Stage, Transition
    from leadrelay.storage.unit_of_work import UnitOfWork

    app = make_app()
    ingest(app, visit("mia", clock), live=True)
    ingest(app, [("dq", identify(user="mia", when=clock() + timedelta(minutes=5), country="Brazil"))], live=True)
    ingest(app, visit("sam", clock), live=True)
    with UnitOfWork(app, clock() + timedelta(minutes=10)) as uow:
        lead = load_for_update(uow.conn, "sam@bigco.com")
        move_lead(uow, lead, Transition.DISQUALIFY, Stage.DISQUALIFIED, actor="user:admin", reason="spam",
                  now=uow.now)
        uow.commit()
    assert sweep(app, clock() + timedelta(hours=1), deliver=False).followups == 0
    assert due(app) == []
    for email in ("mia@bigco.com", "sam@bigco.com"):
        assert [w["status"] for w in explain_lead(app, email)["followups"]] == ["cancelled"]


def test_a_follow_up_says_which_channels_the_lead_has_suppressed(make_app, clock):
    """An email tool told of a form left by a lead who unsubscribed must know not to email them."""
    app = make_app()
    ingest(app, visit("oli", clock), live=True)
    ingest(app, [("unsub", track("Email Unsubscribed", user="oli", when=clock() + timedelta(minutes=5)))], live=True)
    ingest(app, visit("ida", clock), live=True)
    sweep(app, clock() + timedelta(hours=1), deliver=False)
    suppressed = {body["data"]["lead"]["email"]: body["data"]["suppressed"] for _, body in due(app)}
    assert suppressed == {"oli@bigco.com": ["email"], "ida@bigco.com": []}
    for _, body in due(app):
        validate(body)


def test_two_leads_merged_while_each_waits_follow_the_person_up_once(make_app, clock):
    """Each side of a merge had left the demo form: the person was sent followup.due twice (a user trial)."""
    app = make_app()
    form = {"form": "demo"}
    ingest(app, numbered([identify(user="x1", email="x1@bigco.com", when=clock()),
                          track("Form Viewed", user="x1", when=clock() + timedelta(minutes=1), properties=form),
                          identify(anon="anon-x2", email="x1.home@bigco.com", when=clock()),
                          track("Form Viewed", anon="anon-x2", when=clock() + timedelta(minutes=2), properties=form)]),
           live=True)
    ingest(app, [("merge", identify(user="x1", anon="anon-x2", when=clock() + timedelta(minutes=5)))], live=True)
    assert sweep(app, clock() + timedelta(hours=1), deliver=False).followups == 1
    assert len(due(app)) == 1
    statuses = sorted(w["status"] for w in explain_lead(app, "x1@bigco.com")["followups"])
    assert statuses == ["cancelled", "fired"]
