"""End-to-end: qualification, the SQL gate, conversion, deals and the forecast through the `leadrelay`
command line (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from leadrelay.bootstrap import bootstrap
from leadrelay.handoff import service as rep_actions
from leadrelay.sales.qualify import advance_to_sql, record_answers
from leadrelay.settings import Settings
from tests.e2e.cli import Cli
from tests.messages import identify, track

NOW = datetime.now(UTC).replace(microsecond=0)
SOON = (date.today() + timedelta(days=60)).isoformat()
JANE = "jane@acme-corp.com"


def jane_asks_for_a_demo() -> str:
    """Jane (acme-corp.com) asked for a demo ten minutes ago: a SAL owned by alice (as JSON lines)."""
    earlier = NOW - timedelta(minutes=10)
    messages = [identify(user="u1", when=earlier, email=JANE, title="VP Sales", employees=300, country="US",
                         company="Acme Corp"),
                track("Demo Requested", user="u1", when=earlier + timedelta(seconds=5))]
    return "".join(json.dumps(m) + "\n" for m in messages)


def test_a_lead_is_qualified_passes_the_gate_is_converted_won_and_forecast(tmp_path):
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'lr.db'}")
    assert cli("ingest", "-", stdin=jane_asks_for_a_demo()).code == 0
    wrong = cli("qualify", JANE, "--rep", "alice", "--answer", "budget=maybe")
    assert (wrong.code, wrong.err) == (1, "error: budget: expected yes or no, got 'maybe'\n")
    answered = cli("qualify", JANE, "--rep", "alice", "--answer", "budget=yes", "--answer", "authority=decision_maker",
                   "--answer", "need=nice_to_have", "--answer", f"timeline={SOON}")
    assert answered.code == 0, answered.err
    assert "SQL gate: not met" in answered.out and "no meeting booked" in answered.out

    refused = cli("leads", "sql", JANE, "--rep", "alice")
    assert (refused.code, refused.err) == (
        1, "error: lead 1 cannot become an SQL: no meeting booked (book one, or log a touch with outcome "
           "meeting_booked; a no-show or a cancellation does not count)\n")
    assert cli("leads", "touch", JANE, "--rep", "alice", "--kind", "call", "--outcome", "meeting_booked").code == 0
    moved = cli("leads", "sql", JANE, "--rep", "alice", "--json").json()
    assert (moved["to"], moved["owner"], moved["gate"]) == (
        "sql", "erin", "3 of 4 BANT criteria met (budget, authority, timeline)")

    done = cli("convert", JANE, "--rep", "erin", "--name", "Acme — 20 seats", "--amount", "12000",
               "--close-date", SOON)
    assert done.code == 0, done.err
    assert done.out.splitlines() == [
        f"lead 1 converted (opportunity): opportunity 1 'Acme — 20 seats' 12,000.00 USD, discovery (10%), closes "
        f"{SOON}, owner erin", "account 1 Acme Corp (acme-corp.com), created, owner now erin"]
    snapshot = cli("forecast", "snapshot")
    assert snapshot.code == 0 and " stored (1 open deals, taken " in snapshot.out
    won = cli("opps", "win", "1", "--rep", "erin", "--json").json()
    assert (won["opportunity"]["status"], won["lead"]["stage"]) == ("won", "customer")

    forecast = cli("forecast", "--by", "rep", "--json").json()
    assert forecast["rows"] == [{"group": "erin", "currency": "USD", "open_pipeline": 0.0, "weighted_pipeline": 0.0,
                                 "commit": 0.0, "best_case": 0.0, "closed_won": 12000.0, "open_deals": 0,
                                 "won_deals": 1, "lost_deals": 0}]
    story = forecast["snapshots"][0]
    assert (story["weighted_pipeline"], story["won_since"], story["change_since"]["closed_won"]) == (
        1200.0, 12000.0, 12000.0)
    report = cli("forecast")
    assert report.code == 0 and "12,000.00" in report.out and "Snapshots: movement and accuracy" in report.out


def test_a_past_close_date_on_purpose_warns_and_a_lost_deal_shows_its_reason_and_history(tmp_path):
    url = f"sqlite:///{tmp_path / 'lr.db'}"
    cli = Cli(tmp_path, url)
    assert cli("ingest", "-", stdin=jane_asks_for_a_demo()).code == 0
    app = bootstrap(Settings(database_url=url))  # the rest of the way to SQL, in-process
    try:
        record_answers(app, JANE, [("budget", "yes"), ("authority", "decision_maker"), ("need", "critical")],
                       rep="alice")
        rep_actions.log_touch(app, JANE, rep="alice", kind="meeting", outcome="meeting_booked")
        advance_to_sql(app, JANE, rep="alice")
    finally:
        app.close()
    past = (date.today() - timedelta(days=3)).isoformat()
    kept = cli("convert", "1", "--rep", "erin", "--name", "Old deal", "--amount", "500", "--close-date", past,
               "--allow-past-close")
    assert (kept.code, kept.err) == (0, f"warning: expected close date {past} is in the past\n")
    lost = cli("opps", "lose", "1", "--rep", "erin", "--reason", "no_budget", "--json").json()
    assert (lost["opportunity"]["lost_reason"], lost["lead"]["stage"], lost["lead"]["segment"]) == (
        "no_budget", "lead", "recycled")
    listed = cli("opps", "list", "--status", "all")
    assert "Old deal" in listed.out and "lost (no_budget)" in listed.out
