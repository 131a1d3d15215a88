"""Every notification the engine writes has its event type's documented shape (docs/notifications.schema.json)."""

import json
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.delivery.payloads import DATA, notification_schema, validate
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.service import change_stage
from leadrelay.lead.stages import Transition
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import sweep
from tests.integration.test_handoff import app, mql  # noqa: F401 - the handoff test's playbook and fixture
from tests.messages import numbered, track

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "notifications.schema.json"


def test_the_published_schema_is_the_one_the_code_describes():
    assert json.loads(SCHEMA.read_text()) == json.loads(json.dumps(notification_schema())), (
        "docs/notifications.schema.json is out of date: regenerate it from leadrelay.delivery.payloads")


def test_every_notice_of_a_working_day_matches_its_documented_shape(app, clock):  # noqa: F811
    accepted, demo, recycled, dropped, stale = (mql(app, n) for n in range(1, 6))
    ingest(app, numbered([track("Demo Requested", user="u2", when=clock())]))
    rep_actions.accept(app, accepted, rep="ann")
    rep_actions.accept(app, stale, rep=_owner(app, stale))
    rep_actions.recycle(app, recycled, rep=_owner(app, recycled), reason="not_ready")
    change_stage(app, dropped, Transition.DISQUALIFY, reason="competitor", actor="user:mia")
    for minutes in (3, 5, 20):
        clock.advance(minutes=minutes)
        sweep(app, clock(), deliver=False)
    clock.advance(days=15)
    sweep(app, clock(), deliver=False)
    with app.engine.connect() as conn:
        payloads = [row.payload for row in conn.execute(select(outbox).order_by(outbox.c.id))]
    for payload in payloads:
        validate(payload)
        assert payload["data"]["why"]
    seen = Counter(p["type"] for p in payloads)
    elsewhere = {"lead.rejected", "lead.returned", "alert.fired", "followup.due", "lead.pql", "opportunity.opened",
                 "opportunity.changed", "opportunity.won", "opportunity.lost",
                 "meeting.booked", "meeting.rescheduled", "meeting.held",
                 "meeting.no_show", "meeting.canceled"}  # test_alerts, test_followups, test_deal_events, test_meetings,
    # test_sla_returns and test_rep_leaves (which checks every payload against the JSON Schema file itself)
    assert set(DATA) - set(seen) <= elsewhere, f"not exercised: {set(DATA) - set(seen)}"


def _owner(application, email):
    from leadrelay.lead.queries import explain_lead

    return explain_lead(application, email)["owner"]
