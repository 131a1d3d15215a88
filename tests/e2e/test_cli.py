"""End-to-end: the `leadrelay` command line, run in process in a temporary directory (see tests/e2e/cli.py).

Each test gets its own working directory (`tmp_path`) and its own database through
LEADRELAY_DATABASE_URL. Tests where the database matters use the `database_url`
fixture and run on SQLite and PostgreSQL; the rest run on SQLite only.
test_console_script.py runs the installed executable itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadrelay.playbook.loader import parse_playbook, starter_playbook, starter_text
from leadrelay.storage.migrate import head_revision
from tests.e2e.cli import Cli
from tests.messages import identify, page, track

STARTER_VERSION = starter_playbook().version
HALF_LIFE_HOURS = 21 * 24  # the starter's engagement half-life
STAGE_NAMES = ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer"]


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def cli(tmp_path, database_url) -> Cli:
    """The command against a fresh database on each backend."""
    return Cli(tmp_path, database_url)


@pytest.fixture
def sqlite_cli(tmp_path) -> Cli:
    """The command against a fresh SQLite database, for behaviour no backend changes."""
    return Cli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def decayed(points: float, hours_ago: float) -> float:
    return points * 0.5 ** (hours_ago / HALF_LIFE_HOURS)


@dataclass
class Events:
    """A small JSONL stream written to disk: three known leads, one visitor, two bad lines."""

    path: Path
    now: datetime

    def ago(self, hours: float) -> datetime:
        return self.now - timedelta(hours=hours)


def write_events(directory: Path, name: str = "events.jsonl") -> Events:
    """Alice (economic buyer, requests a demo → SAL), Bob (practitioner, reads pricing → lead),
    Dave (only an email → subscriber), an anonymous visitor, a line that is not JSON (line 4)
    and a message without messageId (line 7)."""
    now = datetime.now(UTC).replace(microsecond=0)
    events = Events(directory / name, now)
    ago = events.ago
    messages = [
        identify(user="u-alice", when=ago(5), message_id="alice-1", email="alice@acme-corp.com",
                 title="VP Marketing", employees=200, industry="Software", country="US"),
        page("/pricing", user="u-alice", when=ago(4), message_id="alice-2"),
        track("Demo Requested", user="u-alice", when=ago(3), message_id="alice-3"),
        identify(user="u-bob", when=ago(5), message_id="bob-1", email="bob@beta-inc.com",
                 title="Marketing Manager", employees=100),
        page("/pricing", user="u-bob", when=ago(4), message_id="bob-2"),
        page("/case-studies/retail", user="u-bob", when=ago(3), message_id="bob-3"),
        identify(user="u-dave", when=ago(2), message_id="dave-1", email="dave@tiny.io"),
        page("/", anon="anon-1", when=ago(1), message_id="visitor-1"),
    ]
    lines = [json.dumps(m) for m in messages]
    lines.insert(3, "{not json")
    no_id = page("/pricing", user="u-bob", when=ago(1))
    del no_id["messageId"]
    lines.insert(6, json.dumps(no_id))
    events.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return events


INGEST_REJECTIONS = [
    {"position": "events.jsonl line 4", "message_id": None,
     "reason": "not JSON: Expecting property name enclosed in double quotes at column 2"},
    {"position": "events.jsonl line 7", "message_id": None, "reason": "missing messageId"},
]


def ingested(cli: Cli) -> Events:
    events = write_events(cli.cwd)
    result = cli("ingest", events.path.name)
    assert result.code == 3, result.err
    return events


# --------------------------------------------------------------------------- init and playbook check


def test_init_writes_the_starter_playbook_refuses_to_overwrite_it_and_force_overwrites(sqlite_cli, tmp_path):
    target = tmp_path / "conf" / "playbook.yaml"

    first = sqlite_cli("init", "conf")
    assert (first.code, first.err) == (0, "")
    assert first.out == "wrote conf/playbook.yaml — edit it, then: leadrelay playbook check conf/playbook.yaml\n"
    assert target.read_text(encoding="utf-8") == starter_text()

    target.write_text("name: edited by hand\n", encoding="utf-8")
    second = sqlite_cli("init", "conf")
    assert (second.code, second.out) == (1, "")
    assert second.err == "error: conf/playbook.yaml already exists (use --force to overwrite it)\n"
    assert target.read_text(encoding="utf-8") == "name: edited by hand\n"

    forced = sqlite_cli("init", "conf", "--force")
    assert forced.code == 0
    assert target.read_text(encoding="utf-8") == starter_text()

    check = sqlite_cli("playbook", "check", "conf/playbook.yaml", "--json")
    assert (check.code, check.err) == (0, "")
    assert check.json() == {
        "file": "conf/playbook.yaml", "valid": True, "issues": [], "version": STARTER_VERSION,
        "name": "Acme Analytics starter playbook", "fit_rules": 6, "engagement_rules": 12,
        "disqualifiers": 5, "personas": 3, "hand_raisers": 2, "stage_entries": ["lead", "mql"],
        "alerts": 3, "sequences": 1, "followups": 2,
    }
    text = sqlite_cli("playbook", "check", "conf/playbook.yaml")
    assert text.out.rstrip().endswith("2 hand-raisers, 3 alerts, 1 sequence, 2 follow-ups")


def test_init_into_a_path_that_is_a_file_fails_with_one_error_line(sqlite_cli, tmp_path):
    (tmp_path / "afile").write_text("hello\n", encoding="utf-8")
    result = sqlite_cli("init", "afile")
    assert result.code == 1
    assert "Traceback" not in result.err
    assert len(result.err.splitlines()) == 1 and result.err.startswith("error: ")


THREE_ERRORS = """\
name: Broken on purpose
colour: blue
personas:
  - id: buyer
    titles: ['(vp|chief']
