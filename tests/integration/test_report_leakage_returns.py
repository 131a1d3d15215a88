"""The leakage report tells an SLA ladder's return to marketing apart from a rep's rejection, on both databases.

Both are stored as a stage move `reject` (the return by `rule:sla.POLICY`, the rejection by the rep);
the report used to count both as `reject`, so eight SLA returns read "reject sla_breached 8", as if
reps had refused the leads. A return now goes back as `returned` (with its reason), in the JSON, the
CLI's table, the CSV and the dashboard's leakage panel; a store counted before that counts its
returned leads again at the first refresh.
"""

import csv
import io

import pytest
from sqlalchemy import update

from leadrelay.bootstrap import bootstrap
from leadrelay.entrypoints.web.dashboard import leakage_panel
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook
from leadrelay.reports import leakage, rollups
from leadrelay.reports.catalog import refresh_rollups, report_request, run_report
from leadrelay.settings import Settings
from leadrelay.storage import report_tables as r
from leadrelay.worker import sweep
from tests.e2e.cli import Cli
from tests.scenarios import demo_request

PLAYBOOK = """
name: leakage returns
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
stages:
  mql: {owner: sdr, entry: {fit: {">=": 50}}}
hand_raisers: [{id: demo, when: {event: Demo Requested}, to: sal}]
calendars: {utc: {timezone: UTC}}
teams: [{id: sdr_a, function: sdr, calendar: utc}]
reps: [{id: ann, name: Ann, email: ann@x.io, team: sdr_a}]
routing: {rules: [{id: rest, team: sdr_a}]}
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
      first_touch_within: 5m
      escalation: [{after: 0m, action: notify_rep}, {after: 30m, action: return_to_marketing}]
"""
RETURNED = {"period": "2026-10", "transition": "returned", "reason": "sla_breached", "leads": 1}
REJECTED = {"period": "2026-10", "transition": "reject", "reason": "bad_fit", "leads": 1}


@pytest.fixture
def app(database_url, clock):
    application = bootstrap(Settings(database_url=database_url),
                            playbook=parse_playbook(PLAYBOOK, "returns.yaml"), clock=clock)
    yield application
    application.close()


def one_returned_one_rejected(app, clock) -> tuple[str, str]:
    """p1: nobody touched it, the ladder returned it to marketing; p2: ann rejected it."""
    returned, rejected = demo_request(app, 1), demo_request(app, 2)
    rep_actions.reject(app, rejected, rep="ann", reason="bad_fit")
    clock.advance(minutes=6)
    sweep(app, clock(), deliver=False)  # p1's first touch missed: the ladder starts
    clock.advance(minutes=30)
    sweep(app, clock(), deliver=False)  # step 2 returns it
    history = explain_lead(app, returned)["history"][-1]
    assert (history["transition"], history["actor"], history["reason"]) == ("reject", "rule:sla.demo", "sla_breached")
    return returned, rejected


def went_back(app) -> list[dict]:
    return run_report(app, report_request("leakage", period="month"))["went_back"]


def test_an_sla_return_is_counted_as_returned_not_as_a_reps_rejection(app, clock, database_url, tmp_path):
    one_returned_one_rejected(app, clock)
    assert went_back(app) == [REJECTED, RETURNED]

    (tmp_path / "playbook.yaml").write_text(PLAYBOOK)
    cli = Cli(tmp_path, database_url)
    run = cli("report", "leakage", "--period", "month", "--json")
    assert run.code == 0, run.err
    assert run.json()["went_back"] == [REJECTED, RETURNED]
    text = [" ".join(line.replace("│", " ").split()) for line in cli("report", "leakage", "--period", "month").out
            .splitlines()]
    assert "2026-10 returned sla_breached 1" in text and "2026-10 reject bad_fit 1" in text
    lines = csv.DictReader(io.StringIO(cli("report", "leakage", "--period", "month", "--csv").out))
    assert [(x["transition"], x["reason"], x["leads"]) for x in lines if x["section"] == "went_back"] == [
        ("reject", "bad_fit", "1"), ("returned", "sla_breached", "1")]

    # The dashboard's leakage panel and its CSV: a row of its own, read as "returned: sla_breached".
    panel = leakage_panel(run_report(app, report_request("leakage")))
    assert ["went back", "returned", "sla_breached", 1] in panel.rows
    assert ["went back", "reject", "bad_fit", 1] in panel.rows
    assert "returned: sla_breached" in panel.chart["labels"]
    assert "went back,returned,sla_breached,1" in panel.csv().splitlines()


def test_the_rollups_and_counting_every_lead_say_the_same_of_returns(app, clock, monkeypatch):
    one_returned_one_rejected(app, clock)
    assert went_back(app) == [REJECTED, RETURNED]
    monkeypatch.setattr(rollups, "read_tally", lambda *args, **kwargs: None)  # count each lead's facts instead
    assert went_back(app) == [REJECTED, RETURNED]


def test_a_store_counted_before_returns_were_told_apart_counts_its_returned_leads_again_at_the_first_refresh(
        app, clock, monkeypatch):
    monkeypatch.setattr(leakage, "went_back_as", lambda transition, actor: transition)  # as the release before
    one_returned_one_rejected(app, clock)
    assert went_back(app) == [REJECTED, {**RETURNED, "transition": "reject"}]  # "reject sla_breached", as it read
    with app.engine.begin() as conn:  # as that release left the store: counted with facts version 2
        conn.execute(update(r.report_state).where(r.report_state.c.key == "facts").values(value="2"))
    monkeypatch.undo()

    assert refresh_rollups(app) == 1  # the returned lead, marked by the first refresh; not the rejected one
    assert went_back(app) == [REJECTED, RETURNED]
    assert refresh_rollups(app) == 0  # once
