"""The handoff against a real database on both backends: routing, SLA timers, escalation, rep actions."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import InvalidTransition, NotFound
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.directory import set_account_owner, set_rep
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.handoff.queries import rep_queue, route_explain, suppression_list
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.reports.catalog import sla_summary
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import sweep
from tests.conftest import T0
from tests.messages import group, identify, numbered, page, track

PLAYBOOK = """
name: handoff test
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {berlin: {timezone: Europe/Berlin, hours: {mon-fri: "09:00-17:00"}}}
teams:
  - {id: sdr_a, function: sdr, calendar: berlin, manager: {name: Mia, email: mia@x.io}}
  - {id: sdr_big, function: sdr, strategy: least_loaded, calendar: berlin}
  - {id: ae, function: ae, calendar: berlin}
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a, capacity: 2}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a, capacity: 4, weight: 2}
  - {id: cat, name: Cat, email: cat@x.io, team: sdr_big}
  - {id: dan, name: Dan, email: dan@x.io, team: ae}
routing:
  rules:
    - {id: big, when: {traits.employees: {">=": 1000}}, team: sdr_big}
    - {id: rest, team: sdr_a}
    - {id: ae, team: ae}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      warn_before: 2m
      escalation: [{after: 0m, action: notify_manager}, {after: 15m, action: reassign}]
    - id: mql
      handoff: mql
      accept_within: 16h
      touches: {count: 2, within: 3d}
      escalation: [{after: 0m, action: notify_rep}, {after: 8h, action: return_to_marketing}]
stale: {after_days: 14, recycle: true, reason: no_response}
notifications:
  webhooks: [{id: crm, url: "http://127.0.0.1:9/hook", secret_env: LEADRELAY_TEST_SECRET}]
