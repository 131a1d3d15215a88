"""A hand-raiser that waited says why it waited, as it was when the hand was raised, on both databases.

A tester's lead identified with a gmail address (disqualified: webmail), requested a demo, then
gave a work email: the lead was reopened and handed to sales, but the stage history and the
`lead.assigned` webhook said "raised at ..., before the visitor identified" — she had identified;
she was disqualified then. The reason now says "while the lead was disqualified (webmail)"; a
request made while anonymous still says "before the visitor identified", even when the lead was
disqualified for a while after it.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.lead.engine import _apply_pending_hand
from leadrelay.lead.model import Lead
from leadrelay.lead.queries import explain_lead
from leadrelay.lead.stages import Stage
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage.outbox_tables import outbox
from tests.conftest import T0
from tests.messages import identify, numbered, track

PLAYBOOK = """
name: hand raiser reasons
qualification: {webmail: {disqualify: true}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc}]
reps: [{id: ann, name: Ann, email: ann@x.io, team: sdr_a}]
routing: {rules: [{id: rest, team: sdr_a}]}
notifications:
  webhooks: [{id: crm, url: "https://crm.example.com/hook", secret_env: HAND_RAISER_REASON_TEST_SECRET}]
"""
RAISED = "2026-10-01T09:05:00Z"


@pytest.fixture
def app(database_url, clock):
    application = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(PLAYBOOK, "reasons.yaml"),
                            clock=clock)
    yield application
    application.close()


def assigned_why(app) -> list[str]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type == "lead.assigned")
                            .order_by(outbox.c.id)).all()
    return [payload["data"]["why"] for (payload,) in rows]


def test_a_demo_requested_while_disqualified_as_webmail_says_so_when_the_lead_is_reopened(app):
    ingest(app, numbered([identify(user="u1", email="dana.fox@gmail.com", when=T0),
                          track("Demo Requested", user="u1", when=T0 + timedelta(minutes=5))]))
    assert explain_lead(app, "dana.fox@gmail.com")["stage"] == "disqualified"
    ingest(app, numbered([identify(user="u1", email="dana@pinecrest.io", when=T0 + timedelta(hours=1))]))

    lead = explain_lead(app, "dana@pinecrest.io")
    assert (lead["stage"], lead["owner"]) == ("sal", "ann")
    said = f"hand-raiser 'demo' (raised at {RAISED}, while the lead was disqualified (webmail))"
    assert lead["history"][-1]["reason"] == said
    assert assigned_why(app) == [said]
    assert "before the visitor identified" not in str(lead["history"])


def test_a_demo_requested_before_identifying_still_says_so_even_if_the_lead_was_disqualified_after(app):
    ingest(app, numbered([track("Demo Requested", anon="a1", when=T0 + timedelta(minutes=5)),
                          identify(anon="a1", user="u1", email="kai@gmail.com", when=T0 + timedelta(minutes=6))]))
    assert explain_lead(app, "kai@gmail.com")["stage"] == "disqualified"
    ingest(app, numbered([identify(user="u1", email="kai@corp.io", when=T0 + timedelta(hours=1))]))

    lead = explain_lead(app, "kai@corp.io")
    said = f"hand-raiser 'demo' (raised at {RAISED}, before the visitor identified)"
    assert (lead["stage"], lead["history"][-1]["reason"]) == ("sal", said)
    assert assigned_why(app) == [said]


def test_a_hand_kept_before_its_state_was_recorded_reads_as_it_did():
    """A lead stored by the release before keeps a pending hand of three items (trigger, raised, linked): then a
    hand waited only for the visitor to identify."""
    rules = parse_playbook(PLAYBOOK, "reasons.yaml").rules
    raised = (T0 + timedelta(minutes=5)).timestamp()
    lead = Lead(id=1, email="old@corp.io", stage=Stage.SUBSCRIBER, pending_hand=("demo", raised, raised))
    out: list = []
    activity = type("Activity", (), {"occurred_at": T0 + timedelta(minutes=6), "id": None})()
    _apply_pending_hand(lead, rules, raised + 60, activity, out)
    [change] = out
    assert change.reason == f"hand-raiser 'demo' (raised at {RAISED}, before the visitor identified)"


def test_a_disqualified_leads_waiting_demo_request_keeps_why_it_waited_when_merged_into_another_lead(app):
    """Regression: a merge rebuilt the waiting hand without why it waited, so it read "before the visitor
    identified"."""
    ingest(app, numbered([identify(user="u-gmail", email="lee.fox@gmail.com", when=T0),
                          track("Demo Requested", user="u-gmail", when=T0 + timedelta(minutes=5)),
                          identify(user="u-work", email="lee@pinecrest.io", when=T0 + timedelta(minutes=10))]))
    ingest(app, numbered([{"type": "alias", "previousId": "u-gmail", "userId": "u-work", "messageId": "link",
                           "timestamp": (T0 + timedelta(minutes=20)).isoformat()}]))

    lead = explain_lead(app, "lee@pinecrest.io")
    said = f"hand-raiser 'demo' (raised at {RAISED}, while the lead was disqualified (webmail))"
    assert (lead["stage"], lead["history"][-1]["reason"]) == ("sal", said)
