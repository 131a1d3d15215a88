"""Cohort reports end to end on both databases: activities in, the stage history written by the engine,
the report read back through the CLI. Every expected figure is counted by hand from the messages here.
"""

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from tests.e2e.cli import Cli
from tests.messages import identify, numbered, page, track

PLAYBOOK = """
name: reports
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC, hours: {mon-sun: "00:00-24:00"}}}
teams: [{id: sdr_a, function: sdr, calendar: utc}]
reps: [{id: ann, name: Ann, email: ann@x.io, team: sdr_a}]
routing: {rules: [{id: rest, team: sdr_a}]}
"""
OCT1 = datetime(2026, 10, 1, 9, tzinfo=UTC)
NOV5 = datetime(2026, 11, 5, 9, tzinfo=UTC)


@pytest.fixture
def app(database_url, clock):
    clock.now = datetime(2026, 11, 30, tzinfo=UTC)
    application = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(PLAYBOOK, "reports.yaml"),
                            clock=clock)
    yield application
    application.close()


def load(app):
    google = identify(user="u1", when=OCT1, email="p1@corp1.io")
    google["context"] = {"campaign": {"source": "Google", "name": "Q4 Search"}}  # analytics.js from the UTM tags
    ingest(app, numbered([
        google,
        page("/pricing", user="u1", when=OCT1 + timedelta(days=2)),  # an MQL two days later
        identify(user="u2", when=OCT1 + timedelta(days=1), email="p2@corp2.io"),
        track("Demo Requested", user="u2", when=OCT1 + timedelta(days=1, hours=1),
              properties={"utm_source": "facebook"}),  # a hand-raiser: subscriber to SAL, skipping MQL
        identify(user="u3", when=NOV5, email="p3@corp3.io", source="webinar"),
    ]), live=False)


def test_a_lead_keeps_the_source_of_its_first_touch_whichever_way_it_was_sent(app):
    load(app)
    assert [explain_lead(app, f"p{n}@corp{n}.io")["source"] for n in (1, 2, 3)] == ["google", "facebook", "webinar"]
    ingest(app, numbered([page("/", user="u1", when=OCT1 - timedelta(days=3), campaign={"source": "newsletter"})]))
    assert explain_lead(app, "p1@corp1.io")["source"] == "newsletter"  # an earlier touch, arriving late, wins


def test_conversion_by_source_and_month_from_the_cli(app, database_url, tmp_path):
    load(app)
    run = Cli(tmp_path, database_url)("report", "conversion", "--from-stage", "subscriber", "--to-stage", "mql",
                                      "--by", "source", "--period", "month", "--json")
    assert run.code == 0, run.err
    assert [(r["period"], r["group"], r["entered"], r["converted"], r["rate"], r["median_days"])
            for r in run.json()["rows"]] == [
        ("2026-10", "facebook", 1, 0, 0.0, None),  # the hand-raiser went to SAL without being an MQL
        ("2026-10", "google", 1, 1, 1.0, 2.0),
        ("2026-11", "webinar", 1, 0, 0.0, None)]


def test_the_in_order_funnel_shows_the_hand_raiser_on_its_own_path(app, database_url, tmp_path):
    load(app)
    # The funnel's stages come from the playbook: this one puts nobody in `lead`, so going from
    # subscriber to MQL skips nothing (the starter's `lead` entry criteria would make it a skip).
    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    cli = Cli(tmp_path, database_url)
    rows = cli("report", "funnel", "--stage", "subscriber", "--from", "2026-10-01", "--to", "2026-10-31",
               "--json").json()["rows"]
    [row] = rows
    stages = {s["stage"]: s for s in row["stages"]}
    assert row["entered"] == 2  # November's lead is outside the days asked
    assert (stages["mql"]["reached"], stages["sal"]["reached"], stages["sal"]["via_hand_raise"]) == (1, 0, 1)
    csv_text = cli("report", "funnel", "--stage", "subscriber", "--csv").out
    assert csv_text.splitlines()[0].startswith("group,period,stage,entered,mode,to_stage,reached,rate")


@pytest.mark.parametrize(("args", "message"), [
    (("report", "pipeline"), "no report 'pipeline' (one of funnel, conversion, velocity, speed_to_lead, "
                             "persistence, leakage, sla, routing, sources, forecast_accuracy)"),
    (("report", "funnel", "--by", "colour"), "by: no dimension 'colour'"),
    (("report", "funnel", "--period", "decade"), "period: no period 'decade'"),
    (("report", "funnel", "--from", "2026-11-01", "--to", "2026-10-01"), "from: 2026-11-01 is after to: 2026-10-01"),
    (("report", "conversion", "--from-stage", "sal", "--to-stage", "mql"), "to-stage: mql does not come after sal"),
    (("report", "conversion",), "conversion needs from-stage and to-stage"),
])
def test_a_report_asked_for_wrongly_says_what_is_wrong(app, database_url, tmp_path, args, message):
    run = Cli(tmp_path, database_url)(*args)
    assert run.code != 0 and message in run.err, run.err