"""


@pytest.fixture
def app(database_url, clock):
    application = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(PLAYBOOK, "handoff.yaml"),
                            clock=clock)
    yield application
    application.close()


def mql(app, n: int, **traits):
    """Make lead n an MQL (at the clock's time): identify, then a pricing view."""
    now = app.clock()
    ingest(app, numbered([identify(user=f"u{n}", when=now - timedelta(seconds=1), email=f"p{n}@corp{n}.io", **traits),
                          page("/pricing", user=f"u{n}", when=now)]))
    return f"p{n}@corp{n}.io"


def rows(app, table, *where):
    with app.engine.connect() as conn:
        return conn.execute(select(table).where(*where)).all()


def owner_of(app, email):
    return explain_lead(app, email)["owner"]


def test_an_mql_is_handed_to_sdr_routed_by_weighted_round_robin_and_every_decision_is_stored(app):
    owners = [owner_of(app, mql(app, n)) for n in range(6)]
    assert owners == ["ann", "bob", "bob", "ann", "bob", "bob"]  # bob weighs 2: twice ann's share
    decision = route_explain(app, "p0@corp0.io")["decisions"][0]
    assert (decision["rule"], decision["team"], decision["owner"], decision["actor"]) == ("rest", "sdr_a", "ann",
                                                                                       "rule:routing")
    assert decision["candidates"] == [{"rep": "ann", "skipped": None}, {"rep": "bob", "skipped": None}]
    handoff = route_explain(app, "p0@corp0.io")["handoffs"][0]
    assert (handoff["kind"], handoff["from"], handoff["to"], handoff["status"], handoff["policy"]) == (
        "mql", "marketing", "sdr", "assigned", "mql")


def test_deadlines_run_on_the_owners_business_calendar(app):
    mql(app, 1)  # Thursday 11:00 in Berlin
    handoff = route_explain(app, "p1@corp1.io")["handoffs"][0]
    # 16 business hours: Thu 11-17 (6 h), Fri 9-17 (8 h), Mon 9-11 (2 h) → Monday 11:00 Berlin = 09:00 UTC.
    assert handoff["accept_due_at"] == "2026-10-05T09:00:00Z"
    assert handoff["touches_due_at"] == "2026-10-04T09:00:00Z"  # persistence counts calendar days


def test_reps_at_capacity_out_of_office_or_inactive_are_skipped_and_leads_wait_in_the_queue(app, clock):
    set_rep(app, "bob", actor="user:boss", active=False)
    assert [owner_of(app, mql(app, n)) for n in range(3)] == ["ann", "ann", None]
    candidates = route_explain(app, "p2@corp2.io")["decisions"][0]["candidates"]
    assert candidates == [{"rep": "ann", "skipped": "at capacity (2/2 open leads)"},
                          {"rep": "bob", "skipped": "inactive"}]
    set_rep(app, "bob", actor="user:boss", active=True, away=(T0.date(), T0.date() + timedelta(days=2)))
    assert sweep(app, clock(), deliver=False).still_queued == 1
    assert route_explain(app, "p2@corp2.io")["decisions"][-1]["candidates"][1] == {
        "rep": "bob", "skipped": "out of office until 2026-10-03"}
    clock.advance(days=3)
    report = sweep(app, clock(), deliver=False)
    assert (report.assigned, report.still_queued) == (1, 0)
    assert owner_of(app, "p2@corp2.io") == "bob"


def test_a_company_with_an_account_owner_goes_to_that_owner_and_rules_pick_the_team(app):
    ingest(app, numbered([identify(user="x", when=T0, email="x@acme.io"), group("acme", user="x", when=T0,
                                                                                domain="acme.io")]))
    set_account_owner(app, "acme.io", "cat", actor="user:boss")
    assert owner_of(app, mql(app, 7)) == "ann"  # another company: the rules
    ingest(app, numbered([page("/pricing", user="x", when=T0 + timedelta(minutes=1))]))
    assert owner_of(app, "x@acme.io") == "cat"
    assert route_explain(app, "x@acme.io")["decisions"][0]["rule"] == "account_owner"
    assert owner_of(app, mql(app, 8, employees=5000)) == "cat"  # rule 'big' → sdr_big


def test_routing_a_lead_reads_the_owner_of_its_own_company_only(app):
    """Issue 14 (costs that grow with the store): every routing transaction read every account owner in the
    store. Now only the owners of the companies of the leads it routes: each read finds at most the one."""
    from sqlalchemy import event

    for n in range(30):
        set_account_owner(app, f"corp{n}.io", "cat", actor="user:boss")
    set_account_owner(app, "acme.io", "cat", actor="user:boss")
    ingest(app, numbered([identify(user="x", when=T0, email="x@acme.io")]))
    reads: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        if "account_owners" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", remember)
    try:
        ingest(app, numbered([page("/pricing", user="x", when=T0 + timedelta(minutes=1))]))
    finally:
        event.remove(app.engine, "before_cursor_execute", remember)
    assert owner_of(app, "x@acme.io") == "cat"
    assert reads  # the owner was looked up
    with app.engine.connect() as conn:
        for statement, parameters in reads:
            assert len(conn.exec_driver_sql(statement, parameters).all()) <= 1, statement


def test_an_owner_named_for_a_company_not_seen_yet_makes_its_account_and_keeps_it_when_the_company_shows_up(app):
    """Issue 13 (new user): `accounts owner acme.io cat` failed unless a group call had made the account."""
    made = set_account_owner(app, "ACME.io", "cat", actor="user:boss")
    assert (made["domain"], made["name"], made["owner"]) == ("acme.io", None, "cat")
    ingest(app, numbered([identify(user="x", when=T0, email="x@acme.io"),
                          group("acme-inc", user="x", when=T0, domain="acme.io", name="Acme Inc")]))
    with app.engine.connect() as conn:  # the group call took the account over: one account, with its owner
        assert conn.execute(select(t.accounts.c.id, t.accounts.c.group_id, t.accounts.c.name)).all() == [
            (made["account"], "acme-inc", "Acme Inc")]
    ingest(app, numbered([page("/pricing", user="x", when=T0 + timedelta(minutes=1))]))
    assert owner_of(app, "x@acme.io") == "cat"
    with pytest.raises(NotFound, match="no account 'acme'"):
        set_account_owner(app, "acme", "cat", actor="user:boss")  # not a domain: nothing is made


def test_a_demo_request_warns_breaches_and_escalates_on_the_wall_clock(app, clock):
    mql(app, 1)
    ingest(app, numbered([track("Demo Requested", user="u1", when=clock())]))
    assert explain_lead(app, "p1@corp1.io")["stage"] == "sal"
    clock.advance(minutes=3)
    assert dict(sweep(app, clock(), deliver=False).timers) == {"warning": 1}
    clock.advance(minutes=2)
    assert dict(sweep(app, clock(), deliver=False).timers) == {"breach": 1, "escalation:notify_manager": 1}
    clock.advance(minutes=15)
    assert dict(sweep(app, clock(), deliver=False).timers) == {"escalation:reassign": 1}
    assert owner_of(app, "p1@corp1.io") == "bob"
    explained = route_explain(app, "p1@corp1.io")
    assert explained["decisions"][-1]["candidates"][0] == {"rep": "ann", "skipped": "current owner"}
    assert explained["decisions"][-1]["actor"] == "rule:sla.demo"
    # bob takes over the breached clock and whatever steps remain (none here): no fresh deadline
    assert explained["handoffs"][0]["first_touch_due_at"] == "2026-10-01T09:05:00Z"
    assert sweep(app, clock(), deliver=False).timers == {}  # idempotent
    types = [r.event_type for r in rows(app, outbox)]
    assert {"lead.mql", "lead.handoff_opened", "lead.assigned", "sla.warning", "sla.breached",
            "sla.escalated"} <= set(types)


def test_accepting_meets_the_deadline_and_touches_meet_persistence(app, clock):
    email = mql(app, 1)
    clock.advance(hours=2)
    result = rep_actions.accept(app, email, rep="ann")
    assert result["stage"] == "sal"
    rep_actions.log_touch(app, email, rep="ann", kind="call", outcome="voicemail")
    rep_actions.log_touch(app, email, rep="ann", kind="email", outcome="replied")
    clock.advance(days=10)
    assert dict(sweep(app, clock(), deliver=False).timers) == {}
    assert sla_summary(app)["sales"] == [
        {"policy": "mql", "deadline": "accept", "due": 1, "met": 1, "breached": 0, "pending": 0,
         "closed_before_due": 0, "compliance": 1.0},
        {"policy": "mql", "deadline": "touches", "due": 1, "met": 1, "breached": 0, "pending": 0,
         "closed_before_due": 0, "compliance": 1.0}]


def test_an_unaccepted_mql_breaches_then_returns_to_marketing(app, clock):
    email = mql(app, 1)
    clock.advance(days=6)  # a worker that was down catches up, in order
    report = sweep(app, clock(), deliver=False)
    # The list ladder belongs to the accept clock; the touches clock only records its breach.
    assert dict(report.timers) == {"breach": 2, "escalation:notify_rep": 1, "escalation:return_to_marketing": 1}
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["owner"], lead["history"][-1]["actor"], lead["history"][-1]["reason"]) == (
        "lead", None, "rule:sla.mql", "sla_breached")


