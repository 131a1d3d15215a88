"""The handoff bugs that a new user found, each fixed by the handoff model and held here on both databases.

Every test is named for the behaviour it protects: ladders that run to their end, reassignments
that never go back to the rep who breached, a worker catching up without stale alerts, separate
ladders per clock, rescore and late identification going through the same handoff, loaded
history that alerts nobody, customers back in marketing's channels, and reassignment by team.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadrelay.activity.rescore import rescore
from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import InvalidInput, InvalidTransition
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.desk import desk_of
from leadrelay.handoff.queries import route_explain, suppression_list
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.queries import explain_lead
from leadrelay.lead.service import load_for_update, move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.playbook.loader import parse_playbook, starter_playbook
from leadrelay.sales import service as opps
from leadrelay.sales.qualify import advance_to_sql, record_answers
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.outbox_tables import outbox
from leadrelay.storage.unit_of_work import UnitOfWork
from leadrelay.worker import sweep
from tests.conftest import T0
from tests.fakes import World
from tests.messages import identify, numbered, page, track
from tests.unit.test_handoff_ladders import PLAYBOOK as LADDERS

PLAYBOOK = """
name: handoff model
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": %(fit)s}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC, hours: {mon-sun: "00:00-24:00"}}}
teams:
  - {id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}
  - {id: ae, function: ae, calendar: utc}
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a, active: %(bob_active)s}
  - {id: dan, name: Dan, email: dan@x.io, team: ae}
routing:
  rules: [{id: rest, team: sdr_a}, {id: ae, team: ae}]
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      escalation:
        - {after: 0m, action: notify_rep}
        - {after: 10m, action: reassign}
        - {after: 30m, action: return_to_marketing}
    - id: mql
      handoff: mql
      clock: wall
      accept_within: 1h
      touches: {count: 3, within: 2d}
      escalation:
        - {after: 0m, action: notify_rep}
        - {after: 2h, action: return_to_marketing}
%(extra)s
notifications:
  webhooks: [{id: crm, url: "http://127.0.0.1:9/hook", secret_env: LEADRELAY_TEST_SECRET}]
