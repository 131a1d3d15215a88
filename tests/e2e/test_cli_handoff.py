"""End-to-end: the handoff commands through the `leadrelay` command line, in process (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from leadrelay.core.time import utc_iso
from tests.e2e.cli import Cli
from tests.messages import identify, track

NOW = datetime.now(UTC).replace(microsecond=0)


def stream(*messages) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def seeded(tmp_path) -> Cli:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'lr.db'}")
    earlier = NOW - timedelta(minutes=10)
    result = cli("ingest", "-", "--json", "--live", stdin=stream(
        identify(user="u1", when=earlier, email="jane@acme-corp.com", title="VP Sales", employees=300, country="US"),
        track("Demo Requested", user="u1", when=earlier + timedelta(seconds=5)),
        identify(user="u2", when=earlier, email="olaf@nordic.de", title="Head of Growth", employees=90, country="DE"),
        track("Contact Sales Submitted", user="u2", when=earlier + timedelta(seconds=5)),
    ))
    assert result.code == 0, result.err
    return cli


def test_hand_raisers_are_routed_and_a_rep_sees_them_in_their_queue(tmp_path):
    cli = seeded(tmp_path)
    explained = cli("leads", "route-explain", "jane@acme-corp.com", "--json").json()
    assert (explained["owner"], explained["decisions"][0]["rule"]) == ("alice", "sdr_everyone_else")
    assert cli("leads", "route-explain", "olaf@nordic.de", "--json").json()["owner"] == "chloe"  # rule emea
    queue = cli("leads", "queue", "alice", "--json").json()
    assert [(q["email"], q["kind"]) for q in queue] == [("jane@acme-corp.com", "hand_raise")]


def test_a_rep_accepts_and_touches_and_the_worker_finds_nothing_to_escalate(tmp_path):
    cli = seeded(tmp_path)
    assert cli("leads", "touch", "jane@acme-corp.com", "--rep", "alice", "--kind", "call",
               "--outcome", "connected").code == 0
    accepted = cli("leads", "accept", "jane@acme-corp.com", "--rep", "alice", "--json")
    assert (accepted.code, accepted.json()["stage"]) == (0, "sal")
    wrong = cli("leads", "accept", "olaf@nordic.de", "--rep", "alice")
    assert (wrong.code, wrong.err) == (1, "error: lead 2 is owned by chloe, not alice\n")
    later = (NOW + timedelta(hours=1)).isoformat()
    sweep = cli("worker", "--once", "--now", later, "--json").json()
    # Both hand-raisers came in 10 minutes ago: jane's touch was late (the breach stays on record, her
    # warning and escalations are skipped); olaf was never touched: warned, breached, escalated, reassigned.
    assert sweep["timers"] == {"warning": 1, "breach": 2, "escalation:notify_manager": 1,
                               "escalation:reassign": 1, "skipped": 3}
    assert cli("leads", "route-explain", "olaf@nordic.de", "--json").json()["owner"] == "david"


def test_the_worker_writes_the_moment_of_each_sweep_in_utc(tmp_path):
    moment = NOW + timedelta(minutes=1)
    berlin = moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    result = seeded(tmp_path)("worker", "--once", "--now", berlin)
    assert result.code == 0, result.err
    assert result.out.startswith(f"{utc_iso(moment)} timers: "), result.out  # one line for people
    assert "notices recorded without sending; delivered:" in result.out


def test_reps_can_be_changed_at_run_time_and_the_suppression_list_exported(tmp_path):
    cli = seeded(tmp_path)
    changed = cli("reps", "set", "ben", "--inactive", "--capacity", "10", "--json").json()
    assert (changed["active"], changed["capacity"]) == (False, 10)
    reps = {r["id"]: r for r in cli("reps", "list", "--json").json()}
    assert (reps["ben"]["active"], reps["alice"]["open_leads"]) == (False, 1)
    exported = cli("suppression", "export", "--channel", "email")
    assert exported.out.splitlines()[0] == "email,channel,reason,permanent,since"
    assert sorted(line.split(",")[0] for line in exported.out.splitlines()[1:]) == [
        "jane@acme-corp.com", "olaf@nordic.de"]
    bad = cli("reps", "set", "nobody", "--inactive")
    assert (bad.code, bad.err) == (1, "error: no rep 'nobody' in the playbook\n")


def test_a_recycle_by_the_owner_lifts_the_suppression(tmp_path):
    cli = seeded(tmp_path)
    moved = cli("leads", "recycle", "jane@acme-corp.com", "--rep", "alice", "--reason", "not_ready", "--json")
    assert (moved.code, moved.json()["to"], moved.json()["owner"]) == (0, "lead", None)
    assert "jane@acme-corp.com" not in cli("suppression", "export").out
    report = cli("sla", "report", "--json").json()
    assert report["marketing"]["target"] == 100


def test_unknown_reps_and_a_pretend_moment_without_once_are_refused(tmp_path):
    cli = seeded(tmp_path)
    assert (cli("leads", "queue", "zoe").code, cli("leads", "queue", "zoe").err) == (
        1, "error: no rep 'zoe' in the playbook\n")
    touch = cli("leads", "touch", "jane@acme-corp.com", "--rep", "zoe", "--kind", "call", "--outcome", "connected")
    assert (touch.code, touch.err) == (1, "error: no rep 'zoe' in the playbook\n")
    pretend = cli("worker", "--now", NOW.isoformat())
    assert pretend.code == 2 and "Invalid value for --now: pretends one moment: use it with --once" in " ".join(
        pretend.err.split())  # a usage error, as the README says


def test_reassigning_to_nobody_is_refused_and_the_lead_stays_with_its_owner(tmp_path):
    cli = seeded(tmp_path)
    assert cli("reps", "set", "ben", "--inactive").code == 0
    moved = cli("leads", "reassign", "jane@acme-corp.com", "--by", "dana")
    assert moved.code == 1 and moved.err.startswith("error: nobody else can take lead 1 now (")
    assert cli("leads", "route-explain", "jane@acme-corp.com", "--json").json()["owner"] == "alice"
    inactive = cli("leads", "reassign", "jane@acme-corp.com", "--to", "ben", "--by", "dana")
    assert (inactive.code, inactive.err) == (1, "error: ben cannot take leads now (inactive)\n")


def test_the_suppression_export_quotes_a_reason_with_a_comma_or_a_quote(tmp_path):
    import csv
    import io

    import yaml

    from leadrelay.playbook.loader import starter_text

    data = yaml.safe_load(starter_text())
    reason = 'unsubscribed, "never again"'
    data["suppression"]["permanent"] = [{"id": "unsub", "when": {"event": "Email Unsubscribed"}, "reason": reason}]
    (tmp_path / "playbook.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")
    events = [identify(user="u1", email="quote@corp.example"), track("Email Unsubscribed", user="u1")]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    assert cli("--playbook", "playbook.yaml", "ingest", "events.jsonl").code == 0
    exported = cli("--playbook", "playbook.yaml", "suppression", "export")
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert [(r["email"], r["reason"], r["permanent"]) for r in rows] == [("quote@corp.example", reason, "true")]
