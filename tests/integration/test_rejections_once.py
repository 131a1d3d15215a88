"""A message turned away is stored once, however often it is sent: on SQLite and PostgreSQL, over HTTP and the CLI.

The finding (issue 13): a Segment SDK retries a batch after a 5xx or a timeout, and a CLI user runs
`leadrelay ingest FILE` again after fixing part of it; each time every rejected message was stored as a
new row, so `leadrelay rejections list`, `GET /api/rejections` and the ops page showed it again and again.
Now the same message (source and message id; with no message id, source and payload, wherever it was)
turned away for the same reason is one row: its first `received_at`, how often it was `seen`, and when last. Every
caller is still told about every rejection, as before.
"""

from __future__ import annotations

import base64
import json

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from leadrelay.access.tokens import create_token
from leadrelay.activity.queries import rejections as rejection_page
from leadrelay.activity.service import ingest
from leadrelay.entrypoints.api.app import create_app
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config, upgrade
from tests.conftest import T0
from tests.e2e.cli import Cli
from tests.messages import at, identify, page, track


@pytest.fixture
def client(app):
    with TestClient(create_app(app)) as test_client:
        yield test_client


@pytest.fixture
def write_key(app) -> str:
    return create_token(app.engine, "ingest", now=app.clock(), source="web")[1]