def test_only_the_owner_acts_and_a_recycle_goes_back_to_nurture_lifting_the_suppression(app, clock):
    email = mql(app, 1)
    assert [s["channel"] for s in suppression_list(app, "email")] == ["email"]
    with pytest.raises(InvalidTransition, match="is owned by ann, not bob"):
        rep_actions.accept(app, email, rep="bob")
    rep_actions.accept(app, email, rep="ann")
    result = rep_actions.recycle(app, email, rep="ann", reason="not_ready")
    assert (result["to"], result["owner"]) == ("lead", None)
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["segment"]) == ("lead", "recycled")
    assert suppression_list(app, "email") == []
    handoffs = route_explain(app, email)["handoffs"]
    assert [(x["kind"], x["status"], x["outcome"]) for x in handoffs] == [
        ("mql", "closed", "recycled"), ("recycle", "closed", "returned")]
    assert rep_queue(app, "ann") == []


def test_unsubscribes_are_permanent_suppressions_that_a_recycle_does_not_lift(app):
    email = mql(app, 1)
    ingest(app, numbered([track("Email Unsubscribed", user="u1", when=T0 + timedelta(minutes=5))]))
    rep_actions.recycle(app, email, rep="ann", reason="no_response")
    assert [(s["channel"], s["reason"], s["permanent"]) for s in suppression_list(app)] == [
        ("email", "unsubscribed", True)]