scoring:
  fit:
    rules:
      - id: big_company
        when: {traits.employees: {">=": 50}}
        points: lots
"""
THREE_ERROR_LINES = (
    "error: broken.yaml:2: unknown key 'colour'\n"
    "error: broken.yaml:5: personas[0].titles: bad regular expression '(vp|chief': "
    "missing ): (vp|chief\n"
    "error: broken.yaml:11: scoring.fit.rules[0].points: Input should be a valid number, "
    "unable to parse string as a number\n"
)


def test_playbook_check_prints_every_problem_of_a_broken_playbook_with_file_and_line(sqlite_cli, tmp_path):
    (tmp_path / "broken.yaml").write_text(THREE_ERRORS, encoding="utf-8")
    result = sqlite_cli("playbook", "check", "broken.yaml")
    assert (result.code, result.out) == (1, "")
    assert result.err == THREE_ERROR_LINES


@pytest.mark.parametrize(("text", "line"), [
    pytest.param("name: x\nscoring:\n  fit:\n    maximum: 100\n",
                 "pb.yaml:4: scoring.fit: unknown key 'maximum'", id="unknown-key"),
    pytest.param("name: x\nscoring:\n  engagement:\n    half_life_days: soon\n",
                 "pb.yaml:4: scoring.engagement.half_life_days: Input should be a valid number, "
                 "unable to parse string as a number", id="bad-type"),
    pytest.param('name: x\nscoring:\n  engagement:\n    rules:\n      - id: hot\n'
                 '        when: {fit: {">=": 40}}\n        points: 5\n',
                 "pb.yaml:6: scoring.engagement.rules[0].when: unknown field 'fit' in an engagement rule "
                 "(known: context.*, event, name, path, properties.*, referrer, title, traits.*, type, url)",
                 id="unknown-condition-field"),
    pytest.param("name: x\npersonas:\n  - id: cto\n    titles: ['[cC]TO', 'chief (tech']\n",
                 "pb.yaml:4: personas[0].titles: bad regular expression 'chief (tech': "
                 "missing ): chief (tech", id="bad-regex"),
    pytest.param("name: x\nreasons:\n  recycle: [not_ready\n  reject: [bad_fit]\n",
                 "pb.yaml:4: expected ',' or ']', but got ':' (while parsing a flow sequence at line 3)",
                 id="yaml-syntax"),
    pytest.param("name: x\nhand_raisers:\n  - id: demo\n    when: {event: Demo Requested}\n    id: demo2\n",
                 "pb.yaml:5: duplicate key 'id' (first at line 3)", id="duplicate-key"),
])
def test_playbook_check_names_the_line_of_each_kind_of_problem(sqlite_cli, tmp_path, text, line):
    (tmp_path / "pb.yaml").write_text(text, encoding="utf-8")
    result = sqlite_cli("playbook", "check", "pb.yaml")
    assert (result.code, result.out) == (1, "")
    assert result.err == f"error: {line}\n"


EVERY_KIND = """name: every kind
scoring:
  fit:
    rules:
      - {id: big, when: {traits.employees: {">=": 100}}, points: 40}
      - {id: big, when: {traits.title: {contains: VP}}, points: 30}
      - {id: "Bad id!", when: {traits.title: {contains: VP}}, points: 30}
  engagement:
    rules:
      - {id: pricing, when: {path: /pricing}, points: .nan}
      - {id: p2, when: {traits..x: 1}, points: 5}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": .inf}}, {engagement: {">=": 30}}]}}