def post_batch(client, body: dict, key: str) -> tuple[dict, str]:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    response = client.post("/v1/batch", content=json.dumps(body).encode(),
                           headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json(), response.headers["X-Request-ID"]


def stored(app) -> list[tuple]:
    """(source, message id, position, reason, seen) of every stored rejection, in the order they were stored."""
    c = t.rejections.c
    with app.engine.connect() as conn:
        rows = conn.execute(select(c.source, c.message_id, c.position, c.reason, c.seen).order_by(c.id))
        return [tuple(row) for row in rows]


def test_a_batch_sent_three_times_stores_its_two_bad_messages_once_and_every_answer_lists_them(app, client,
                                                                                            write_key, clock):
    batch = {"batch": [identify(user="jane", when=at(-1), email="jane@acme.io", message_id="good"),
                       {**track("Demo Requested", user="jane", message_id="no-event"), "event": None},
                       track("Webinar Attended", user="jane", when="yesterday", message_id="no-time")]}

    answers = []
    for _ in range(3):  # the SDK did not see the first two answers and sent the batch again
        answer, request_id = post_batch(client, batch, write_key)
        answers.append(json.loads(json.dumps(answer).replace(request_id, "R")))
        clock.advance(minutes=1)

    rejections = [{"position": "request R batch[1]", "message_id": "no-event", "reason": "track: missing event"},
                  {"position": "request R batch[2]", "message_id": "no-time",
                   "reason": "timestamp: not an ISO-8601 date: 'yesterday'"}]
    assert answers == [
        {"success": True, "received": 3, "accepted": 1, "duplicates": 0, "rejected": 2, "rejections": rejections},
        {"success": True, "received": 3, "accepted": 0, "duplicates": 1, "rejected": 2, "rejections": rejections},
        {"success": True, "received": 3, "accepted": 0, "duplicates": 1, "rejected": 2, "rejections": rejections},
    ]
    page_, _ = rejection_page(app)
    assert [(r["message_id"], r["reason"], r["seen"], r["received_at"], r["last_seen_at"]) for r in page_] == [
        ("no-time", "timestamp: not an ISO-8601 date: 'yesterday'", 3, "2026-10-01T09:00:00Z", "2026-10-01T09:02:00Z"),
        ("no-event", "track: missing event", 3, "2026-10-01T09:00:00Z", "2026-10-01T09:02:00Z"),
    ]


def test_a_batch_without_message_ids_retried_over_http_stores_its_bad_message_once(app, client, write_key, clock):
    """Regression: the position of a message in an HTTP batch names the request, so a message with no
    messageId was stored again on every retry."""
    no_id = track("Demo Requested", user="jane", when=at(-1))
    del no_id["messageId"]
    batch = {"batch": [identify(user="jane", when=at(-1), email="jane@acme.io", message_id="good"), no_id]}

    for _ in range(3):
        answer, _ = post_batch(client, batch, write_key)
        assert answer["rejections"][0]["reason"] == "missing messageId"
        clock.advance(minutes=1)

    page_, _ = rejection_page(app)
    assert [(r["message_id"], r["reason"], r["seen"]) for r in page_] == [(None, "missing messageId", 3)]


def test_a_file_ingested_twice_stores_its_two_bad_lines_once_and_both_runs_print_them(tmp_path, database_url):
    no_id = page("/pricing", user="u-bob", when=at(-5))
    del no_id["messageId"]
    lines = [json.dumps(identify(user="u-bob", when=at(-10), email="bob@beta-inc.com", message_id="bob-1")),
             "{not json", json.dumps(no_id)]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cli = Cli(tmp_path, database_url)

    first, second = cli("ingest", "events.jsonl"), cli("ingest", "events.jsonl")

    printed = ("rejected events.jsonl line 2: not JSON: Expecting property name enclosed in double quotes at column 2\n"
               "rejected events.jsonl line 3: missing messageId\n")
    assert (first.code, first.err) == (second.code, second.err) == (3, printed)
    assert first.out.startswith("received 3: accepted 1, duplicates 0, rejected 2;")
    assert second.out.startswith("received 3: accepted 0, duplicates 1, rejected 2;")
    listed = cli("rejections", "list", "--json").json()
    assert [(r["position"], r["message_id"], r["seen"]) for r in listed] == [
        ("events.jsonl line 3", None, 2), ("events.jsonl line 2", None, 2)]


def test_a_message_without_message_id_rejected_twice_is_stored_once_and_another_one_in_its_place_is_not(app):
    no_id = {"type": "track", "userId": "u1", "event": "Demo Requested", "timestamp": at()}

    reports = [ingest(app, [("line 1", no_id)]) for _ in range(2)]
    ingest(app, [("line 1", {**no_id, "event": "Webinar Attended"})])  # the file changed: another message there

    assert [(r.rejected, [x.reason for x in r.rejections]) for r in reports] == [(1, ["missing messageId"])] * 2
    assert stored(app) == [("default", None, "line 1", "missing messageId", 2),
                           ("default", None, "line 1", "missing messageId", 1)]


def test_a_message_rejected_for_another_reason_after_a_fix_is_a_new_row(app):
    broken = {**track("Demo Requested", user="u1", message_id="m1"), "event": None}
    half_fixed = track("Demo Requested", user="u1", message_id="m1", when="yesterday")

    ingest(app, [("batch[0]", broken)])
    ingest(app, [("batch[0]", half_fixed)])
    ingest(app, [("batch[0]", half_fixed)])

    assert stored(app) == [("default", "m1", "batch[0]", "track: missing event", 1),
                           ("default", "m1", "batch[0]", "timestamp: not an ISO-8601 date: 'yesterday'", 2)]


def test_the_same_bad_message_twice_in_one_batch_is_one_row_seen_twice_and_told_twice(app):
    bad = track("x", user="u1", message_id="m1", when="yesterday")

    report = ingest(app, [("batch[0]", bad), ("batch[1]", bad)])

    assert [(r.position, r.message_id) for r in report.rejections] == [("batch[0]", "m1"), ("batch[1]", "m1")]
    assert stored(app) == [("default", "m1", "batch[0]", "timestamp: not an ISO-8601 date: 'yesterday'", 2)]


def test_the_same_rejection_from_another_source_is_its_own_row(app):
    bad = track("x", user="u1", message_id="m1", when="yesterday")

    ingest(app, [("batch[0]", bad)], source="web")
    ingest(app, [("batch[0]", bad)], source="cli")

    assert [row[0] for row in stored(app)] == ["web", "cli"]


def test_rejections_stored_before_the_upgrade_stay_as_they_were_seen_once(empty_database_url):
    engine = connect(empty_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0014")
        with engine.begin() as conn:
            for _ in range(2):  # the old duplicates: kept, not merged
                conn.execute(text("INSERT INTO rejections (source, message_id, position, reason, received_at) "
                                  "VALUES ('web', 'm1', 'batch[0]', 'track: missing event', :at)"),
                             {"at": T0.replace(tzinfo=None)})
        upgrade(engine)
        c = t.rejections.c
        with engine.connect() as conn:
            rows = conn.execute(select(c.fingerprint, c.seen, c.received_at, c.last_seen_at)).all()
        assert [tuple(row) for row in rows] == [(None, 1, T0, T0)] * 2
    finally:
        engine.dispose()
