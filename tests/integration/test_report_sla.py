"""The SLA report on both databases: counted by lead, not by timer, and the same figures whichever way it is asked.

Two bugs a tester found, held here:

- a handoff closed (rejected, disqualified, recycled, ...) before a deadline, without that
  deadline's work done, was counted as breached once the deadline had passed (and as
  pending before), by policy, by rep and on the manager's board; it is *closed before due*:
  neither met, nor breached, nor pending, and not counted in compliance;
- `leadrelay sla report` (and `GET /api/sla`) counted timers (a handoff reassigned with a
  fresh clock breached twice, a cancelled timer was "other") while `leadrelay report sla`
  counted leads: both now read the one computation, `reports.catalog.sla_summary`.
"""

from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.reports import loading
from leadrelay.reports.catalog import refresh_rollups, report_request, run_report, sla_summary
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import report_tables as r
from leadrelay.worker import sweep
from tests.conftest import T0
from tests.e2e.cli import Cli
from tests.messages import identify, numbered, track
from tests.scenarios import pricing_visit as mql

PLAYBOOK = """
name: sla report
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC, hours: {mon-sun: "00:00-24:00"}}}
teams:
  - {id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a}
routing:
  rules: [{id: rest, team: sdr_a}]
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
      max_reassignments: 1
      escalation:
        accept:
          - {after: 0m, action: reassign, restart_clock: true}  # the next rep gets a fresh hour
          - {after: 2h, action: return_to_marketing}
        touches:
          - {after: 0m, action: notify_manager}
  marketing: {mqls_per_month: 10}
"""


@pytest.fixture
def app(database_url, clock):
    application = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(PLAYBOOK, "sla.yaml"),
                            clock=clock)
    yield application
    application.close()


def demo_request(app, n: int) -> str:
    """Lead n requests a demo now: handed to sales at once, its first touch due in 5 minutes."""
    now = app.clock()
    ingest(app, numbered([identify(user=f"u{n}", when=now - timedelta(seconds=2), email=f"p{n}@corp{n}.io"),
                          track("Demo Requested", user=f"u{n}", when=now - timedelta(seconds=1))]))
    return f"p{n}@corp{n}.io"


def sla(app, *, by: str = "policy", owners=None) -> dict:
    """The SLA report's rows by group."""
    return {row["group"]: row for row in run_report(app, report_request("sla", by=by), owners=owners)["rows"]}


def breaches(app, email: str) -> list[str]:
    lead_id = explain_lead(app, email)["id"]
    with app.engine.connect() as conn:
        found = conn.execute(select(h.domain_events.c.data).where(h.domain_events.c.lead_id == lead_id,
                                                                  h.domain_events.c.type == "SlaBreached"))
        return [data["clock"] for (data,) in found]


def test_a_handoff_rejected_before_its_first_touch_deadline_is_closed_before_due_not_breached(app, clock):
    rejected, missed, touched = demo_request(app, 1), demo_request(app, 2), demo_request(app, 3)
    assert [explain_lead(app, e)["owner"] for e in (rejected, missed, touched)] == ["ann", "bob", "ann"]
    clock.advance(minutes=1)
    rep_actions.reject(app, rejected, rep="ann", reason="not_a_buyer")  # 4 minutes before its deadline
    rep_actions.log_touch(app, touched, rep="ann", kind="call", outcome="connected")  # in time
    clock.now = T0 + timedelta(minutes=6)
    sweep(app, clock(), deliver=False)  # bob's breaches; the rejected one's timers were cancelled
    assert (breaches(app, rejected), breaches(app, missed)) == ([], ["first_touch"])
    clock.now = T0 + timedelta(days=1)  # long past every deadline

    demo = sla(app)["demo"]
    assert demo["clocks"] == {"first_touch": {"due": 3, "met": 1, "breached": 1, "pending": 0,
                                              "closed_before_due": 1, "compliance": 0.5}}
    assert (demo["handoffs"], demo["breached"], demo["compliance"]) == (3, 1, 0.5)  # the rejected one is not counted
    # By rep, from the rollups and as the manager's board asks (its team's reps): ann breached nothing.
    for view in (sla(app, by="rep"), sla(app, by="rep", owners=["ann", "bob"])):
        ann, bob = view["ann"], view["bob"]
        assert (ann["handoffs"], ann["breached"], ann["compliance"]) == (2, 0, 1.0)
        assert ann["clocks"]["first_touch"] == {"due": 2, "met": 1, "breached": 0, "pending": 0,
                                                "closed_before_due": 1, "compliance": 1.0}
        assert (bob["handoffs"], bob["breached"], bob["compliance"]) == (1, 1, 0.0)


def test_a_rep_whose_only_handoff_was_rejected_in_time_has_no_breach_and_no_compliance_figure(app, clock):
    email = demo_request(app, 1)
    rep = explain_lead(app, email)["owner"]
    clock.advance(minutes=1)
    rep_actions.reject(app, email, rep=rep, reason="not_a_buyer")
    clock.now = T0 + timedelta(hours=1)
    sweep(app, clock(), deliver=False)
    expected = {"due": 1, "met": 0, "breached": 0, "pending": 0, "closed_before_due": 1, "compliance": None}
    for view in (sla(app), sla(app, by="rep"), sla(app, by="team"), sla(app, by="rep", owners=[rep])):
        [row] = view.values()
        assert (row["handoffs"], row["breached"], row["compliance"]) == (1, 0, None), row
        assert row["clocks"] == {"first_touch": expected}
        assert row["ended"] == {}  # `ended` is how the breached handoffs ended: none breached


