"""Text a database cannot store is refused message by message, the same on SQLite and PostgreSQL, through the
service, HTTP and the CLI: a NUL character or a lone surrogate anywhere in a message (names, ids, keys, values,
nested context), and ids or domains longer than their columns. Every good message beside it is kept.

Issue 13: one such message answered 500 for its whole batch (a real Segment SDK retried 99 good events forever),
and a CLI ingest stopped part-way with exit 1. Also files that tripped the readers: a byte-order mark lost the first
message of a JSONL file, and a semicolon-separated CSV was "no email column"."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from leadrelay.activity.service import ingest
from leadrelay.storage import tables as t
from tests.e2e.cli import Cli
from tests.messages import group, identify, numbered, track

NUL, LOW, HIGH = "a\x00b", "x\udc00y", "x\ud800"
LONG = "x" * 300


def placed(where: str, bad: str) -> tuple[dict, str]:
    """A message carrying `bad` at `where`, and the field the rejection must name."""
    message = track("Pricing Viewed", user="bad-user", properties={"plan": "team"})
    if where == "event":
        message["event"] = bad
    elif where == "userId":
        message["userId"] = bad
    elif where == "anonymousId":
        message["anonymousId"] = bad
    elif where == "messageId":
        message["messageId"] = bad
    elif where == "property value":
        message["properties"]["plan"] = bad
        return message, "properties.plan"
    elif where == "property key":
        message["properties"][bad] = 1
        return message, "properties"
    elif where == "nested list":
        message["properties"]["tags"] = ["ok", {"deep": bad}]
        return message, "properties.tags[1].deep"
    elif where == "context":
        message["context"] = {"page": {"path": bad}}
        return message, "context.page.path"
    elif where == "context.groupId":
        message["context"] = {"groupId": bad}
        return message, "context.groupId"
    elif where == "email":
        message = identify(user="bad-user", email=bad)
        return message, "traits.email"
    elif where == "groupId":
        message = group(bad, user="bad-user", name="Acme")
    elif where == "account domain":
        message = group("acme", user="bad-user", domain=bad)
        return message, "traits.domain"
    return message, where


TEXT_PLACES = ["event", "userId", "anonymousId", "messageId", "property value", "property key", "nested list",
               "context", "context.groupId", "email", "groupId"]
LONG_PLACES = ["userId", "anonymousId", "context.groupId", "groupId", "account domain"]
CASES = [(where, bad) for where in TEXT_PLACES for bad in (NUL, LOW, HIGH)] + \
        [(where, LONG) for where in LONG_PLACES] + [("email", "ann@" + "d" * 250 + ".example")]


def around(message: dict) -> list[tuple[str, dict]]:
    return numbered([identify(user="good-1", email="good1@corp.example"), message,
                     track("Demo Requested", user="good-1")])


def activities(app) -> int:
    with app.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(t.activities))


@pytest.mark.parametrize(("where", "bad"), CASES, ids=[f"{w}-{b[:6]!r}" for w, b in CASES])
def test_a_message_with_unstorable_text_is_refused_alone_and_the_rest_kept(app, where, bad):
    message, field = placed(where, bad)
    report = ingest(app, around(message))
    assert (report.accepted, report.rejected) == (2, 1), report.rejections
    [rejection] = report.rejections
    assert rejection.position == "test message 2" and field in rejection.reason, rejection.reason
    assert activities(app) == 2
    with app.engine.connect() as conn:
        stored = conn.execute(select(t.rejections.c.reason, t.rejections.c.payload)).one()
    assert stored.reason == rejection.reason and "\x00" not in stored.payload


def test_the_segment_endpoint_keeps_the_good_events_of_a_batch_with_a_bad_one(app):
    from fastapi.testclient import TestClient

    from leadrelay.access.tokens import create_token
    from leadrelay.entrypoints.api.app import create_app
    from tests.api.test_ingest_segment import basic

    _, secret = create_token(app.engine, "ingest", source="sdk", now=app.clock())
    batch = [track("Page Scrolled", user=f"sdk-{n}") for n in range(99)]
    batch.insert(50, track("x\udc00", user="sdk-bad"))
    body = json.dumps({"batch": batch})  # the lone surrogate goes over the wire as the escape \udc00
    assert "\\udc00" in body
    with TestClient(create_app(app)) as client:
        response = client.post("/v1/batch", content=body, headers={**basic(secret), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert activities(app) == 99


def test_the_cli_ingests_every_good_line_of_a_file_with_unstorable_text(tmp_path, database_url):
    lines = [json.dumps(track("Page Scrolled", user=f"cli-{n}")) for n in range(30)]
    lines[10] = json.dumps(track("Pricing Viewed", user="cli-nul", properties={"note": "a\x00b"}))
    lines[20] = json.dumps(identify(user="x\udc00", email="ok@corp.example"))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = Cli(tmp_path, database_url)("ingest", str(path), "--json")
    assert run.code == 3, run.err  # done, some input rejected
    report = run.json()
    assert (report["accepted"], report["rejected"]) == (28, 2)
    assert [r["position"] for r in report["rejections"]] == ["events.jsonl line 11", "events.jsonl line 21"]


def test_a_cli_ingest_stopped_part_way_by_the_database_says_what_was_stored_and_resumes(tmp_path):
    """The database refuses the third transaction (a trigger stands in for a full disk): exit 4 with the count of
    messages committed before it, not exit 1's "nothing changed"; the same command again finishes the file."""
    import sqlite3

    database = tmp_path / "leadrelay.db"
    cli = Cli(tmp_path, f"sqlite:///{database}")
    cli.env["LEADRELAY_BATCH_SIZE"] = "10"
    lines = [json.dumps(track("Page Scrolled", user=f"part-{n}", message_id=f"m{n}")) for n in range(50)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli("db", "upgrade").code == 0
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TRIGGER full BEFORE INSERT ON activities WHEN NEW.message_id = 'm25' "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    run = cli("ingest", str(path))
    assert run.code == 4, run.err
    assert "database or disk is full" in run.err
    assert "the first 20 messages were handled and committed (20 stored)" in run.err
    with sqlite3.connect(database) as conn:
        conn.execute("DROP TRIGGER full")
        assert conn.execute("SELECT count(*) FROM activities").fetchone() == (20,)
    again = cli("ingest", str(path), "--json")
    assert again.code == 0 and (again.json()["accepted"], again.json()["duplicates"]) == (30, 20)


def test_a_jsonl_file_that_starts_with_a_byte_order_mark_keeps_its_first_message(tmp_path, database_url):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(track("Page Scrolled", user="bom-1")).encode() + b"\n"
                     + json.dumps(track("Page Scrolled", user="bom-2")).encode() + b"\n")
    report = Cli(tmp_path, database_url)("ingest", str(path), "--json").json()
    assert (report["accepted"], report["rejected"]) == (2, 0)


def test_a_semicolon_separated_csv_is_named_as_such(tmp_path, database_url):
    path = tmp_path / "excel.csv"
    path.write_text("Email;Job Title\nann@corp.example;VP Sales\n", encoding="utf-8")
    run = Cli(tmp_path, database_url)("import", str(path))
    assert run.code == 1 and "the file looks separated by semicolons" in run.err