"""
EVERY_KIND_ISSUES = [
    "pb.yaml:6: scoring.fit.rules[1].id: rule id 'big' is used twice (first at scoring.fit.rules[0])",
    "pb.yaml:7: scoring.fit.rules[2].id: String should match pattern '^[a-z0-9][a-z0-9_.-]*$'",
    "pb.yaml:10: scoring.engagement.rules[0].points: Input should be a finite number",
    "pb.yaml:11: scoring.engagement.rules[1].when: 'traits..x' is not a field name: names and dots, no empty "
    "part and no spaces around them (e.g. traits.country)",
    "pb.yaml:13: stages.mql.entry.all[0]: 'fit >=' needs a finite number, got inf",
]


def test_playbook_check_reports_every_error_at_its_own_line_in_one_run_in_text_and_json(sqlite_cli, tmp_path):
    """Issue 13: a duplicate id was not reported when another error existed, a pattern printed as '^*$' (read as
    markup), NaN, infinity and `traits..x` validated, and `--json` printed nothing for an invalid file."""
    (tmp_path / "pb.yaml").write_text(EVERY_KIND, encoding="utf-8")
    text = sqlite_cli("playbook", "check", "pb.yaml")
    assert (text.code, text.out) == (1, "")
    assert text.err == "".join(f"error: {issue}\n" for issue in EVERY_KIND_ISSUES)
    as_json = sqlite_cli("playbook", "check", "pb.yaml", "--json")
    assert as_json.code == 1
    assert as_json.json() == {"file": "pb.yaml", "valid": False, "version": None, "issues": EVERY_KIND_ISSUES}


def test_a_command_given_a_broken_playbook_prints_its_errors_and_stores_nothing(sqlite_cli, tmp_path):
    (tmp_path / "broken.yaml").write_text(THREE_ERRORS, encoding="utf-8")
    events = write_events(tmp_path)
    result = sqlite_cli("--playbook", "broken.yaml", "ingest", events.path.name)
    assert (result.code, result.out) == (1, "")
    assert result.err == THREE_ERROR_LINES


# --------------------------------------------------------------------------- ingest


def test_ingest_keeps_the_good_messages_and_lists_the_rejected_lines_with_reasons(cli):
    events = write_events(cli.cwd)
    result = cli("ingest", events.path.name)
    assert result.code == 3
    assert result.out == ("received 10: accepted 8, duplicates 0, rejected 2; leads created 4, merged 0; "
                          "stage moves: 2 to lead, 1 to sal, 3 to subscriber\n"
                          "loaded as history: 1 handoff recorded, 3 notices not sent; deadlines already past are "
                          "recorded as breached, without alerts or escalation (--live treats a file as live "
                          "traffic)\n")
    assert result.err == (
        "rejected events.jsonl line 4: not JSON: Expecting property name enclosed in double quotes at column 2\n"
        "rejected events.jsonl line 7: missing messageId\n"
    )

    stored = cli("rejections", "list", "--json")
    assert stored.code == 0
    assert [{k: r[k] for k in ("source", "position", "message_id", "reason")} for r in stored.json()] == [
        {"source": "default", **INGEST_REJECTIONS[1]},
        {"source": "default", **INGEST_REJECTIONS[0]},
    ]


def test_ingest_json_prints_one_report_and_the_same_file_again_is_all_duplicates(cli):
    events = write_events(cli.cwd)
    first = cli("ingest", events.path.name, "--json")
    assert (first.code, first.err) == (3, "")
    assert first.json() == {
        "received": 10, "accepted": 8, "duplicates": 0, "rejected": 2, "leads_created": 4, "leads_merged": 0,
        "stage_moves": {"lead": 2, "sal": 1, "subscriber": 3}, "rejections": INGEST_REJECTIONS,
        "recorded_silently": {"handoffs": 1, "notices": 3},  # history: nobody is told
    }

    again = cli("ingest", events.path.name, "--json")
    assert (again.code, again.err) == (3, "")
    assert again.json() == {
        "received": 10, "accepted": 0, "duplicates": 8, "rejected": 2, "leads_created": 0, "leads_merged": 0,
        "stage_moves": {}, "rejections": INGEST_REJECTIONS, "recorded_silently": {"handoffs": 0, "notices": 0},
    }


def test_ingest_dash_reads_messages_from_stdin(sqlite_cli):
    lines = [
        json.dumps(identify(user="u-zoe", message_id="zoe-1", email="zoe@acme-corp.com", title="CEO",
                            employees=300)),
        "[1, 2",
        json.dumps(track("Demo Requested", user="u-zoe", message_id="zoe-2")),
    ]
    result = sqlite_cli("ingest", "-", "--json", stdin="\n".join(lines) + "\n")
    assert (result.code, result.err) == (3, "")
    report = result.json()
    assert report == {
        "received": 3, "accepted": 2, "duplicates": 0, "rejected": 1, "leads_created": 1, "leads_merged": 0,
        "stage_moves": {"lead": 1, "sal": 1, "subscriber": 1}, "recorded_silently": {"handoffs": 1, "notices": 2},
        "rejections": [{"position": "stdin line 2", "message_id": None, "reason": report["rejections"][0]["reason"]}],
    }
    assert report["rejections"][0]["reason"].startswith("not JSON: ")


def test_a_clean_ingest_prints_nothing_on_stderr(sqlite_cli):
    message = json.dumps(page("/", anon="quiet-1", message_id="quiet-1"))
    result = sqlite_cli("ingest", "-", "--json", stdin=message + "\n")
    assert result.code == 0
    assert result.json()["accepted"] == 1
    assert result.err == ""


def test_ingest_of_a_missing_file_is_one_error_line(sqlite_cli):
    result = sqlite_cli("ingest", "missing.jsonl")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: missing.jsonl: cannot read: No such file or directory\n"


def test_ingest_of_a_file_that_is_not_utf8_fails_cleanly(sqlite_cli, tmp_path):
    (tmp_path / "latin.jsonl").write_bytes(
        json.dumps(page("/", anon="a-1", message_id="l-1")).encode() + b"\n\xff\xfe caf\xe9\n")
    result = sqlite_cli("ingest", "latin.jsonl")
    assert result.code in (1, 3)
    assert "Traceback" not in result.err
    assert all(line.startswith(("error: ", "rejected ")) for line in result.err.splitlines())


# --------------------------------------------------------------------------- leads list / show


def test_leads_list_shows_known_leads_most_recent_activity_first(cli):
    events = ingested(cli)
    ago = events.ago

    listed = cli("leads", "list", "--json")
    assert (listed.code, listed.err) == (0, "")
    rows = listed.json()
    assert all(set(r) == {"id", "email", "stage", "segment", "source", "campaign", "owner", "persona", "fit_score",
                          "engagement_score", "last_activity_at"} for r in rows)
    expected = [
        {"id": 3, "email": "dave@tiny.io", "stage": "subscriber", "segment": "new", "persona": None,
         "fit_score": 10.0, "engagement_score": 0.0, "last_activity_at": iso(ago(2))},
        {"id": 2, "email": "bob@beta-inc.com", "stage": "lead", "segment": "new", "persona": "practitioner",
         "fit_score": 50.0, "engagement_score": pytest.approx(decayed(10, 4) + decayed(5, 3), abs=0.011),
         "last_activity_at": iso(ago(3))},
        {"id": 1, "email": "alice@acme-corp.com", "stage": "sal", "segment": "new", "persona": "economic_buyer",
         "fit_score": 80.0, "engagement_score": pytest.approx(decayed(10, 4), abs=0.011),
         "last_activity_at": iso(ago(3))},
    ]
    assert [(r["source"], r["campaign"]) for r in rows] == [(None, None)] * 3  # no activity named a source
    unsourced = ("owner", "source", "campaign")
    assert [{k: v for k, v in r.items() if k not in unsourced} for r in rows] == expected

    sal = cli("leads", "list", "--stage", "sal", "--json")
    assert sal.code == 0
    assert [{k: v for k, v in r.items() if k not in unsourced} for r in sal.json()] == expected[2:]


def test_leads_show_explains_a_lead_with_its_stage_history(cli):
    events = ingested(cli)
    ago = events.ago

    shown = cli("leads", "show", "ALICE@acme-corp.com", "--json")
    assert (shown.code, shown.err) == (0, "")
    lead = shown.json()
    assert {"id", "email", "stage", "fit_score", "engagement_score", "owner", "history"} <= set(lead)
    assert (lead["id"], lead["email"], lead["stage"], lead["fit_score"]) == (1, "alice@acme-corp.com", "sal", 80.0)
    assert lead["score_breakdown"]["fit"] == [
        {"rule": "economic_buyer", "points": 30.0}, {"rule": "company_size_sweet_spot", "points": 25.0},
        {"rule": "target_industry", "points": 15.0}, {"rule": "work_email", "points": 10.0},
    ]
    rule = {"activity_id": 1, "playbook_version": STARTER_VERSION}
    assert lead["history"] == [
        {"from": None, "to": "subscriber", "at": iso(ago(5)), "transition": "identify", "actor": "rule:identify",
         "reason": "identified", **rule},
        {"from": "subscriber", "to": "lead", "at": iso(ago(5)), "transition": "advance",
         "actor": "rule:stage.lead.entry", "reason": "lead entry criteria met (fit 80, engagement 0.0)", **rule},
        {"from": "lead", "to": "sal", "at": iso(ago(3)), "transition": "hand_raise",
         "actor": "rule:hand_raiser.demo_request", "reason": "hand-raiser 'demo_request'",
         "activity_id": 3, "playbook_version": STARTER_VERSION},
    ]


def test_leads_show_of_an_unknown_id_says_there_is_no_such_lead(sqlite_cli):
    result = sqlite_cli("leads", "show", "999999")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: no lead 999999\n"


def test_leads_list_of_an_unknown_stage_names_the_stages_there_are(sqlite_cli):
    result = sqlite_cli("leads", "list", "--stage", "nonsense")
    assert (result.code, result.out) == (1, "")
    assert result.err == ("error: unknown stage 'nonsense' (one of subscriber, lead, mql, sal, sql, opportunity, "
                          "customer, disqualified)\n")


# --------------------------------------------------------------------------- moving leads by hand


def test_recycling_a_sales_accepted_lead_sends_it_back_to_nurture(cli):
    ingested(cli)
    before = datetime.now(UTC)

    moved = cli("leads", "recycle", "alice@acme-corp.com", "--reason", "not_ready", "--json")
    assert (moved.code, moved.err) == (0, "")
    # Version 1: the hand-raiser's handoff gave the lead an owner in the same ingest.
    assert moved.json() == {"id": 1, "from": "sal", "to": "lead", "transition": "recycle", "reason": "not_ready",
                            "owner": None, "version": 2}

    lead = cli("leads", "show", "1", "--json").json()
    assert (lead["stage"], lead["segment"], lead["version"]) == ("lead", "recycled", 2)
    last = lead["history"][-1]
    assert datetime.fromisoformat(last.pop("at")) >= before - timedelta(seconds=1)
    assert last == {"from": "sal", "to": "lead", "transition": "recycle", "actor": "user:cli",
                    "reason": "not_ready", "activity_id": None, "playbook_version": STARTER_VERSION}


def test_recycle_without_a_reason_is_a_usage_error(sqlite_cli):
    result = sqlite_cli("leads", "recycle", "1")
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[-1] == "Error: Missing option '--reason' / '-r'."


def test_recycle_with_a_reason_the_playbook_does_not_list_names_the_allowed_reasons(sqlite_cli):
    result = sqlite_cli("leads", "recycle", "1", "--reason", "bored")
    assert (result.code, result.out) == (1, "")
    assert result.err == ("error: 'bored' is not a recycle reason in the playbook (one of changed_jobs, closed_lost, "
                          "no_budget_now, no_response, not_ready, under_contract)\n")


def test_a_subscriber_cannot_be_recycled(sqlite_cli):
    ingested(sqlite_cli)
    result = sqlite_cli("leads", "recycle", "dave@tiny.io", "--reason", "not_ready")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: cannot recycle a lead from subscriber to lead\n"


def test_disqualify_then_reopen_puts_the_lead_back_where_it_was(cli):
    ingested(cli)

    out = cli("leads", "disqualify", "bob@beta-inc.com", "--reason", "spam", "--by", "carla", "--json")
    assert (out.code, out.err) == (0, "")
    assert out.json() == {"id": 2, "from": "lead", "to": "disqualified", "transition": "disqualify",
                          "reason": "spam", "owner": None, "version": 1}

    back = cli("leads", "reopen", "bob@beta-inc.com", "--reason", "new_information", "--json")
    assert (back.code, back.err) == (0, "")
    assert back.json() == {"id": 2, "from": "disqualified", "to": "lead", "transition": "reopen",
                           "reason": "new_information", "owner": None, "version": 2}

    lead = cli("leads", "show", "2", "--json").json()
    assert (lead["stage"], lead["disqualified_by"], lead["version"]) == ("lead", None, 2)
    assert [(h["from"], h["to"], h["transition"], h["actor"], h["reason"]) for h in lead["history"][-2:]] == [
        ("lead", "disqualified", "disqualify", "user:carla", "spam"),
        ("disqualified", "lead", "reopen", "user:cli", "new_information"),
    ]


def test_a_move_with_a_stale_if_version_is_refused_and_changes_nothing(cli):
    ingested(cli)

    stale = cli("leads", "recycle", "1", "--reason", "not_ready", "--if-version", "5")
    assert (stale.code, stale.out) == (1, "")
    assert stale.err == "error: lead 1 is at version 1, not 5: read it again\n"
    lead = cli("leads", "show", "1", "--json").json()
    assert (lead["stage"], lead["version"], len(lead["history"])) == ("sal", 1, 3)

    current = cli("leads", "recycle", "1", "--reason", "not_ready", "--if-version", "1", "--json")
    assert current.code == 0
    assert current.json()["version"] == 2


# --------------------------------------------------------------------------- funnel


def test_funnel_counts_every_stage_in_order_with_conversion_and_disqualified(cli):
    ingested(cli)
    assert cli("leads", "disqualify", "dave@tiny.io", "--reason", "spam").code == 0

    result = cli("funnel", "--json")
    assert (result.code, result.err) == (0, "")
    assert result.json() == {
        "stages": [
            {"stage": "subscriber", "current": 0, "reached": 3, "conversion_to_next": 0.6667},
            # alice's demo request took her from lead straight to SAL: she never entered MQL, so
            # she counts neither as an MQL nor as converting from lead to MQL
            {"stage": "lead", "current": 1, "reached": 2, "conversion_to_next": 0.0},
            {"stage": "mql", "current": 0, "reached": 0, "conversion_to_next": None},
            {"stage": "sal", "current": 1, "reached": 1, "conversion_to_next": 0.0},
            {"stage": "sql", "current": 0, "reached": 0, "conversion_to_next": None},
            {"stage": "opportunity", "current": 0, "reached": 0, "conversion_to_next": None},
            {"stage": "customer", "current": 0, "reached": 0, "conversion_to_next": None},
        ],
        "disqualified": 1,
        "known_leads": 3,
        "anonymous_visitors": 1,
    }


# --------------------------------------------------------------------------- CSV import

CSV_HEADER = "Id,Email,Job Title,Employees,Industry\n"
CSV_ROWS = (
    "c-1,erin@delta-co.com,Head of Growth,250,Software\n"          # row 2: fine
    "c-2,frank@echo-ltd.com,Analyst,many,Retail\n"                 # row 3: not a number
    "c-3,grace@foxtrot.io,Director,40,Media,extra\n"               # row 4: too many fields
    ",,Marketing Manager,80,Software\n"                            # row 5: neither email nor id
    'c-5,heidi@golf-gmbh.de,Founder,"1,200",Financial Services\n'  # row 6: fine (1,200 is 1200)
)
MAPS = ["--map", "Job Title=title", "--map", "Employees=employees:int", "--map", "Industry=industry"]
CSV_REJECTIONS = [
    {"position": "leads.csv row 3", "message_id": None, "reason": "column 'Employees': 'many' is not a number"},
    {"position": "leads.csv row 4", "message_id": None, "reason": "has 6 fields, the header has 5"},
    {"position": "leads.csv row 5", "message_id": None, "reason": "no email and no id: cannot tell who this lead is"},
]


def test_import_keeps_good_rows_and_reports_bad_ones_by_row_number(cli, tmp_path):
    (tmp_path / "leads.csv").write_text(CSV_HEADER + CSV_ROWS, encoding="utf-8")
    result = cli("import", "leads.csv", "--email-column", "Email", "--id-column", "Id", *MAPS, "--json")
    assert (result.code, result.err) == (3, "")
    assert result.json() == {
        "received": 5, "accepted": 2, "duplicates": 0, "rejected": 3, "leads_created": 2, "leads_merged": 0,
        "stage_moves": {"lead": 2, "subscriber": 2}, "rejections": CSV_REJECTIONS,
        "recorded_silently": {"handoffs": 0, "notices": 0},
    }

    rows = cli("leads", "list", "--json").json()
    # fit 80 includes company_size_sweet_spot: Employees arrived as a number, not as text
    assert sorted((r["email"], r["stage"], r["persona"], r["fit_score"]) for r in rows) == [
        ("erin@delta-co.com", "lead", "economic_buyer", 80.0),
        ("heidi@golf-gmbh.de", "lead", "economic_buyer", 80.0),
    ]


def test_import_of_a_csv_with_only_an_email_column_creates_the_leads(sqlite_cli, tmp_path):
    text = "".join(line.partition(",")[2] + "\n" for line in (CSV_HEADER + CSV_ROWS).splitlines())
    (tmp_path / "leads.csv").write_text(text, encoding="utf-8")
    result = sqlite_cli("import", "leads.csv", *MAPS)
    assert result.code == 3
    assert result.err == (
        "rejected leads.csv row 3: column 'Employees': 'many' is not a number\n"
        "rejected leads.csv row 4: has 5 fields, the header has 4\n"
        "rejected leads.csv row 5: no email and no id: cannot tell who this lead is\n"
    )
    assert result.out.startswith("received 5: accepted 2, duplicates 0, rejected 3; leads created 2, ")


@pytest.mark.parametrize(("spec", "message"), [
    ("Job Title", "error: --map 'Job Title': expected COLUMN=trait or COLUMN=trait:type"),
    ("Employees=employees:integer",
     "error: --map 'Employees=employees:integer': unknown type 'integer' (one of text, int, float, bool)"),
])
def test_import_with_a_bad_map_spec_explains_the_expected_form(sqlite_cli, tmp_path, spec, message):
    (tmp_path / "leads.csv").write_text(CSV_HEADER + CSV_ROWS, encoding="utf-8")
    result = sqlite_cli("import", "leads.csv", "--map", spec)
    assert (result.code, result.out) == (1, "")
    assert result.err == message + "\n"


def test_import_mapping_a_column_not_in_the_header_names_it_and_writes_nothing(sqlite_cli, tmp_path):
    (tmp_path / "leads.csv").write_text(CSV_HEADER + CSV_ROWS, encoding="utf-8")
    result = sqlite_cli("import", "leads.csv", "--map", "Phone=phone")
    assert (result.code, result.out) == (1, "")
    assert result.err == ("error: leads.csv: no column 'Phone' in the header "
                          "(columns: Id, Email, Job Title, Employees, Industry)\n")
    listed = sqlite_cli("leads", "list", "--json")
    assert (listed.code, listed.out) == (0, "[]\n")


def test_import_of_a_csv_that_is_not_utf8_fails_cleanly(sqlite_cli, tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"Email,Name\nzoe@acme-corp.com,J\xe9r\xf4me\n")
    result = sqlite_cli("import", "latin.csv", "--map", "Name=name")
    assert result.code in (1, 3)
    assert "Traceback" not in result.err
    assert all(line.startswith(("error: ", "rejected ")) for line in result.err.splitlines())


# --------------------------------------------------------------------------- rescore


def test_rescore_with_a_lower_mql_threshold_promotes_leads_once(cli, tmp_path):
    ingested(cli)
    strict = 'entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}'
    assert starter_text().count(strict) == 1
    lower = starter_text().replace(strict, 'entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 10}}]}')
    (tmp_path / "lower.yaml").write_text(lower, encoding="utf-8")
    version = parse_playbook(lower, "lower.yaml").version

    first = cli("--playbook", "lower.yaml", "rescore", "--json")
    assert (first.code, first.err) == (0, "")
    assert first.json() == {"leads": 4, "activities": 8, "stage_changed": 1, "moves": {"mql": 1},
                            "handoffs_opened": 1, "playbook_version": version}  # the new MQL is handed over

    second = cli("--playbook", "lower.yaml", "rescore", "--json")
    assert (second.code, second.err) == (0, "")
    assert second.json() == {"leads": 4, "activities": 8, "stage_changed": 0, "moves": {},
                             "handoffs_opened": 0, "playbook_version": version}

    mql = cli("leads", "list", "--stage", "mql", "--json").json()
    assert [(r["email"], r["fit_score"]) for r in mql] == [("bob@beta-inc.com", 50.0)]


# --------------------------------------------------------------------------- databases


def test_a_database_that_does_not_answer_is_one_error_line_without_the_password(tmp_path):
    cli = Cli(tmp_path, "postgresql://postgres:secret@127.0.0.1:1/none")
    result = cli("leads", "list")
    assert (result.code, result.out) == (1, "")
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith("error: cannot connect to postgresql+psycopg://postgres:***@127.0.0.1:1/none: ")
    assert "secret" not in result.err


def test_a_malformed_database_url_is_one_error_line(tmp_path):
    result = Cli(tmp_path, None)("--database", "notaurl", "leads", "list")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: bad database URL 'notaurl': Could not parse SQLAlchemy URL from given URL string\n"


def test_postgresql_without_its_driver_says_which_extra_to_install(tmp_path):
    """psycopg is the `postgresql` extra (issue 13, tooling): a SQLite install that is pointed at PostgreSQL says
    what to install, in one line. The driver is hidden from a real `leadrelay` process."""
    hide = "import sys; sys.modules['psycopg'] = None; from leadrelay.entrypoints.cli.app import main; main()"
    proc = subprocess.run([sys.executable, "-c", hide, "leads", "list"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "LEADRELAY_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"})
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: no database driver for 'postgresql+psycopg://postgres@127.0.0.1:5432/test'")
    assert "pip install 'leadrelay[postgresql]'" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_a_malformed_database_url_does_not_print_its_password(tmp_path):
    result = Cli(tmp_path, "postgresql://u:secret@127.0.0.1:notaport/db")("leads", "list")
    assert result.code == 1
    assert result.err.startswith("error: bad database URL ")
    assert "secret" not in result.err


def test_a_database_url_for_a_missing_driver_is_one_error_line(tmp_path):
    result = Cli(tmp_path, "mysql://u@127.0.0.1/db")("leads", "list")
    assert (result.code, result.out) == (1, "")
    assert "Traceback" not in result.err
    assert len(result.err.splitlines()) == 1 and result.err.startswith("error: ")


def test_a_bad_setting_in_the_environment_is_one_error_line(sqlite_cli):
    sqlite_cli.env["LEADRELAY_BATCH_SIZE"] = "0"
    result = sqlite_cli("leads", "list")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: bad setting LEADRELAY_BATCH_SIZE='0': Input should be greater than or equal to 1\n"


def test_a_command_leaves_no_connection_open_on_its_sqlite_database(sqlite_cli, tmp_path):
    ingested(sqlite_cli)
    # SQLite removes the write-ahead log when the last connection to the database closes.
    assert not (tmp_path / "leadrelay.db-wal").exists()


def test_a_columns_value_that_is_not_a_number_does_not_stop_a_command(sqlite_cli):
    ingested(sqlite_cli)
    sqlite_cli.env["COLUMNS"] = "wide"
    result = sqlite_cli("leads", "list")
    assert (result.code, result.err) == (0, "")
    assert "alice@acme-corp.com" in result.out


def test_db_status_reports_up_to_date_once_any_command_ran(tmp_path, empty_database_url):
    cli = Cli(tmp_path, empty_database_url)
    head = head_revision()
    fresh = cli("db", "status", "--json")
    assert (fresh.code, fresh.err) == (0, "")
    assert fresh.json() == {"current": None, "head": head, "up_to_date": False}

    assert cli("leads", "list", "--json").out == "[]\n"

    after = cli("db", "status", "--json")
    assert after.code == 0
    assert after.json() == {"current": head, "head": head, "up_to_date": True}


def test_demo_with_a_malformed_database_url_is_one_error_line_and_deletes_nothing(tmp_path):
    (tmp_path / "notaurl").write_text("keep me\n", encoding="utf-8")
    result = Cli(tmp_path, None)("demo", "--database", "notaurl", "--fresh")
    assert (result.code, result.out) == (1, "")
    assert result.err == "error: bad database URL 'notaurl': Could not parse SQLAlchemy URL from given URL string\n"
    assert (tmp_path / "notaurl").read_text(encoding="utf-8") == "keep me\n"


def test_demo_runs_the_starter_playbook_on_a_generated_stream(tmp_path):
    result = Cli(tmp_path, None)("demo", "--visitors", "200", "--database", "sqlite:///demo.db", "--json")
    assert (result.code, result.err) == (0, "")
    demo = result.json()
    assert set(demo) == {"messages", "ingest", "funnel", "examples", "sales", "reps", "sla", "handoffs", "deals",
                         "spend", "alerts", "notifications", "segments", "web"}
    busiest = max(demo["reps"], key=lambda r: (r["open_leads"], r["assigned_total"]))
    assert set(demo["web"]["tokens"]) == {f"rep {busiest['id']}", f"manager of {busiest['team']}", "marketing",
                                          "admin"}
    assert demo["spend"] == {"rows": 12, "imported": 12, "rejected": 0, "rejections": []}
    assert set(demo["alerts"]) == {"fired", "example"}
    assert set(demo["alerts"]["fired"]) <= {"key_page", "nurtured", "waking_up"}
    assert demo["ingest"]["received"] == demo["messages"] > 0
    assert [s["stage"] for s in demo["funnel"]["stages"]] == STAGE_NAMES
    assert demo["funnel"]["known_leads"] > 0
    # The handoff side: leads assigned to reps, with SLA clocks that the worker swept.
    assert sum(rep["assigned_total"] for rep in demo["reps"]) > 0
    assert demo["sales"]["accept"] > 0 and any(k.startswith("sweep ") for k in demo["sales"])
    assert {row["policy"] for row in demo["sla"]["sales"]} >= {"mql_acceptance"}
    deals = demo["deals"]
    assert deals["qualified"] >= deals["sql"] >= deals["converted"] >= deals["won"] + deals["lost"]
    assert deals["converted"] > 0 and set(deals["forecast"]) == {"as_of", "week", "by", "rows", "totals", "snapshots"}
    assert (tmp_path / "demo.db").is_file()


def test_the_demo_runs_on_either_database(tmp_path, empty_database_url):
    """Regression: on PostgreSQL the demo stopped at its summary of alerts (a JSON path grouped by its own
    parameter, which PostgreSQL refuses as a different expression); `make demo` runs SQLite only."""
    result = Cli(tmp_path, None)("demo", "--visitors", "200", "--database", empty_database_url, "--json")
    assert (result.code, result.err) == (0, "")
    assert set(result.json()["alerts"]) == {"fired", "example"}


@pytest.mark.slow  # the full default demo: about 11 s
def test_the_full_demo_stores_and_shows_one_of_each_signal_the_crm_and_email_tool_get(tmp_path):
    """`make demo`'s run: alerts, form abandonment and meeting no-shows reach the outbox, with an example of each."""
    result = Cli(tmp_path, None)("demo", "--database", "sqlite:///demo.db", "--json")
    assert (result.code, result.err) == (0, "")
    notices = result.json()["notifications"]
    for event_type in ("alert.fired", "followup.due", "meeting.no_show", "meeting.booked", "meeting.held"):
        assert notices["stored"].get(event_type, 0) > 0, event_type
    examples = notices["examples"]
    assert [example["type"] for example in examples] == ["alert.fired", "followup.due", "followup.due",
                                                         "meeting.no_show"]
    followups = {example["why"].split(":")[0]: example["to"] for example in examples
                 if example["type"] == "followup.due"}
    assert followups == {"demo_form_abandoned": "email_tool", "trial_unused": "email_tool"}
    assert examples[-1]["why"].startswith("no-show at the meeting of ")
    assert set(result.json()["alerts"]["fired"]) == {"key_page", "nurtured", "waking_up"}
    recycled = result.json()["segments"]
    assert recycled["leads"] == sum(recycled["by_reason"].values()) > 0


