"""A rep removed from the playbook: their open leads go back to routing, and no payload names them as a bare id.

The tester's story, on both databases: a demo request went to tom; a version without tom was
activated; the worker went on breaching and escalating tom's lead to tom, with `"owner": "tom"`
(a string, where the published schema says a Person object), and only the ladder's reassign
step, 45 minutes later, moved the lead. A lead with no ladder stayed tom's for good.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.queries import route_explain
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.playbook.service import activate
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import SweepReport, fire_timers, run, sweep
from tests.integration.test_delivery import Receiver
from tests.messages import numbered, page
from tests.scenarios import demo_request
from tests.scenarios import pricing_visit as mql

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "notifications.schema.json").read_text())
SECRET_ENV = "REP_LEAVES_TEST_SECRET"  # not LEADRELAY_*
GONE = {"id": "tom", "name": None, "email": None}
REASON = "rep tom is no longer in the playbook"

PLAYBOOK = """
name: reps leave
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}, to: sal}]
alerts: [{id: case_study, description: Read a case study, when: {path: {starts with: /customers/}}, rearm: crossing}]
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}]
reps:
%(tom)s  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a, active: %(ann_active)s, capacity: %(ann_capacity)s}
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      warn_before: 2m
      escalation: [{after: 0m, action: notify_rep}, {after: 45m, action: reassign},
                   {after: 60m, action: return_to_marketing}]
notifications:
  webhooks: [{id: crm, url: "%(url)s", secret_env: REP_LEAVES_TEST_SECRET}]
"""
TOM = "  - {id: tom, name: Tom Reyes, email: tom@x.io, team: sdr_a}\n"


def text(url: str, *, tom: bool, ann_active: bool = False, ann_capacity: int = 10) -> str:
    return PLAYBOOK % {"tom": TOM if tom else "", "ann_active": str(ann_active).lower(),
                       "ann_capacity": ann_capacity, "url": url}


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, generate_secret())


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def app(database_url, clock, receiver):
    """The API's App: tom and ann on the team, ann not taking leads yet, so tom gets everything."""
    application = bootstrap(Settings(database_url=database_url),
                            playbook=parse_playbook(text(receiver.url("/crm"), tom=True), "v1.yaml"), clock=clock)
    activate(application, application.playbook.text, actor="user:maria", filename="v1.yaml")
    yield application
    application.close()


def without_tom(app, receiver, **ann) -> str:
    """Activate the version without tom (ann now takes leads), as the API or the web ops page does."""
    return activate(app, text(receiver.url("/crm"), tom=False, ann_active=True, **ann), actor="user:maria",
                    filename="v2.yaml")


def payloads(app) -> list[dict]:
    with app.engine.connect() as conn:
        return [row.payload for row in conn.execute(select(outbox.c.payload).order_by(outbox.c.id))]


def schema_errors(payload: dict) -> list[str]:
    """What in `payload` breaks docs/notifications.schema.json, checked against its event type's own variant."""
    variant = SCHEMA["discriminator"]["mapping"].get(payload.get("type"))
    if variant is None:
        return [f"no variant for event type {payload.get('type')!r}"]
    validator = jsonschema_rs.validator_for({"$ref": variant, "$defs": SCHEMA["$defs"]})
    return [f"{payload['type']}: {error.message} at {list(error.instance_path)}"
            for error in validator.iter_errors(payload)]


def people_named(payload: dict) -> dict[str, object]:
    data = payload["data"]
    return {key: data[key] for key in ("owner", "escalated_to", "previous_owner", "host") if key in data}


def test_a_removed_reps_open_leads_are_handed_back_to_routing_with_the_reason(app, receiver, clock):
    demo = demo_request(app, 1)
    clock.advance(minutes=1)
    nurtured = mql(app, 2)  # no SLA policy for MQLs here: no ladder would ever move it
    assert [explain_lead(app, e)["owner"] for e in (demo, nurtured)] == ["tom", "tom"]

    clock.advance(minutes=1)
    without_tom(app, receiver, ann_capacity=1)  # ann can take one of tom's two leads
    report = sweep(app, clock(), deliver=False)

    assert report.handed_back == 2
    assert explain_lead(app, demo)["owner"] == "ann"  # the older handoff first
    assert explain_lead(app, nurtured)["owner"] is None  # nobody else can take it now: it waits in the queue
    assert route_explain(app, nurtured)["handoffs"][0]["status"] == "queued"
    for email in (demo, nurtured):
        decision = route_explain(app, email)["decisions"][-1]
        assert decision["reason"].startswith(REASON + ": ")  # the stored reason says why it moved
        assert decision["actor"] == "rule:playbook.reps"
    with app.engine.connect() as conn:
        events = conn.execute(select(h.domain_events.c.type, h.domain_events.c.data).where(
            h.domain_events.c.type.in_(["LeadAssigned", "LeadQueued"])).order_by(h.domain_events.c.id)).all()
    assert [(e.type, e.data["previous_owner"]) for e in events[-2:]] == [("LeadAssigned", "tom"),
                                                                         ("LeadQueued", "tom")]
    assert all(e.data["reason"].startswith(REASON) for e in events[-2:])
    [assigned] = [p for p in payloads(app) if p["type"] == "lead.assigned" and p["data"]["owner"]["id"] == "ann"]
    assert (assigned["data"]["previous_owner"], assigned["data"]["why"]) == (GONE, REASON)

    # ann has a fresh clock (tom's deadlines were his); nobody is told anything about tom again.
    assert sweep(app, clock(), deliver=False).handed_back == 0  # idempotent
    seen = len(payloads(app))
    clock.advance(minutes=6)  # ann's five minutes are over
    sweep(app, clock(), deliver=False)
    clock.advance(hours=2)  # ann's ladder runs to its end: the lead goes back to marketing, ann gets the other
    sweep(app, clock(), deliver=False)
    later = payloads(app)[seen:]
    assert [(p["type"], p["data"].get("owner", {}).get("id")) for p in later] == [
        ("sla.breached", "ann"), ("sla.escalated", "ann"), ("lead.returned", None), ("sla.escalated", None),
        ("lead.assigned", "ann")]  # the reassign at 09:52 queued it (ann missed it); the return overtook that
    assert not [p for p in later if "tom" in json.dumps(people_named(p))]
    assert explain_lead(app, nurtured)["owner"] == "ann"  # from the queue, once she had room