def test_a_lead_disqualified_before_its_accept_deadline_is_neither_pending_nor_breached_later(app, clock):
    email = mql(app, 1)
    owner = explain_lead(app, email)["owner"]
    clock.advance(minutes=10)
    rep_actions.disqualify(app, email, rep=owner, reason="out_of_territory")
    closed = {"due": 1, "met": 0, "breached": 0, "pending": 0, "closed_before_due": 1, "compliance": None}
    for minutes in (20, 90, 3 * 24 * 60):  # before the accept deadline, after it, after the touches one
        clock.now = T0 + timedelta(minutes=minutes)
        sweep(app, clock(), deliver=False)
        row = sla(app)["mql"]
        assert row["clocks"] == {"accept": closed, "touches": closed}, minutes
        assert (row["handoffs"], row["breached"], row["compliance"]) == (1, 0, None)
    assert breaches(app, email) == []


def test_a_deadline_that_passed_while_the_handoff_was_open_stays_breached_after_it_closes(app, clock):
    email = demo_request(app, 1)
    owner = explain_lead(app, email)["owner"]
    clock.now = T0 + timedelta(minutes=8)  # past the deadline; no worker has run
    assert sla(app)["demo"]["clocks"]["first_touch"]["breached"] == 1
    rep_actions.reject(app, email, rep=owner, reason="not_a_buyer")  # closed after its deadline, the work not done
    row = sla(app)["demo"]
    assert row["clocks"]["first_touch"] == {"due": 1, "met": 0, "breached": 1, "pending": 0, "closed_before_due": 0,
                                            "compliance": 0.0}
    assert (row["breached"], row["compliance"], row["ended"]) == (1, 0.0, {"rejected": 1})


def test_the_sla_report_and_the_report_sla_count_each_lead_once_and_agree(app, clock, database_url, tmp_path):
    email = mql(app, 1)  # nobody accepts it: ann misses, bob gets a fresh hour and misses too, then it goes back
    for minutes in range(0, 5 * 60, 15):
        clock.now = T0 + timedelta(minutes=minutes)
        sweep(app, clock(), deliver=False)
    assert breaches(app, email) == ["accept", "accept"]  # one handoff, two owners' deadlines missed
    assert explain_lead(app, email)["stage"] == "lead"  # returned to marketing long before its touches were due
    demo = demo_request(app, 2)
    rep_actions.log_touch(app, demo, rep=explain_lead(app, demo)["owner"], kind="call", outcome="connected")

    summary = sla_summary(app)
    assert summary["sales"] == [
        {"policy": "demo", "deadline": "first_touch", "due": 1, "met": 1, "breached": 0, "pending": 0,
         "closed_before_due": 0, "compliance": 1.0},
        {"policy": "mql", "deadline": "accept", "due": 1, "met": 0, "breached": 1, "pending": 0,
         "closed_before_due": 0, "compliance": 0.0},  # one lead, not two timers
        {"policy": "mql", "deadline": "touches", "due": 1, "met": 0, "breached": 0, "pending": 0,
         "closed_before_due": 1, "compliance": None}]
    assert summary["policies"] == [{"policy": "demo", "handoffs": 1, "breached": 0, "compliance": 1.0},
                                   {"policy": "mql", "handoffs": 1, "breached": 1, "compliance": 0.0}]
    assert summary["marketing"] == {"month": "2026-10", "mqls": 1, "target": 10, "on_track": True}
    report = run_report(app, report_request("sla"))
    for row in report["rows"]:  # the same figures, read the other way round
        for deadline, figures in row["clocks"].items():
            assert {"policy": row["group"], "deadline": deadline, **figures} in summary["sales"]
    assert [(m["month"], m["mqls"]) for m in report["marketing"]] == [("2026-10", 1)]

    cli = Cli(tmp_path, database_url)  # both commands, on the same store
    by_timers, by_leads = cli("sla", "report", "--json"), cli("report", "sla", "--json")
    assert (by_timers.code, by_leads.code) == (0, 0), by_timers.err + by_leads.err
    assert by_timers.json()["sales"] == summary["sales"]
    assert [{"policy": r["group"], "deadline": d, **f} for r in by_leads.json()["rows"]
            for d, f in r["clocks"].items()] == summary["sales"]
    text = cli("sla", "report").out
    assert "mql: 1 handoff, 1 breached, compliance 0%" in " ".join(text.split())


def test_a_store_counted_before_closed_before_due_existed_counts_its_sla_leads_again_at_the_first_refresh(
        app, clock, monkeypatch):
    email = demo_request(app, 1)
    clock.advance(minutes=1)
    rep_actions.reject(app, email, rep=explain_lead(app, email)["owner"], reason="not_a_buyer")
    ingest(app, numbered([identify(user="u2", when=clock(), email="p2@corp2.io")]))  # no handoff: not counted again
    clock.now = T0 + timedelta(days=1)
    real = loading.HandoffTimes  # counted as the release before this one did: blind to when a handoff closed
    monkeypatch.setattr(loading, "HandoffTimes", lambda *args, **kw: real(*args, **{**kw, "closed_at": None}))
    assert sla(app)["demo"]["breached"] == 1  # what that release's rollups said
    with app.engine.begin() as conn:
        conn.execute(delete(r.report_state).where(r.report_state.c.key == "facts"))  # as it left the store
    monkeypatch.undo()

    assert refresh_rollups(app) == 1  # the lead with an SLA handoff, marked by the first refresh
    demo = sla(app)["demo"]
    assert (demo["breached"], demo["clocks"]["first_touch"]["closed_before_due"]) == (0, 1)
    assert refresh_rollups(app) == 0  # once