def test_speed_to_lead_persistence_and_velocity_from_a_demo_request_worked_by_a_rep(app, clock, database_url,
                                                                                    tmp_path):
    from leadrelay.handoff import service as rep_actions

    start = clock.now
    ingest(app, numbered([identify(user="u9", when=start - timedelta(seconds=1), email="p9@corp9.io"),
                          track("Demo Requested", user="u9", when=start)]))  # live: routed at once
    clock.advance(minutes=30)
    rep_actions.accept(app, "p9@corp9.io", rep="ann")
    clock.advance(minutes=15)
    rep_actions.log_touch(app, "p9@corp9.io", rep="ann", kind="call", outcome="no_answer")
    clock.advance(days=2)
    rep_actions.log_touch(app, "p9@corp9.io", rep="ann", kind="email", outcome="sent")
    cli = Cli(tmp_path, database_url)
    [speed] = cli("report", "speed_to_lead", "--by", "rep", "--json").json()["rows"]
    assert (speed["group"], speed["handoffs"], speed["system"]["measured"]) == ("ann", 1, 1)
    assert speed["system"]["received_to_routed_p50_s"] == 0.0  # decided in the transaction that received it
    assert (speed["human"]["assigned_to_accepted_p50_min"], speed["human"]["assigned_to_first_touch_p50_min"]) == (
        30.0, 45.0)
    [kept] = cli("report", "persistence", "--json").json()["rows"]
    assert (kept["group"], kept["leads"], kept["touches_first_week"], kept["never_touched"]) == ("ann", 1, 2, 0)
    [row] = cli("report", "velocity", "--json").json()["rows"]
    stages = {s["stage"]: s for s in row["stages"]}
    assert (stages["subscriber"]["p50_days_in_stage"], stages["sal"]["still_in"]) == (0.0, 1)
    assert "by: no dimension 'persona' for speed_to_lead" in cli("report", "speed_to_lead", "--by", "persona").err


def test_leakage_shows_stalled_leads_and_why_leads_went_back(app, clock, database_url, tmp_path):
    from leadrelay.handoff import service as rep_actions
    from leadrelay.lead.stages import Transition

    load(app)  # p1 an MQL since Oct 3, p2 a SAL since Oct 2, p3 a subscriber (not in the pipe yet)
    reason = sorted(app.playbook.rules.reasons[Transition.REJECT])[0]
    clock.now = datetime(2026, 10, 4, 9, tzinfo=UTC)
    rep_actions.reject(app, "p2@corp2.io", rep="ann", reason=reason)  # back to lead, on Oct 4
    clock.now = datetime(2026, 11, 30, tzinfo=UTC)
    result = Cli(tmp_path, database_url)("report", "leakage", "--period", "month", "--json").json()
    assert {(row["stage"], row["leads"]) for row in result["stalled"]} == {("lead", 1), ("mql", 1)}
    assert result["went_back"] == [{"period": "2026-10", "transition": "reject", "reason": reason, "leads": 1}]
    assert (result["stale_recycles"], result["lost"]) == ([], [])


def test_a_spend_file_with_a_broken_row_keeps_the_rest_and_exits_3(app, database_url, tmp_path):
    spend = tmp_path / "spend.csv"
    spend.write_text("month,source,campaign,amount,currency\n2026-10,google,,100,USD\n2026-10,,,5,USD\n")
    run = Cli(tmp_path, database_url)("spend", "import", str(spend))
    assert (run.code, run.out.strip()) == (3, "2 rows: 1 imported, 1 rejected"), run.err
    assert "row 3: source is empty" in run.err
    [row] = Cli(tmp_path, database_url)("report", "sources", "--json").json()["rows"]
    assert (row["source"], row["spend"], row["leads"]) == ("google", "100.00", 0)


def test_the_worker_keeps_the_rollups_current_and_a_rebuild_changes_no_figure(app, database_url, tmp_path):
    load(app)  # three leads, their moves marked for the rollups
    cli = Cli(tmp_path, database_url)
    sweep = cli("worker", "--once", "--json", "--now", "2026-11-30T00:00:00Z")
    assert sweep.code == 0, sweep.err
    assert sweep.json()["report_leads"] == 3  # counted by the sweep, before anyone asked
    before = cli("report", "funnel", "--by", "source", "--json").json()
    rebuilt = cli("report", "rebuild", "--json")
    assert (rebuilt.code, rebuilt.json()["leads"]) == (0, 3)
    assert cli("report", "funnel", "--by", "source", "--json").json() == before
    assert "counted 3 leads into the report rollups" in cli("report", "rebuild").out