"""


def make_app(database_url, clock, *, fit=50, bob_active="true", extra=""):
    text = PLAYBOOK % {"fit": fit, "bob_active": bob_active, "extra": extra}
    return bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "model.yaml"), clock=clock)


@pytest.fixture
def app(database_url, clock):
    application = make_app(database_url, clock)
    yield application
    application.close()


def demo_request(app, n: int = 1) -> str:
    now = app.clock()
    email = f"p{n}@corp{n}.io"
    ingest(app, numbered([identify(user=f"u{n}", when=now - timedelta(seconds=2), email=email, first_name="Pat",
                                   title="VP Sales", company=f"Corp {n}"),
                          track("Demo Requested", user=f"u{n}", when=now - timedelta(seconds=1))]))
    return email


def with_aes(text: str, *names: str) -> str:
    """The playbook text with more AEs beside dan (`eve` -> {id: eve, name: Eve, email: eve@x.io, team: ae})."""
    dan = "  - {id: dan, name: Dan, email: dan@x.io, team: ae}"
    more = "".join(f"\n  - {{id: {n}, name: {n.title()}, email: {n}@x.io, team: ae}}" for n in names)
    return text.replace(dan, dan + more)


def qualify_to_sql(app, email: str, *, sdr: str) -> str:
    """The SDR qualifies the lead (BANT, a meeting booked) and passes it to sales; the AE who gets it."""
    record_answers(app, email, [("budget", "yes"), ("authority", "decision_maker"), ("need", "critical"),
                                ("timeline", "2027-01-15")], rep=sdr)
    rep_actions.log_touch(app, email, rep=sdr, kind="call", outcome="meeting_booked")
    return advance_to_sql(app, email, rep=sdr)["owner"]


def owners(app, email: str) -> list:
    return [d["owner"] for d in route_explain(app, email)["decisions"]]


def messages(app, *types: str) -> list:
    with app.engine.connect() as conn:
        found = conn.execute(select(outbox).order_by(outbox.c.id)).all()
    return [m for m in found if not types or m.event_type in types]


def events(app, *types: str) -> list:
    with app.engine.connect() as conn:
        found = conn.execute(select(h.domain_events).order_by(h.domain_events.c.id)).all()
    return [e for e in found if not types or e.type in types]


def test_an_escalation_ladder_runs_to_its_end_and_returns_the_lead_to_marketing(app, clock):
    email = demo_request(app)
    assert explain_lead(app, email)["owner"] == "ann"
    for minutes in (5, 10, 15, 20, 25, 30, 35, 40, 60):  # a worker sweeping through the whole ladder
        clock.now = T0 + timedelta(minutes=minutes)
        sweep(app, clock(), deliver=False)
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["owner"], lead["history"][-1]["reason"]) == ("lead", None, "sla_breached")
    assert owners(app, email) == ["ann", "bob"]  # one reassignment, never back and forth
    handoff = route_explain(app, email)["handoffs"][0]
    assert (handoff["status"], handoff["outcome"]) == ("closed", "rejected")
    assert [(e.data["step"], e.data["action"]) for e in events(app, "Escalated")] == [
        (1, "notify_rep"), (2, "reassign"), (3, "return_to_marketing")]


def test_a_reassign_never_hands_the_lead_back_to_the_rep_who_breached(database_url, clock):
    app = make_app(database_url, clock, bob_active="false")  # nobody but ann can take it
    try:
        email = demo_request(app)
        clock.now = T0 + timedelta(minutes=15)
        sweep(app, clock(), deliver=False)  # breach, notify, reassign: queued, and the queue must not pick ann
        clock.now = T0 + timedelta(minutes=20)
        sweep(app, clock(), deliver=False)
        lead = explain_lead(app, email)
        assert lead["owner"] is None
        explained = route_explain(app, email)
        assert explained["handoffs"][0]["status"] == "queued"
        assert [d["candidates"] for d in explained["decisions"][1:]] == [
            [{"rep": "ann", "skipped": "current owner"}, {"rep": "bob", "skipped": "inactive"}],  # the reassign
            [{"rep": "ann", "skipped": "missed this lead's SLA before"}, {"rep": "bob", "skipped": "inactive"}],
        ]  # the queue tried once, and stores nothing new while nothing changes
        assert len(messages(app, "lead.assigned")) == 1  # ann's first assignment only: no churn
        clock.now = T0 + timedelta(minutes=40)
        sweep(app, clock(), deliver=False)
        assert explain_lead(app, email)["stage"] == "lead"  # the ladder still ended
    finally:
        app.close()


def test_a_worker_catching_up_never_alerts_about_a_lead_a_later_step_moved(app, clock):
    email = demo_request(app)
    sent_before = len(messages(app))
    clock.now = T0 + timedelta(hours=2)  # the worker was down through the whole ladder
    report = sweep(app, clock(), deliver=False)
    assert report.timers["escalation:reassign"] == 1 and report.timers["escalation:return_to_marketing"] == 1
    assert owners(app, email) == ["ann", "bob"]
    new = [(m.event_type, m.payload["data"].get("reason")) for m in messages(app)[sent_before:]]
    assert ("lead.assigned", "rule 'rest' → team sdr_a, round robin") not in new  # bob is not told
    assert not [t for t, _ in new if t in ("sla.breached", "sla.warning")]
    assert ("sla.escalated", "return_to_marketing") in new
    assert report.silenced >= 3
    reassigned = events(app, "LeadAssigned")[-1]
    assert (reassigned.data["owner"], reassigned.at) == ("bob", T0 + timedelta(minutes=14, seconds=59))


def test_missing_the_touch_target_does_not_take_an_accepted_lead_away(app, clock):
    ingest(app, numbered([identify(user="u1", when=T0, email="p1@corp1.io"), page("/pricing", user="u1", when=T0)]))
    email = "p1@corp1.io"
    clock.advance(minutes=30)
    rep_actions.accept(app, email, rep="ann")
    rep_actions.log_touch(app, email, rep="ann", kind="call", outcome="no_answer")
    clock.advance(days=5)
    report = sweep(app, clock(), deliver=False)
    assert dict(report.timers) == {"breach": 1}  # the touches clock has no ladder of its own here
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["owner"]) == ("sal", "ann")


def test_rescore_hands_new_mqls_over_and_takes_disqualified_leads_back(database_url, clock):
    strict = make_app(database_url, clock, fit=70)  # nobody is an MQL at 60 fit points
    ingest(strict, numbered([identify(user="u1", when=T0, email="p1@corp1.io"), page("/pricing", user="u1", when=T0)]))
    assert explain_lead(strict, "p1@corp1.io")["stage"] == "subscriber"
    strict.close()
    lowered = make_app(database_url, clock, fit=50)
    try:
        report = rescore(lowered)
        assert (report.moves["mql"], report.handoffs_opened) == (1, 1)
        lead = explain_lead(lowered, "p1@corp1.io")
        assert (lead["stage"], lead["owner"]) == ("mql", "ann")
        assert [s["channel"] for s in suppression_list(lowered, "email")] == ["email"]
        assert [m.event_type for m in messages(lowered, "lead.mql", "lead.assigned")] == ["lead.mql", "lead.assigned"]
        rep_actions.reassign(lowered, "p1@corp1.io", actor="user:mia")  # the handoff is a real one
    finally:
        lowered.close()


def test_a_rescore_that_disqualifies_a_lead_takes_it_from_its_owner_and_lifts_the_suppression(database_url, clock):
    app = make_app(database_url, clock)
    ingest(app, numbered([identify(user="u1", when=T0, email="p1@corp1.io"), page("/pricing", user="u1", when=T0)]))
    assert explain_lead(app, "p1@corp1.io")["owner"] == "ann"
    app.close()
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "qualification: {webmail: {disqualify: false}}",
        "qualification: {webmail: {disqualify: false}, rules: [{id: rival, when: {company_domain: corp1.io}, "
        "reason: competitor}]}")
    stricter = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "model.yaml"), clock=clock)
    try:
        rescore(stricter)
        lead = explain_lead(stricter, "p1@corp1.io")
        assert (lead["stage"], lead["owner"]) == ("disqualified", None)
        assert suppression_list(stricter, "email") == []
        assert route_explain(stricter, "p1@corp1.io")["handoffs"][0]["outcome"] == "disqualified"
    finally:
        stricter.close()


def test_a_demo_request_made_before_identifying_hands_the_lead_over_once(app, clock):
    ingest(app, numbered([track("Demo Requested", anon="a1", when=T0)]))
    ingest(app, numbered([identify(anon="a1", user="u1", email="p1@corp1.io", when=T0 + timedelta(seconds=1))]))
    lead = explain_lead(app, "p1@corp1.io")
    assert (lead["stage"], lead["owner"]) == ("sal", "ann")
    assert "before the visitor identified" in lead["history"][-1]["reason"]
    assert [m.event_type for m in messages(app, "lead.handoff_opened")] == ["lead.handoff_opened"]
    rep_actions.reject(app, "p1@corp1.io", rep="ann", reason="bad_fit")
    ingest(app, numbered([identify(anon="a1", user="u1", email="p1@corp1.io", title="CTO",
                                   when=T0 + timedelta(minutes=5))], ), source="second")
    assert explain_lead(app, "p1@corp1.io")["stage"] == "lead"  # once: the old request does not count again


def test_a_hand_raised_long_before_identifying_does_not_count(app):
    ingest(app, numbered([track("Demo Requested", anon="a1", when=T0 - timedelta(days=40))]))
    ingest(app, numbered([identify(anon="a1", user="u1", email="p1@corp1.io", when=T0)]))
    assert explain_lead(app, "p1@corp1.io")["stage"] == "subscriber"


def test_loading_history_records_handoffs_and_breaches_without_alerting_anyone(app, clock):
    clock.now = T0 + timedelta(days=30)
    weeks_ago = T0 - timedelta(days=1)
    report = ingest(app, numbered([identify(user="u1", when=weeks_ago, email="p1@corp1.io"),
                                   track("Demo Requested", user="u1", when=weeks_ago + timedelta(seconds=1))]),
                    live=False)
    assert report.as_dict()["recorded_silently"]["handoffs"] == 1
    assert messages(app) == []
    swept = sweep(app, clock(), deliver=False)
    assert swept.timers["breach"] == 1
    assert not any(k.startswith("escalation") for k in swept.timers)
    assert messages(app) == []  # no breach email, no escalation, no stale recycle for deadlines long past
    lead = explain_lead(app, "p1@corp1.io")
    assert (lead["stage"], lead["owner"]) == ("sal", "ann")
    breached = events(app, "SlaBreached")
    assert [(e.at, e.quiet) for e in breached] == [(weeks_ago + timedelta(minutes=5, seconds=1), True)]


def test_a_won_customer_leaves_the_suppression_list_and_goes_to_customer_success(database_url, clock):
    app = bootstrap(Settings(database_url=database_url), playbook=starter_playbook(), clock=clock)  # has a CS team
    try:
        email = "buyer@company.io"
        ingest(app, numbered([identify(user="u1", when=T0 - timedelta(minutes=2), email=email, title="VP Sales",
                                       employees=300, country="US", company="Company"),
                              track("Demo Requested", user="u1", when=T0 - timedelta(minutes=1))]))
        sdr = explain_lead(app, email)["owner"]
        ae = qualify_to_sql(app, email, sdr=sdr)
        deal = opps.convert(app, email, rep=ae, name="Deal", amount="12000",
                            close_date=datetime(2026, 12, 15, tzinfo=UTC).date())["opportunity"]["id"]
        assert [s["channel"] for s in suppression_list(app, "email")] == ["email"]
        opps.win_opportunity(app, deal, rep=ae)
        lead = explain_lead(app, email)
        assert (lead["stage"], lead["owner"]) == ("customer", "grace")  # not the AE who owns the account
        assert suppression_list(app, "email") == []
    finally:
        app.close()


def test_an_admin_cannot_reassign_an_sdr_lead_to_an_ae(app):
    email = demo_request(app)
    with pytest.raises(InvalidInput, match="dan is on team ae \\(ae\\), but this handoff goes to sdr"):
        rep_actions.reassign(app, email, actor="user:admin", to="dan")
    assert explain_lead(app, email)["owner"] == "ann"


def test_routing_reads_the_moment_the_lead_arrived_not_the_wall_clock(database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "team: sdr_a}\n  - {id: bob",
        "team: sdr_a, out_of_office: [{from: 2026-09-01, to: 2026-09-02}]}\n  - {id: bob")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "away.yaml"), clock=clock)
    try:
        then = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)  # ann was away that day; today she is back
        ingest(app, numbered([identify(user="u1", when=then, email="p1@corp1.io"),
                              track("Demo Requested", user="u1", when=then + timedelta(seconds=1))]), live=False)
        assert explain_lead(app, "p1@corp1.io")["owner"] == "bob"
        assert route_explain(app, "p1@corp1.io")["decisions"][0]["candidates"][0] == {
            "rep": "ann", "skipped": "out of office until 2026-09-02"}
    finally:
        app.close()


def test_a_unit_of_work_left_without_commit_writes_nothing_not_even_its_events(app):
    from leadrelay.lead.lifecycle import move
    from leadrelay.lead.service import load_for_update
    from leadrelay.lead.stages import Stage, Transition
    from leadrelay.storage.unit_of_work import UnitOfWork

    ingest(app, numbered([identify(user="u1", when=T0, email="p1@corp1.io")]))
    before = len(events(app))
    with UnitOfWork(app) as uow:
        lead = load_for_update(uow.conn, "p1@corp1.io")
        uow.publish(StagesMoved([move(lead, Transition.HAND_RAISE, Stage.SAL, at=T0, actor="test", reason="x")]))
        desk_of(uow).flush()  # even written rows go: the transaction is rolled back
    assert len(events(app)) == before
    assert route_explain(app, "p1@corp1.io")["handoffs"] == []


RESTARTING = """
    - id: restart
      handoff: sql
      clock: wall
      accept_within: 10m
      max_reassignments: 2
      escalation:
        - {after: 0m, action: reassign, restart_clock: true}
        - {after: 1h, action: return_to_marketing}