def test_a_lead_nobody_touches_for_two_weeks_is_recycled_as_stale(app, clock):
    email = mql(app, 1)
    rep_actions.accept(app, email, rep="ann")
    rep_actions.log_touch(app, email, rep="ann", kind="call", outcome="no_answer")
    rep_actions.log_touch(app, email, rep="ann", kind="email", outcome="sent")
    clock.advance(days=15)
    assert sweep(app, clock(), deliver=False).stale == 1
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["segment"], lead["history"][-1]["actor"]) == ("lead", "recycled", "rule:stale")


def test_a_manager_reassigns_and_the_queue_is_most_urgent_first(app, clock):
    first = mql(app, 1)
    clock.advance(minutes=1)
    second = mql(app, 2)
    ingest(app, numbered([track("Demo Requested", user="u2", when=clock())]))
    rep_actions.reassign(app, first, actor="user:mia", to="bob")
    assert [q["email"] for q in rep_queue(app, "bob")] == [second, first]  # the demo request is due first
    with app.engine.connect() as conn:
        open_count = conn.scalar(select(func.count()).select_from(h.handoffs)
                                 .where(h.handoffs.c.status.in_(OWNED_STATUSES)))
    assert open_count == 2


def test_the_outbox_row_is_written_in_the_same_transaction_as_the_handoff(app):
    mql(app, 1)
    assigned = [r for r in rows(app, outbox) if r.event_type == "lead.assigned"]
    assert len(assigned) == 1 and assigned[0].target == "crm"
    assert assigned[0].payload["data"]["owner"] == {"id": "ann", "name": "Ann", "email": "ann@x.io"}


def test_playbook_mistakes_in_the_handoff_sections_are_reported_with_lines():
    from leadrelay.core.errors import InvalidPlaybook

    broken = PLAYBOOK.replace("- {id: ae, team: ae}", "- {id: ae, team: ae}\n    - {id: late, team: sdr_a}") \
        .replace("{id: rest, team: sdr_a}", "{id: rest, team: sdr_a}\n    - {id: ghost, rep: zed}") \
        .replace("- {id: ae, function: ae, calendar: berlin}", "- {id: ae, function: ae, calendar: berlin}\n"
                 "  - {id: empty, function: ae, calendar: berlin}") \
        .replace("first_touch_within: 5m", "first_touch_within: -5m")
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(broken, "broken.yaml")
    assert info.value.issues == ["broken.yaml:33: sla.policies[0].first_touch_within: duration must be positive: '-5m'"]
    broken = broken.replace("first_touch_within: -5m", "first_touch_within: 5m")
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(broken, "broken.yaml")
    assert info.value.issues == [
        "broken.yaml:15: teams[3]: team 'empty' has no members: no rep names it as `team`",
        "broken.yaml:25: routing.rules[2].rep: unknown rep 'zed'",
        "broken.yaml:27: routing.rules[4]: rule 'late' can never match: the catch-all 'rest' before it takes "
        "every sdr lead",
    ]


def test_the_queue_shows_the_nearest_deadline_whose_work_is_not_done_with_met_marks(app, clock):
    done = mql(app, 1)
    rep = owner_of(app, done)
    rep_actions.accept(app, done, rep=rep)
    waiting = mql(app, 2)
    if owner_of(app, waiting) != rep:
        rep_actions.reassign(app, waiting, actor="user:mia", to=rep)
    queue = [(q["email"], q) for q in rep_queue(app, rep)]
    assert [email for email, _ in queue] == [done, waiting]  # touches due in 3 days, before Monday's accept
    accepted, unaccepted = queue[0][1], queue[1][1]
    assert [(d["name"], d["met"]) for d in accepted["deadlines"]] == [("touches", False), ("accept", True)]
    assert accepted["next_due_at"] == accepted["touches_due_at"]
    assert unaccepted["next_due_at"] == unaccepted["touches_due_at"]  # nearest of the two it has to meet
    for kind in ("call", "email"):
        rep_actions.log_touch(app, done, rep=rep, kind=kind, outcome="sent")
    clock.advance(days=5)  # past the unaccepted lead's deadline; the other's work is all done
    queue = rep_queue(app, rep)
    assert [(q["email"], q["state"], q["next_due_at"]) for q in queue] == [
        (waiting, "breached", unaccepted["touches_due_at"]), (done, "on_time", None)]
    assert all(d["met"] for d in queue[-1]["deadlines"])
