"""What notices and routing reasons say to people, found stepping the worker through a day.

- A moment in a notice's words reads to the second (`due 2026-10-01T09:05:00Z`), not to the microsecond a
  clock reading gave the deadline; the payload's own fields (`sla.due_at`) keep full precision.
- An SLA reassign that finds nobody says the lead was queued for the team, and why; the later assignment from
  the queue says it came from the queue.
- A manager's reassignment over the API names the manager, not their token's number.
- A stale recycle is dated when the lead fell due, as an SLA step is, not at the sweep that noticed it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from leadrelay.access.tokens import create_token
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import InvalidInput
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.directory import set_rep
from leadrelay.handoff.queries import route_explain
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import sweep
from tests.conftest import T0
from tests.integration.test_rep_leaves import schema_errors
from tests.scenarios import demo_request

PLAYBOOK = """
name: notice texts
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
hand_raisers: [{id: demo, when: {event: Demo Requested}, to: sal}]
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia Novak, email: mia@x.io}}]
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a}
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      warn_before: 2m
      escalation: [{after: 0m, action: notify_rep}, {after: 10m, action: reassign}]
stale: {after_days: 14, recycle: true, reason: no_response}
notifications:
  webhooks: [{id: crm, url: "http://127.0.0.1:9/hook", secret_env: LEADRELAY_TEST_SECRET}]