"""


def test_a_restarting_reassign_gives_each_new_owner_a_fresh_clock_until_the_cap_then_the_ladder_goes_on(
        database_url, clock):
    text = with_aes(PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": RESTARTING}, "eve", "fox")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "restart.yaml"), clock=clock)
    try:
        email = demo_request(app)
        qualify_to_sql(app, email, sdr="ann")
        for minutes in range(0, 130, 5):
            clock.now = T0 + timedelta(minutes=minutes)
            sweep(app, clock(), deliver=False)
        sql_owners = [d["owner"] for d in route_explain(app, email)["decisions"][1:]]
        assert sql_owners == ["dan", "eve", "fox"]  # two reassignments, each with a fresh 10 minutes
        outcomes = [e.data["result"] for e in events(app, "Escalated") if e.data["clock"] == "accept"]
        assert outcomes == ["reassigned to eve", "reassigned to fox", "skipped: reassignment cap reached (2 of 2)",
                            "returned to marketing"]
        assert explain_lead(app, email)["stage"] == "lead"
    finally:
        app.close()


def test_a_reassign_step_that_allows_it_gives_the_lead_back_to_the_same_rep_when_nobody_else_can_take_it(
        database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "false", "extra": ""}).replace(
        "{after: 10m, action: reassign}", "{after: 10m, action: reassign, to_same_rep: true}")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "same.yaml"), clock=clock)
    try:
        email = demo_request(app)
        clock.now = T0 + timedelta(minutes=16)
        sweep(app, clock(), deliver=False)
        assert explain_lead(app, email)["owner"] == "ann"
        assert events(app, "Escalated")[-1].data["result"] == "reassigned to ann"
    finally:
        app.close()


def test_one_missed_response_runs_the_shared_ladder_once_not_once_per_clock(database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "      first_touch_within: 5m\n", "      first_touch_within: 5m\n      accept_within: 5m\n")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "both.yaml"), clock=clock)
    try:
        email = demo_request(app)
        for minutes in (6, 16, 26):
            clock.now = T0 + timedelta(minutes=minutes)
            sweep(app, clock(), deliver=False)
        assert owners(app, email) == ["ann", "bob"]  # one reassignment for one miss
        assert [(e.data["step"], e.data["action"]) for e in events(app, "Escalated")] == [
            (1, "notify_rep"), (2, "reassign")]
        assert route_explain(app, email)["handoffs"][0]["owner"] == "bob"
    finally:
        app.close()


def test_a_reassign_that_finds_nobody_does_not_hide_the_breach_from_a_worker_catching_up(database_url, clock):
    app = make_app(database_url, clock, bob_active="false")
    try:
        demo_request(app)
        clock.now = T0 + timedelta(minutes=22)  # one late sweep: breach, notify, reassign to nobody
        sweep(app, clock(), deliver=False)
        sent = [m.event_type for m in messages(app)]
        assert "sla.breached" in sent and sent.count("sla.escalated") == 2
    finally:
        app.close()


def test_loaded_history_still_runs_the_steps_that_fall_after_the_load_and_announces_what_happens_then(app, clock):
    clock.now = T0 + timedelta(minutes=7)  # the demo request came 7 minutes before the file was loaded
    ingest(app, numbered([identify(user="u1", when=T0, email="p1@corp1.io"),
                          track("Demo Requested", user="u1", when=T0 + timedelta(seconds=1))]), live=False)
    clock.now = T0 + timedelta(minutes=20)
    sweep(app, clock(), deliver=False)
    assert explain_lead(app, "p1@corp1.io")["owner"] == "bob"  # the reassign at 15:01 came after the load
    assert [m.event_type for m in messages(app)] == ["lead.assigned", "sla.escalated"]  # bob is told; nothing older
    clock.now = T0 + timedelta(minutes=40)
    sweep(app, clock(), deliver=False)
    assert explain_lead(app, "p1@corp1.io")["stage"] == "lead"


def test_a_demo_request_counts_when_a_lead_disqualified_at_first_is_reopened(database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "qualification: {webmail: {disqualify: false}}", "qualification: {webmail: {disqualify: true}}")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "webmail.yaml"), clock=clock)
    try:
        ingest(app, numbered([track("Demo Requested", anon="a1", when=T0)]))
        ingest(app, numbered([identify(anon="a1", user="u1", email="kai@gmail.com", when=T0 + timedelta(minutes=1))]))
        assert explain_lead(app, "kai@gmail.com")["stage"] == "disqualified"
        ingest(app, numbered([identify(user="u1", email="kai@corp.io", when=T0 + timedelta(hours=1))]))
        lead = explain_lead(app, "kai@corp.io")
        assert (lead["stage"], lead["owner"]) == ("sal", "ann")
    finally:
        app.close()


def test_a_demo_request_linked_later_by_alias_starts_its_clock_when_the_link_is_known(app):
    from tests.messages import alias

    ingest(app, numbered([track("Demo Requested", anon="anon-4", when=T0)]))
    ingest(app, numbered([identify(user="u-zed", email="zed@corp.io", when=T0 + timedelta(hours=6))]))
    assert explain_lead(app, "zed@corp.io")["stage"] == "subscriber"
    ingest(app, numbered([alias("anon-4", "u-zed", when=T0 + timedelta(hours=7))]))
    handoff = route_explain(app, "zed@corp.io")["handoffs"][0]
    assert (handoff["opened_at"], handoff["first_touch_due_at"]) == ("2026-10-01T16:00:00Z", "2026-10-01T16:05:00Z")


def test_a_stale_lead_is_an_event_in_the_log_with_whether_it_was_recycled(database_url, clock):
    app = make_app(database_url, clock, extra="stale: {after_days: 14, recycle: true, reason: no_response}")
    try:
        ingest(app, numbered([identify(user="u1", when=T0, email="p1@corp1.io"),
                              page("/pricing", user="u1", when=T0)]))
        rep_actions.accept(app, "p1@corp1.io", rep="ann")
        clock.advance(days=20)
        sweep(app, clock(), deliver=False)
        [stale] = events(app, "HandoffStale")
        assert (stale.data["owner"], stale.data["recycled"], stale.quiet) == ("ann", True, False)
        assert explain_lead(app, "p1@corp1.io")["stage"] == "lead"
    finally:
        app.close()


def test_routing_reads_per_rep_counters_that_agree_with_every_assignment_made(app, clock):
    from leadrelay.handoff.directory import list_reps

    for n in range(1, 6):
        demo_request(app, n)
    clock.now = T0 + timedelta(minutes=16)
    sweep(app, clock(), deliver=False)  # reassignments count too
    with app.engine.connect() as conn:
        decisions = conn.execute(select(h.routing_decisions.c.owner).where(h.routing_decisions.c.owner.is_not(None)))
        made = Counter(owner for (owner,) in decisions)
        counters = {(rep, day): n for rep, day, n in conn.execute(select(h.rep_assignment_counts))}
    assert {rep: n for (rep, day), n in counters.items() if day == ""} == dict(made)
    assert {rep: n for (rep, day), n in counters.items() if day == "2026-10-01"} == dict(made)
    reps = {r["id"]: r for r in list_reps(app)}
    assert {rep: (reps[rep]["assigned_total"], reps[rep]["assigned_today"]) for rep in made} == {
        rep: (n, n) for rep, n in made.items()}


WEBMAIL = "qualification: {webmail: {disqualify: true}}"


def _webmail_app(database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "qualification: {webmail: {disqualify: false}}", WEBMAIL)
    return bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "webmail.yaml"), clock=clock)


def test_a_lead_reopened_after_a_webmail_disqualification_is_judged_afresh_and_becomes_an_mql(database_url, clock):
    app = _webmail_app(database_url, clock)
    try:
        ingest(app, numbered([identify(user="u1", email="dan@gmail.com", when=T0),
                              page("/pricing", user="u1", when=T0 + timedelta(minutes=1))]))
        assert explain_lead(app, "dan@gmail.com")["stage"] == "disqualified"
        ingest(app, numbered([identify(user="u1", email="dan@bigco.io", when=T0 + timedelta(minutes=5))]))
        assert explain_lead(app, "dan@bigco.io")["stage"] == "mql"
    finally:
        app.close()


def test_a_demo_request_made_while_disqualified_counts_when_the_lead_is_reopened(database_url, clock):
    app = _webmail_app(database_url, clock)
    try:
        ingest(app, numbered([identify(user="u1", email="dan@gmail.com", when=T0),
                              track("Demo Requested", user="u1", when=T0 + timedelta(minutes=5))]))
        ingest(app, numbered([identify(user="u1", email="dan@bigco.io", when=T0 + timedelta(hours=1))]))
        assert explain_lead(app, "dan@bigco.io")["stage"] == "sal"
    finally:
        app.close()


THREE_REPS = "  - {id: cy, name: Cy, email: cy@x.io, team: sdr_a, active: false}\n  - {id: dan, name: Dan"


def test_a_rep_who_missed_the_deadline_never_gets_the_lead_back_even_after_a_manager_stepped_in(
        database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace("  - {id: dan, name: Dan", THREE_REPS)
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "x.yaml"), clock=clock)
    try:
        email = demo_request(app)
        clock.now = T0 + timedelta(minutes=6)
        sweep(app, clock(), deliver=False)  # ann breaches
        clock.now = T0 + timedelta(minutes=8)
        rep_actions.reassign(app, email, actor="user:mia", to="bob")  # the manager steps in: bob's clock restarts
        with pytest.raises(InvalidTransition, match="nobody else can take lead 1 now"):
            rep_actions.reassign(app, email, actor="user:mia")  # routing would only find ann, who missed it
        for minutes in (14, 30):
            clock.now = T0 + timedelta(minutes=minutes)
            sweep(app, clock(), deliver=False)  # bob breaches too; the ladder's reassign finds nobody
        assert "ann" not in owners(app, email)[2:]
    finally:
        app.close()


def test_one_miss_reassigns_once_even_when_two_clocks_ladders_both_say_reassign(database_url, clock):
    extra = """
    - id: both
      handoff: sql
      clock: wall
      accept_within: 30m
      first_touch_within: 30m
      escalation:
        accept: [{after: 0m, action: notify_rep}, {after: 10m, action: reassign}]
        first_touch: [{after: 0m, action: notify_manager}, {after: 10m, action: reassign}]
