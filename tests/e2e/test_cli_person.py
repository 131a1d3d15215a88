"""End-to-end: `leadrelay person export|erase` through the command line, in process (SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.e2e.cli import Cli
from tests.messages import identify, track

NOW = datetime.now(UTC).replace(microsecond=0)


def stream(*messages) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


def seeded(tmp_path) -> Cli:
    cli = Cli(tmp_path, f"sqlite:///{tmp_path / 'lr.db'}")
    earlier = NOW - timedelta(minutes=10)
    result = cli("ingest", "-", "--json", "--live", stdin=stream(
        identify(user="u1", when=earlier, email="jane@acme-corp.com", first_name="Jane", title="VP Sales"),
        track("Demo Requested", user="u1", when=earlier + timedelta(seconds=5)),
    ))
    assert result.code == 0, result.err
    return cli


def test_export_prints_one_json_document_with_what_was_ingested(tmp_path):
    cli = seeded(tmp_path)
    result = cli("person", "export", "jane@acme-corp.com")
    assert result.code == 0, result.err
    document = result.json()
    assert (document["lead"]["email"], document["lead"]["traits"]["first_name"]) == ("jane@acme-corp.com", "Jane")
    assert [a["type"] for a in document["activities"]] == ["identify", "track"]
    assert len(document["handoffs"]) == 1


def test_erase_then_erase_again_then_the_next_message_is_refused(tmp_path):
    cli = seeded(tmp_path)
    first = cli("person", "erase", "jane@acme-corp.com", "--reason", "GDPR request 5", "--by", "dpo", "--json")
    assert first.code == 0, first.err
    erased = first.json()
    assert (erased["erased_by"], erased["reason"], erased["already_erased"]) == ("user:dpo", "GDPR request 5", False)

    again = cli("person", "erase", "jane@acme-corp.com", "--reason", "twice")
    assert (again.code, again.err) == (0, "")
    assert again.out.startswith(f"lead {erased['lead_id']} was already erased (erasure {erased['erasure']}")

    refused = cli("ingest", "-", "--json", "--live", stdin=stream(identify(user="u1", when=NOW, first_name="Jane")))
    assert refused.code == 3  # done, but some input was rejected
    reasons = [r["reason"] for r in refused.json()["rejections"]]
    assert reasons == [f"about a person erased on request (erasure {erased['erasure']}): not stored; an identify "
                       "call with traits.consent: true lets them in again"]
    assert "jane" not in cli("person", "export", str(erased["lead_id"])).out.lower()


def test_an_unknown_person_or_a_missing_reason_exits_with_an_error(tmp_path):
    cli = seeded(tmp_path)
    unknown = cli("person", "erase", "nobody@nowhere.example", "--reason", "x")
    assert (unknown.code, unknown.err.strip()) == (1, "error: no lead nobody@nowhere.example")
    assert cli("person", "export", "nobody@nowhere.example").code == 1
    assert cli("person", "erase", "jane@acme-corp.com").code == 2  # --reason is required