"""

ODD = timedelta(microseconds=609687)  # a clock reading, as a live request gets one


@pytest.fixture
def app(database_url, clock):
    clock.now = T0 + ODD
    application = bootstrap(Settings(database_url=database_url),
                            playbook=parse_playbook(PLAYBOOK, "notice-texts.yaml"), clock=clock)
    yield application
    application.close()


def notices(app, *types: str) -> list[dict]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type.in_(types))
                            .order_by(outbox.c.id)).scalars().all()
    return list(rows)


def test_notice_texts_name_deadlines_to_the_second_while_the_payload_keeps_full_precision(app, clock):
    demo_request(app, 1)  # at 09:00:00.609687: first touch due 09:05:00.609687
    for minutes in (3, 5, 15):
        sweep(app, T0 + ODD + timedelta(minutes=minutes, seconds=1), deliver=False)

    said = [(p["type"], p["data"]["why"], p["data"]["sla"]["due_at"])
            for p in notices(app, "sla.warning", "sla.breached", "sla.escalated")]
    assert said[:3] == [
        ("sla.warning", "first touch due 2026-10-01T09:05:00Z", "2026-10-01T09:05:00.609687Z"),
        ("sla.breached", "first touch missed (due 2026-10-01T09:05:00Z)", "2026-10-01T09:05:00.609687Z"),
        ("sla.escalated", "first touch missed (due 2026-10-01T09:05:00Z): step 1, notify_rep",
         "2026-10-01T09:05:00.609687Z"),
    ]
    assert all("." not in why for _, why, _ in said)


def test_an_sla_reassign_that_finds_nobody_says_the_lead_was_queued_and_the_queue_says_where_it_came_from(app,
                                                                                                             clock):
    set_rep(app, "bob", actor="user:mia", active=False)  # ann is all there is
    email = demo_request(app, 1)
    sweep(app, T0 + ODD + timedelta(minutes=5, seconds=1), deliver=False)  # ann missed her first touch
    sweep(app, T0 + ODD + timedelta(minutes=15, seconds=1), deliver=False)  # step 2: reassign, to nobody

    [queued] = [p for p in notices(app, "sla.escalated") if p["data"]["sla"]["action"] == "reassign"]
    data = queued["data"]
    assert data["why"] == ("first touch missed (due 2026-10-01T09:05:00Z): step 2, reassign: "
                           "queued for team sdr_a, nobody else could take it")
    assert (data.get("owner"), data.get("escalated_to"), data["queued_for"]) == (None, None, "sdr_a")
    assert data["previous_owner"]["id"] == "ann"
    assert schema_errors(queued) == []

    set_rep(app, "bob", actor="user:mia", active=True)
    sweep(app, T0 + timedelta(minutes=20), deliver=False)  # bob takes it from the queue
    assert explain_lead(app, email)["owner"] == "bob"
    reason = "from the queue (waiting since 2026-10-01T09:15:00Z): rule 'rest' → team sdr_a, round robin"
    last = route_explain(app, email)["decisions"][-1]
    assert (last["owner"], last["actor"], last["reason"]) == ("bob", "rule:routing.queue", reason)
    assigned = notices(app, "lead.assigned")[-1]["data"]
    assert (assigned["owner"]["id"], assigned["reason"], assigned["why"]) == ("bob", reason, reason)


def test_a_lead_queued_from_the_start_says_it_waited_since_the_handoff_opened(app, clock):
    for rep in ("ann", "bob"):
        set_rep(app, rep, actor="user:mia", active=False)
    email = demo_request(app, 1)
    set_rep(app, "ann", actor="user:mia", active=True)
    sweep(app, T0 + timedelta(minutes=2), deliver=False)
    last = route_explain(app, email)["decisions"][-1]
    assert (last["owner"], last["reason"]) == (
        "ann", "from the queue (waiting since 2026-10-01T09:00:00Z): rule 'rest' → team sdr_a, round robin")


def test_a_managers_reassignment_over_the_api_names_the_manager_not_the_token(app, clock):
    email = demo_request(app, 1)
    token, _ = create_token(app.engine, "manager", now=app.clock(), team="sdr_a")
    admin, _ = create_token(app.engine, "admin", now=app.clock(), label="Ops scripts")
    to = "bob" if explain_lead(app, email)["owner"] == "ann" else "ann"

    moved = rep_actions.reassign(app, email, actor=f"token:{token.id}", to=to)  # as the API calls it
    assert moved["reason"] == f"assigned by Mia Novak via token {token.id}"
    decision = route_explain(app, email)["decisions"][-1]
    assert (decision["actor"], decision["reason"]) == (f"token:{token.id}", moved["reason"])  # the actor stays
    assert notices(app, "lead.assigned")[-1]["data"]["why"] == moved["reason"]

    back = rep_actions.reassign(app, email, actor=f"token:{admin.id}", to="ann" if to == "bob" else "bob")
    assert back["reason"] == f"assigned by Ops scripts via token {admin.id}"


def test_a_touch_dated_in_the_future_is_refused_naming_the_at_field(app, clock):
    email = demo_request(app, 1)
    owner = explain_lead(app, email)["owner"]
    with pytest.raises(InvalidInput) as refused:
        rep_actions.log_touch(app, email, rep=owner, kind="call", outcome="voicemail",
                              at=T0 + timedelta(hours=1))
    assert str(refused.value) == "at: 2026-10-01T10:00:00Z is in the future (it is 2026-10-01T09:00:00Z)"
    with pytest.raises(InvalidInput) as early:
        rep_actions.log_touch(app, email, rep=owner, kind="call", outcome="voicemail", at=T0 - timedelta(hours=1))
    assert str(early.value) == "at: 2026-10-01T08:00:00Z is before the handoff opened (2026-10-01T09:00:00.609687Z)"


def test_a_stale_recycle_is_dated_when_the_lead_fell_due_not_at_the_sweep(app, clock):
    email = demo_request(app, 1)
    owner = explain_lead(app, email)["owner"]
    clock.advance(minutes=1)
    rep_actions.log_touch(app, email, rep=owner, kind="call", outcome="voicemail")  # at 09:01:00.609687
    fell_due = T0 + ODD + timedelta(days=14, minutes=1)
    sweep(app, fell_due + timedelta(hours=3), deliver=False)  # the worker gets to it three hours later

    [stale] = notices(app, "lead.stale")
    assert stale["data"]["why"] == "no touch since 2026-10-01T09:01:00Z"
    assert stale["timestamp"].startswith("2026-10-15T09:01:00")
    [recycled] = notices(app, "lead.recycled")
    assert recycled["timestamp"].startswith("2026-10-15T09:01:00")
    history = explain_lead(app, email)["history"][-1]
    assert (history["transition"], history["actor"], history["at"]) == ("recycle", "rule:stale",
                                                                         "2026-10-15T09:01:00.609687Z")
    with app.engine.connect() as conn:
        stale_events = conn.execute(select(h.domain_events.c.at).where(h.domain_events.c.type == "HandoffStale")
                                    ).scalars().all()
    assert [at.replace(tzinfo=None) for at in stale_events] == [fell_due.replace(tzinfo=None)]