"""
    text = with_aes(PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": extra}, "eve", "fox")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "both.yaml"), clock=clock)
    try:
        email = demo_request(app)
        qualify_to_sql(app, email, sdr="ann")
        clock.now = T0 + timedelta(minutes=45)
        sweep(app, clock(), deliver=False)
        assert [d["owner"] for d in route_explain(app, email)["decisions"][1:]] == ["dan", "eve"]
        results = sorted(e.data["result"] for e in events(app, "Escalated") if e.data["action"] == "reassign")
        assert results == ["reassigned to eve", "skipped: already reassigned at 2026-10-01T09:40:00Z"]
    finally:
        app.close()


def test_a_restarting_reassign_restarts_both_clocks_of_a_shared_ladder(database_url, clock):
    extra = """
    - id: restart_both
      handoff: sql
      clock: wall
      accept_within: 30m
      first_touch_within: 30m
      max_reassignments: 1
      escalation: [{after: 10m, action: reassign, restart_clock: true}]
"""
    text = with_aes(PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": extra}, "eve")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "restart.yaml"), clock=clock)
    try:
        email = demo_request(app)
        qualify_to_sql(app, email, sdr="ann")
        clock.now = T0 + timedelta(minutes=41)
        sweep(app, clock(), deliver=False)
        handoff = route_explain(app, email)["handoffs"][-1]
        assert (handoff["owner"], handoff["accept_due_at"], handoff["first_touch_due_at"]) == (
            "eve", "2026-10-01T10:10:00Z", "2026-10-01T10:10:00Z")
    finally:
        app.close()


def test_a_breach_due_at_the_same_moment_as_a_reassign_is_still_announced(database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        "      first_touch_within: 5m\n", "      first_touch_within: 5m\n      accept_within: 15m\n")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "same.yaml"), clock=clock)
    try:
        demo_request(app)
        for minutes in (5, 15):  # a worker on time: the accept breach and the reassign both fall at 09:15
            clock.now = T0 + timedelta(minutes=minutes, seconds=1)
            sweep(app, clock(), deliver=False)
        breaches = [m.payload["data"]["sla"]["deadline"] for m in messages(app, "sla.breached")]
        assert sorted(breaches) == ["accept", "first_touch"]
    finally:
        app.close()


def test_the_fake_unit_of_work_decides_what_the_database_one_decides(database_url, clock):
    """The in-memory stores behind the fast ladder tests (tests/fakes.py) are held to the real ones:
    the same ladder, caught up in one sweep, records the same domain events at the same moments."""
    text = LADDERS.replace('{fit: {">=": 50}}', '{fit: {">=": 99}}') % {
        "bob": "true", "cat": "false", "clocks": "      first_touch_within: 5m",
        "ladder": "      escalation: [{after: 0m, action: notify_rep}, {after: 10m, action: reassign},"
                  " {after: 30m, action: return_to_marketing}]"}
    fake = World(text)
    lead = fake.lead("pat@corp.io", stage=Stage.SUBSCRIBER)  # as identifying makes it in the database below
    fake.move(lead.id, Transition.HAND_RAISE, Stage.SAL, T0, actor="rule:hand_raiser.demo", reason="hand-raiser 'demo'")
    fake.sweep(T0 + timedelta(hours=2))

    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "world.yaml"), clock=clock)
    try:
        ingest(app, numbered([identify(user="u1", when=T0 - timedelta(seconds=5), email="pat@corp.io")]))
        with UnitOfWork(app, T0) as uow:
            lead = load_for_update(uow.conn, "pat@corp.io")
            move_lead(uow, lead, Transition.HAND_RAISE, Stage.SAL, actor="rule:hand_raiser.demo",
                      reason="hand-raiser 'demo'", now=T0)
            uow.commit()
        clock.now = T0 + timedelta(hours=2)
        sweep(app, clock(), deliver=False)
        real = [(e.type, e.at, e.quiet, e.data) for e in events(app) if e.at >= T0]
    finally:
        app.close()
    faked = [(e["type"], e["at"], e["quiet"], e["data"]) for e in fake.events() if e["at"] >= T0]
    assert faked == real
    assert len(real) > 8  # the whole ladder is there: opened, assigned, suppressed, breached, escalated, closed


def test_a_lead_queued_by_a_restarting_reassign_gets_a_fresh_ladder_when_someone_takes_it(database_url, clock):
    from leadrelay.handoff.directory import set_rep

    text = (PLAYBOOK % {"fit": 50, "bob_active": "false", "extra": ""}).replace(
        """      escalation:
        - {after: 0m, action: notify_rep}
        - {after: 10m, action: reassign}
        - {after: 30m, action: return_to_marketing}""", """      max_reassignments: 2
      escalation:
        - {after: 0m, action: reassign, restart_clock: true}
        - {after: 1h, action: return_to_marketing}""", 1)
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "resume.yaml"), clock=clock)
    try:
        email = demo_request(app)
        clock.now = T0 + timedelta(minutes=6)
        sweep(app, clock(), deliver=False)  # ann missed the first touch: nobody else, so queued
        assert route_explain(app, email)["handoffs"][0]["status"] == "queued"
        set_rep(app, "bob", actor="user:mia", active=True)
        clock.now = T0 + timedelta(minutes=20)
        sweep(app, clock(), deliver=False)  # bob takes it from the queue: a fresh clock and ladder
        assert explain_lead(app, email)["owner"] == "bob"
        with app.engine.connect() as conn:
            outcomes = [row.outcome for row in conn.execute(select(h.sla_timers).where(
                h.sla_timers.c.action == "return_to_marketing").order_by(h.sla_timers.c.id))]
        assert outcomes == ["restarted for the new owner"]  # ann's ladder's end gave way to bob's fresh clock
        clock.now = T0 + timedelta(minutes=70)  # past ann's old return time: nothing happens at it
        sweep(app, clock(), deliver=False)
        assert explain_lead(app, email)["stage"] == "sal"
        clock.now = T0 + timedelta(minutes=90)  # bob missed at 09:25 too: his ladder ends at 10:25
        sweep(app, clock(), deliver=False)
        assert explain_lead(app, email)["stage"] == "lead"
    finally:
        app.close()


def test_a_worker_catching_up_withdraws_the_old_owners_unsent_email_and_tells_the_new_one_nothing(
        database_url, clock):
    text = (PLAYBOOK % {"fit": 50, "bob_active": "true", "extra": ""}).replace(
        'notifications:\n', 'notifications:\n  email: {from: leads@x.io, events: {lead.assigned: [owner], '
                            'sla.escalated: [owner, manager], lead.returned: [owner, manager]}}\n')
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "mail.yaml"), clock=clock)
    try:
        demo_request(app)  # ann's "you have a lead" email waits in the outbox: the worker is down
        clock.now = T0 + timedelta(hours=3)
        sweep(app, clock(), deliver=False)  # reassigned to bob at 09:15, returned to marketing at 09:35
        emails = [(m.event_type, m.target, m.status) for m in messages(app) if m.channel == "email"]
        assert ("lead.assigned", "ann@x.io", "withdrawn") in emails  # overtaken before it was sent
        assert not [e for e in emails if e[1] == "bob@x.io"]  # bob never heard the lead was his
        assert ("lead.returned", "mia@x.io", "pending") in emails  # his manager hears it went back
    finally:
        app.close()


def test_a_manager_who_names_the_rep_who_missed_the_deadline_is_told_so(app, clock):
    email = demo_request(app)
    clock.now = T0 + timedelta(minutes=16)
    sweep(app, clock(), deliver=False)  # ann missed it: bob has it now
    answer = rep_actions.reassign(app, email, actor="user:mia", to="ann")
    assert (answer["to"], answer["warning"]) == ("ann", "ann missed this lead's SLA before; given back by user:mia")
    assert "warning" not in rep_actions.reassign(app, email, actor="user:mia", to="bob")


def test_the_sla_report_counts_each_lead_once_with_its_escalations_and_how_it_ended(app, clock):
    from leadrelay.reports.catalog import report_request, run_report

    demo_request(app)
    for minutes in (5, 15, 35):
        clock.now = T0 + timedelta(minutes=minutes)
        sweep(app, clock(), deliver=False)
    result = run_report(app, report_request("sla"))
    [row] = result["rows"]
    assert (row["group"], row["handoffs"], row["breached"], row["compliance"]) == ("demo", 1, 1, 0.0)
    assert row["clocks"] == {"first_touch": {"due": 1, "met": 0, "breached": 1, "pending": 0, "closed_before_due": 0,
                                             "compliance": 0.0}}
    assert row["escalations"] == {"notify_rep": 1, "reassign": 1, "return_to_marketing": 1}  # one lead, not 3 timers
    assert row["ended"] == {"rejected": 1}
    assert [(m["month"], m["mqls"]) for m in result["marketing"]] == []  # a hand-raiser is no MQL


def test_the_routing_report_shows_who_got_the_work_against_their_weight_and_the_reassignments(app, clock):
    from leadrelay.reports.catalog import report_request, run_report

    demo_request(app, 1)
    demo_request(app, 2)  # round robin: ann, then bob
    clock.now = T0 + timedelta(minutes=16)
    sweep(app, clock(), deliver=False)  # both missed: each reassigned to the other
    [row] = run_report(app, report_request("routing"))["rows"]
    assert (row["group"], row["decisions"], row["assignments"], row["handoffs"]) == ("sdr_a", 4, 4, 2)
    assert {r["rep"]: (r["assigned"], r["share"], r["expected_share"]) for r in row["reps"]} == {
        "ann": (2, 0.5, 0.5), "bob": (2, 0.5, 0.5)}
    assert (row["fairness"], row["catch_all_share"], row["reassigned"], row["reassignment_rate"]) == (1.0, 1.0, 2, 1.0)


def test_jains_index_is_one_for_work_shared_by_weight_and_one_over_n_for_one_rep_doing_it_all():
    from leadrelay.reports.routing import _jain

    assert _jain([3.0, 3.0, 3.0]) == 1.0
    assert _jain([9.0, 0.0, 0.0]) == round(1 / 3, 4)
    assert _jain([]) is None and _jain([0.0, 0.0]) is None