def test_a_worker_hands_back_the_removed_reps_lead_before_it_fires_their_timers(app, receiver, clock, database_url):
    """The tester's timeline: the demo request at 09:00 to tom, tom removed at 09:02, the worker at 09:06."""
    demo = demo_request(app, 1)
    clock.advance(minutes=2)
    without_tom(app, receiver)
    clock.advance(minutes=4)  # past tom's first-touch deadline (09:05)
    worker_app = bootstrap(Settings(database_url=database_url),
                           playbook=parse_playbook(text(receiver.url("/crm"), tom=True), "v1.yaml"), clock=clock)
    try:
        run(worker_app, once=True)  # `leadrelay worker --once`: follows the activation, then sweeps and delivers
    finally:
        worker_app.close()

    assert explain_lead(app, demo)["owner"] == "ann"
    received = [r.json() for r in receiver.got("/crm")]
    sent_after = [p for p in received if p["timestamp"] > "2026-10-01T09:02:00Z"]
    assert [p["type"] for p in sent_after] == ["lead.assigned"]  # no breach or escalation to tom
    assert sent_after[0]["data"]["previous_owner"] == GONE
    assert explain_lead(app, demo)["owner"] == "ann"
    handoff = route_explain(app, demo)["handoffs"][0]
    assert handoff["first_touch_due_at"] == "2026-10-01T09:11:00Z"  # ann's own five minutes
    for payload in received:
        assert schema_errors(payload) == []


def test_a_lead_of_a_rep_no_longer_in_the_playbook_is_still_described_by_a_person_object(app, receiver, clock):
    """Before the worker's next sweep the lead is still tom's: what is said about it meanwhile keeps the shape."""
    demo = demo_request(app, 1)
    clock.advance(minutes=2)
    without_tom(app, receiver)
    ingest(app, numbered([page("/customers/acme", user="u1", when=clock())]))  # the API hears from the lead
    clock.advance(minutes=4)
    fire_timers(app, clock(), SweepReport())  # timers due before any hand-back ran
    assert explain_lead(app, demo)["owner"] == "tom"

    said = payloads(app)
    about_tom = [p for p in said if p["type"] in ("alert.fired", "sla.breached", "sla.escalated")]
    assert [p["type"] for p in about_tom] == ["alert.fired", "sla.breached", "sla.escalated"]
    for payload in about_tom:
        assert payload["data"]["owner"] == GONE
    assert about_tom[-1]["data"]["escalated_to"] == GONE  # notify_rep
    for payload in said:
        assert schema_errors(payload) == []


def test_every_payload_of_a_working_day_keeps_to_the_published_json_schema(app, receiver, clock):
    """Real payloads, as a receiver gets them, checked against the JSON Schema file (not the models behind it)."""
    ann = demo_request(app, 1)
    rejected, recycled, accepted = (mql(app, n) for n in (2, 3, 4))
    rep_actions.reject(app, rejected, rep="tom", reason="bad_fit")
    rep_actions.recycle(app, recycled, rep="tom", reason="not_ready")
    rep_actions.accept(app, accepted, rep="tom")
    ingest(app, numbered([page("/customers/acme", user="u4", when=clock())]))
    clock.advance(minutes=2)
    without_tom(app, receiver, ann_capacity=2)
    for minutes in (1, 3, 5, 45, 60, 120):
        clock.advance(minutes=minutes)
        sweep(app, clock())
    received = [r.json() for r in receiver.got("/crm")]
    assert len(received) == len(payloads(app)) > 10
    assert explain_lead(app, ann)["stage"] == "lead"  # ann's own ladder ran to its end
    problems = [problem for payload in received for problem in schema_errors(payload)]
    assert problems == []
