"""An SLA ladder's return to marketing is `lead.returned`, not a rep's `lead.rejected`: a CRM can tell them apart.

Before, the ladder's `return_to_marketing` went out as `lead.rejected` ("returned to marketing:
sla_breached"), the event a rep's rejection sends, and `lead.returned` — an accepted event type —
was never sent. Returns are announced as `lead.returned` only: a webhook that lists `lead.rejected`
and not `lead.returned` no longer hears of them (the README says so).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.delivery.webhook import generate_secret
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.worker import sweep
from tests.integration.test_delivery import Receiver
from tests.integration.test_rep_leaves import schema_errors
from tests.messages import identify, numbered, page
from tests.scenarios import demo_request

SECRET_ENV = "SLA_RETURNS_TEST_SECRET"  # not LEADRELAY_*
ANN = {"id": "ann", "name": "Ann", "email": "ann@x.io"}

PLAYBOOK = """
name: sla returns
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}, to: sal}]
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}]
reps: [{id: ann, name: Ann, email: ann@x.io, team: sdr_a}]
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      escalation: [{after: 0m, action: notify_rep}, {after: 30m, action: return_to_marketing}]
stale: {after_days: 14, recycle: true, reason: no_response}
notifications:
  webhooks:
    - {id: crm, url: "%(base)s/crm", secret_env: SLA_RETURNS_TEST_SECRET}
    - {id: rejections, url: "%(base)s/rejections", secret_env: SLA_RETURNS_TEST_SECRET, events: [lead.rejected]}
    - {id: returns, url: "%(base)s/returns", secret_env: SLA_RETURNS_TEST_SECRET, events: [lead.returned]}
"""


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
    base = receiver.url("")
    application = bootstrap(Settings(database_url=database_url),
                            playbook=parse_playbook(PLAYBOOK % {"base": base}, "returns.yaml"), clock=clock)
    yield application
    application.close()


def got(receiver, path: str, *types: str) -> list[dict]:
    return [body for body in (r.json() for r in receiver.got(path)) if not types or body["type"] in types]


BACK = ("lead.rejected", "lead.recycled", "lead.returned")


def test_an_sla_return_to_marketing_is_announced_as_lead_returned_with_the_reason_and_the_step(app, receiver, clock):
    email = demo_request(app, 1)
    clock.advance(minutes=6)
    sweep(app, clock())  # ann missed her first touch: the ladder starts
    clock.advance(minutes=30)
    sweep(app, clock())  # step 2 returns the lead to marketing

    [returned] = got(receiver, "/crm", *BACK)
    data = returned["data"]
    assert returned["type"] == "lead.returned"
    assert (data["reason"], data["returned_by"], data["transition"], data["actor"], data["from_stage"]) == (
        "sla_breached", "sla", "reject", "rule:sla.demo", "sal")
    assert data["sla"] == {"policy": "demo", "deadline": "first_touch", "due_at": "2026-10-01T09:05:00Z",
                           "step": 2, "action": "return_to_marketing"}
    assert data["previous_owner"] == ANN
    assert data["why"] == ("returned to marketing: first touch missed (due 2026-10-01T09:05:00Z): step 2, "
                           "return_to_marketing")
    assert schema_errors(returned) == []
    assert [b["type"] for b in got(receiver, "/returns")] == ["lead.returned"]
    assert got(receiver, "/rejections") == []  # a return is not a rejection, even for a rejections-only hook
    # The stage history keeps what the move was: a reject by the SLA rule, with its reason.
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["owner"]) == ("lead", None)
    assert (lead["history"][-1]["transition"], lead["history"][-1]["actor"], lead["history"][-1]["reason"]) == (
        "reject", "rule:sla.demo", "sla_breached")


def test_a_reps_rejection_stays_lead_rejected(app, receiver, clock):
    email = demo_request(app, 1)
    rep_actions.reject(app, email, rep="ann", reason="bad_fit")
    sweep(app, clock())

    [rejected] = got(receiver, "/crm", *BACK)
    assert rejected["type"] == "lead.rejected"
    assert (rejected["data"]["actor"], rejected["data"]["reason"]) == ("user:ann", "bad_fit")
    assert "returned_by" not in rejected["data"]
    assert schema_errors(rejected) == []
    assert [b["type"] for b in got(receiver, "/rejections")] == ["lead.rejected"]
    assert got(receiver, "/returns") == []


def test_a_stale_recycle_stays_lead_recycled_by_the_stale_rule(app, receiver, clock):
    """The stale check recycles, as the playbook says (back to nurture, segment recycled): `lead.recycled`, which
    nurture tools listen for, with the stale rule as its actor; `lead.stale` says why just before."""
    now = clock()
    ingest(app, numbered([identify(user="u1", when=now - timedelta(seconds=1), email="p1@corp1.io"),
                          page("/pricing", user="u1", when=now)]))
    rep_actions.accept(app, "p1@corp1.io", rep="ann")
    clock.advance(days=15)
    sweep(app, clock())

    said = [(b["type"], b["data"].get("actor")) for b in got(receiver, "/crm", "lead.stale", *BACK)]
    assert said == [("lead.stale", None), ("lead.recycled", "rule:stale")]
    assert got(receiver, "/returns") == []