def test_the_demo_prints_tokens_that_open_the_web_app_on_its_data(tmp_path):
    from fastapi.testclient import TestClient

    from leadrelay.bootstrap import bootstrap
    from leadrelay.entrypoints.server import create_app
    from leadrelay.playbook.loader import starter_playbook
    from leadrelay.settings import Settings

    demo = Cli(tmp_path, None)("demo", "--visitors", "200", "--database", "sqlite:///demo.db", "--json").json()
    rep = next(name for name in demo["web"]["tokens"] if name.startswith("rep "))
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"), playbook=starter_playbook())
    try:
        with TestClient(create_app(app), follow_redirects=False) as web:
            assert web.post("/login", data={"token": demo["web"]["tokens"][rep]}).status_code == 303
            queue = web.get("/")
            assert queue.status_code == 200 and "My queue" in queue.text and "/leads/" in queue.text
    finally:
        app.close()


def test_a_named_playbook_that_does_not_exist_is_an_error_not_the_starter(tmp_path):
    """Issue 13: `rescore` with a typo in --playbook ran the built-in starter and changed stages, exit 0."""
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")
    run = cli("--playbook", "playbok.yaml", "rescore")
    assert run.code == 1 and "--playbook playbok.yaml: no such file" in run.err
    cli.env["LEADRELAY_PLAYBOOK"] = "missing.yaml"
    assert "--playbook missing.yaml: no such file" in cli("leads", "list").err


