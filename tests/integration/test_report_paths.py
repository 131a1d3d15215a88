"""Every report, two ways, on the demo's store: from the rollups, and by counting each visible lead's facts
directly. The rollups (cells per day and month, the spans a range reads, teams made from reps) must change
nothing. The demo runs the engine and the worker through weeks, so the store has what a real one has:
hand-raisers, handoffs accepted late or never, breaches and escalations, touches, deals won and lost.
"""

import pytest

from leadrelay.bootstrap import bootstrap
from leadrelay.playbook.loader import starter_playbook
from leadrelay.reports import rollups
from leadrelay.reports.catalog import report_request, run_report
from leadrelay.settings import Settings
from tests.e2e.cli import Cli

QUESTIONS = [
    ("funnel", {}), ("funnel", {"by": "source", "period": "month"}), ("funnel", {"mode": "any_order", "by": "team"}),
    ("funnel", {"stage": "mql", "period": "week"}),
    ("conversion", {"from_stage": "mql", "to_stage": "sql", "by": "rep"}),
    ("conversion", {"from_stage": "lead", "to_stage": "customer", "by": "persona", "period": "quarter"}),
    ("velocity", {"by": "segment"}), ("velocity", {"period": "month"}),
    ("speed_to_lead", {}), ("speed_to_lead", {"by": "hour"}), ("speed_to_lead", {"by": "team", "period": "week"}),
    ("persistence", {}), ("persistence", {"by": "source"}),
    ("sla", {}), ("sla", {"by": "rep", "period": "month"}),
    ("leakage", {}), ("leakage", {"period": "week"}),
    ("routing", {}), ("routing", {"period": "month"}),
    ("sources", {}), ("sources", {"by": "campaign"}),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    run = Cli(folder, None)("demo", "--visitors", "300", "--database", "sqlite:///demo.db", "--json")
    assert run.code == 0, run.err
    app = bootstrap(Settings(database_url=f"sqlite:///{folder / 'demo.db'}"), playbook=starter_playbook())
    yield app
    app.close()


def both_ways(app, monkeypatch, name, params, owners=None):
    request = report_request(name, **params)
    from_rollups = run_report(app, request, owners=owners)
    with monkeypatch.context() as patch:
        patch.setattr(rollups, "read_tally", lambda *args, **kwargs: None)
        counted = run_report(app, request, owners=owners)
    return from_rollups, counted


@pytest.mark.parametrize(("name", "params"), QUESTIONS, ids=[f"{n}-{'-'.join(p.values()) or 'all'}"
                                                             for n, p in QUESTIONS])
def test_the_rollups_say_what_counting_every_lead_says(demo, monkeypatch, name, params):
    from_rollups, counted = both_ways(demo, monkeypatch, name, params)
    assert from_rollups["rows"] or from_rollups.get("stalled") or from_rollups.get("went_back"), "nothing to compare"
    assert from_rollups == counted


@pytest.mark.parametrize(("name", "params"), [("funnel", {"by": "rep"}), ("speed_to_lead", {"by": "rep"}),
                                              ("sla", {}), ("leakage", {})])
def test_a_reps_view_from_the_rollups_is_their_share_of_everyone_s(demo, monkeypatch, name, params):
    reps = sorted(rep.id for rep in demo.playbook.rules.handoff.directory.reps.values())
    mine = next(rep for rep in reps
                if run_report(demo, report_request("speed_to_lead", by="rep"), owners=[rep])["rows"])
    from_rollups, counted = both_ways(demo, monkeypatch, name, params, owners=[mine])
    assert from_rollups == counted
    if params.get("by") == "rep":
        everyone = run_report(demo, report_request(name, **params))["rows"]
        assert from_rollups["rows"] == [row for row in everyone if row["group"] == mine]


@pytest.mark.parametrize("name", ["funnel", "velocity", "speed_to_lead", "sla", "leakage", "routing", "sources"])
def test_a_range_that_starts_and_ends_inside_months_reads_whole_months_and_the_days_at_either_end(demo, monkeypatch,
                                                                                                   name):
    from datetime import timedelta

    from sqlalchemy import select

    from leadrelay.storage import tables as t

    with demo.engine.connect() as conn:  # days on which leads moved, not the first of a month
        days = sorted({at.date() for at in conn.scalars(select(t.stage_changes.c.at)) if at.day != 1})
    start, last = days[2], days[-1]
    inside = next(day for day in reversed(days) if (day + timedelta(days=1)).month == day.month)
    # Edges on days inside months on which leads moved: the days between are read from the day cells, whole
    # months (the last month, when the range ends on its last day) from the month cells.
    assert start.replace(day=1) < inside.replace(day=1) and start.day > 1
    for end in sorted({last, inside}):
        for period in (None, "month") if name == "sources" else (None, "week", "month"):
            from_rollups, counted = both_ways(demo, monkeypatch, name, {"start": start, "end": end, "period": period})
            assert from_rollups == counted, (end, period)