def test_rescoring_with_the_built_in_starter_says_so(tmp_path):
    """Issue 13: the starter may run only when nothing is named and nothing was activated, and then the output
    says so."""
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")
    run = cli("rescore")
    assert run.code == 0 and run.err.startswith("note: that was the built-in starter playbook")
    (tmp_path / "mine.yaml").write_text(starter_text().replace("Acme Analytics starter", "Mine"), encoding="utf-8")
    named = cli("--playbook", "mine.yaml", "rescore")
    assert (named.code, named.err) == (0, "")


def test_a_lead_is_found_by_its_numeric_crm_id(tmp_path):
    """Issue 13: `leads show 1008` looked for LeadRelay's own id 1008 only."""
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")
    (tmp_path / "crm.csv").write_text("CRM Id,Email,Title\n1008,ann@corp.example,VP Sales\n", encoding="utf-8")
    assert cli("import", "crm.csv", "--id-column", "CRM Id", "--email-column", "Email",
               "--map", "Title=title").code == 0
    shown = cli("leads", "show", "1008", "--json")
    assert shown.code == 0 and shown.json()["email"] == "ann@corp.example" and shown.json()["id"] == 1
    assert cli("leads", "show", "1", "--json").json()["id"] == 1  # its own id still works
    missing = cli("leads", "show", "4242")
    assert missing.code == 1 and "no lead 4242" in missing.err


def test_a_token_can_be_made_to_expire_and_a_bad_lifetime_is_told(sqlite_cli):
    made = sqlite_cli("tokens", "create", "--role", "marketing", "--valid-for", "90d", "--json")
    assert made.code == 0, made.err
    token = made.json()["token"]
    assert datetime.fromisoformat(token["valid_until"]) - datetime.fromisoformat(token["created_at"]) == \
        timedelta(days=90)
    listed = sqlite_cli("tokens", "list")
    assert "valid until" in listed.out
    bad = sqlite_cli("tokens", "create", "--role", "marketing", "--valid-for", "soon")
    assert bad.code == 2 and "bad duration: 'soon'" in bad.err
