"""Times from the future, and times no activity can have, are refused message by message: the same on SQLite and
PostgreSQL, through HTTP (`/v1/track`, `/v1/batch`) and the CLI (`leadrelay ingest`, `leadrelay import`).

The rule (activity/segment.py): a message's time is Segment's, corrected for the sender's clock with `sentAt`
(`receivedAt - (sentAt - timestamp)`); if it is still more than 24 hours after LeadRelay received the message, or
before 1970, the message is rejected with the field, its value and where it was, and every other message is kept.

The finding: a hand-raise dated 9999 was stored as is, so its handoff opened in 9999 and its SLA never ran, and
the lead's decay waited for that year; a zero date (0001-01-01) crashed the whole batch in the handoff's calendar.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadrelay.access.tokens import create_token
from leadrelay.entrypoints.api.app import create_app
from leadrelay.handoff.queries import route_explain
from leadrelay.storage import tables as t
from leadrelay.worker import sweep
from tests.conftest import T0
from tests.e2e.cli import Cli
from tests.messages import at, identify, page, track

RECEIVED = "2026-10-01T09:00:00Z"  # T0, the App's clock: when LeadRelay receives every request below
AHEAD = f"more than 24 hours after LeadRelay received it ({RECEIVED}): send when it happened, in UTC or with its offset"


@pytest.fixture
def client(app):
    with TestClient(create_app(app)) as test_client:
        yield test_client


@pytest.fixture
def write_key(app) -> str:
    return create_token(app.engine, "ingest", now=app.clock(), source="web")[1]


def post(client, path: str, body: dict, key: str):
    auth = base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(path, content=json.dumps(body).encode(),
                           headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json(), response.headers["X-Request-ID"]


def stored(app) -> dict[str, str]:
    """Message id -> when its activity happened, for every stored activity."""
    with app.engine.connect() as conn:
        rows = conn.execute(select(t.activities.c.message_id, t.activities.c.occurred_at)).all()
    return {message_id: occurred_at.isoformat() for message_id, occurred_at in rows}


def refused(app) -> list[tuple[str | None, str]]:
    with app.engine.connect() as conn:
        rows = conn.execute(select(t.rejections.c.message_id, t.rejections.c.reason).order_by(t.rejections.c.id))
        return [tuple(row) for row in rows]


def test_a_hand_raise_dated_9999_is_refused_and_sent_again_with_its_real_time_its_sla_runs(app, client, write_key,
                                                                                          clock):
    post(client, "/v1/identify", identify(user="jane", when=at(-1), email="jane@acme.io", title="VP Sales"), write_key)
    demo = track("Demo Requested", user="jane", when="9999-12-31T23:59:59Z", message_id="demo-1")

    answer, request_id = post(client, "/v1/track", demo, write_key)

    reason = f"timestamp: '9999-12-31T23:59:59Z' is {AHEAD}"
    assert answer == {"success": True, "received": 1, "accepted": 0, "duplicates": 0, "rejected": 1,
                      "rejections": [{"position": f"request {request_id}", "message_id": "demo-1", "reason": reason}]}
    assert refused(app) == [("demo-1", reason)]
    assert route_explain(app, "jane@acme.io")["handoffs"] == []
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.leads.c.last_activity_at)) == T0 - timedelta(minutes=1)  # decay runs from now

    # The sender fixes the time and sends the same message again: it was never stored, so it is no duplicate.
    answer, _ = post(client, "/v1/track", {**demo, "timestamp": at(0)}, write_key)

    assert (answer["accepted"], answer["duplicates"], answer["rejected"]) == (1, 0, 0)
    handoff = route_explain(app, "jane@acme.io")["handoffs"][0]
    assert (handoff["kind"], handoff["opened_at"], handoff["first_touch_due_at"]) == (
        "hand_raise", RECEIVED, "2026-10-01T09:05:00Z")
    clock.advance(minutes=6)
    assert sweep(app, clock(), deliver=False).timers["breach"] == 1  # the SLA ran: five minutes, not eight millennia


def test_a_batch_with_one_far_future_message_stores_every_other_one(app, client, write_key):
    batch = {"batch": [identify(user="jane", when=at(-3), email="jane@acme.io", message_id="who"),
                       page("/pricing", user="jane", when=at(-2), message_id="pricing"),
                       page("/docs", user="jane", when="2027-06-01T00:00:00+02:00", message_id="from-2027"),
                       track("Demo Requested", user="jane", when=at(-1), message_id="demo"),
                       page("/blog", user="jane", when=at(23 * 60), message_id="tomorrow")]}  # within the day

    answer, request_id = post(client, "/v1/batch", batch, write_key)

    assert (answer["received"], answer["accepted"], answer["rejected"]) == (5, 4, 1)
    assert answer["rejections"] == [{
        "position": f"request {request_id} batch[2]", "message_id": "from-2027",
        "reason": f"timestamp: '2027-06-01T00:00:00+02:00' is {AHEAD}"}]
    assert set(stored(app)) == {"who", "pricing", "demo", "tomorrow"}
    assert route_explain(app, "jane@acme.io")["handoffs"][0]["opened_at"] == "2026-10-01T08:59:00Z"


def test_sent_at_corrects_a_device_clock_that_runs_days_or_millennia_fast(app, client, write_key):
    # A phone three days fast stamps its events by its own clock and says when it sent them (the batch's sentAt);
    # another, whose clock says 9999, sends one message with its own sentAt. Segment's correction places both.
    fast = T0 + timedelta(days=3)
    batch = {"sentAt": fast.isoformat(), "batch": [
        identify(user="jane", when=fast - timedelta(minutes=10), email="jane@acme.io", message_id="fast-1"),
        {**page("/pricing", user="jane", when="9999-12-31T23:55:00Z", message_id="fast-2"),
         "sentAt": "9999-12-31T23:59:59Z"},
        {**page("/docs", user="jane", message_id="fast-3"), "timestamp": None,
         "originalTimestamp": (fast - timedelta(minutes=1)).isoformat()},
    ]}

    answer, _ = post(client, "/v1/batch", batch, write_key)

    assert (answer["accepted"], answer["rejected"]) == (3, 0), answer["rejections"]
    assert stored(app) == {"fast-1": "2026-10-01T08:50:00+00:00", "fast-2": "2026-10-01T08:55:01+00:00",
                           "fast-3": "2026-10-01T08:59:00+00:00"}


def test_a_sent_at_that_moves_a_message_into_the_future_is_named_with_its_timestamp(app, client, write_key):
    late_sent = {**track("Trial Started", user="jane", when=at(0), message_id="m1"), "sentAt": "2025-10-01T09:00:00Z"}

    answer, request_id = post(client, "/v1/batch", {"batch": [late_sent]}, write_key)

    assert answer["rejections"] == [{
        "position": f"request {request_id} batch[0]", "message_id": "m1",
        "reason": "timestamp: '2026-10-01T09:00:00+00:00' with sentAt '2025-10-01T09:00:00Z' is 2027-10-01T09:00:00Z "
                  "by Segment's clock-skew correction (receivedAt - (sentAt - timestamp)), " + AHEAD}]


@pytest.mark.parametrize(("times", "reason"), [
    ({"timestamp": "10000-01-01T00:00:00Z"}, "timestamp: a year after 9999 cannot be stored: '10000-01-01T00:00:00Z'"),
    ({"timestamp": "+10000-01-01T00:00:00Z"},
     "timestamp: a year after 9999 cannot be stored: '+10000-01-01T00:00:00Z'"),
    ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp: out of range in UTC: '9999-12-31T23:59:59-01:00'"),
    ({"timestamp": "0001-01-01T00:00:00Z"},
     "timestamp: '0001-01-01T00:00:00Z' is before 1970-01-01, a zero date or a reset clock: send when it happened"),
    ({"timestamp": None, "originalTimestamp": "9999-12-31T00:00:00Z"},
     f"originalTimestamp: '9999-12-31T00:00:00Z' is {AHEAD}"),
    ({"receivedAt": "9999-12-31T00:00:00Z"},
     f"receivedAt: '9999-12-31T00:00:00Z' is more than 24 hours after LeadRelay received it ({RECEIVED}): leave it "
     "out and LeadRelay's own receipt time is used"),
    ({"timestamp": "9999-12-31T23:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
     "sentAt: clock-skew correction out of range"),
])
def test_years_past_9999_zero_dates_and_times_that_overflow_are_refused_by_name(app, client, write_key, times,
                                                                               reason):
    bad = {**track("Demo Requested", user="jane", when=at(0), message_id="bad"), **times}
    batch = {"batch": [identify(user="jane", when=at(-1), email="jane@acme.io", message_id="good"), bad]}

    answer, request_id = post(client, "/v1/batch", batch, write_key)

    assert answer["rejections"] == [{"position": f"request {request_id} batch[1]", "message_id": "bad",
                                     "reason": reason}]
    assert set(stored(app)) == {"good"}
    assert refused(app) == [("bad", reason)]


def test_cli_ingest_of_history_keeps_old_times_and_refuses_the_future(tmp_path, database_url):
    lines = [identify(user="old", when="2019-03-04T10:00:00Z", email="old@acme.io", message_id="h1"),
             {**track("Demo Requested", user="old", when="2019-03-04T10:05:00Z", message_id="h2"),
              "sentAt": "2019-03-04T10:06:00Z"},  # a file's sentAt corrects nothing: it was received long ago
             page("/pricing", user="old", when="9999-01-01T00:00:00Z", message_id="h3"),
             page("/docs", user="old", when="0001-01-01T00:00:00Z", message_id="h4")]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines), encoding="utf-8")
    cli = Cli(tmp_path, database_url)

    run = cli("ingest", "history.jsonl")

    assert run.code == 3  # some messages rejected
    assert run.out.startswith("received 4: accepted 2, duplicates 0, rejected 2; leads created 1")
    (future, zero) = run.err.splitlines()
    assert re.fullmatch(r"rejected history\.jsonl line 3: timestamp: '9999-01-01T00:00:00Z' is more than 24 hours "
                        r"after LeadRelay received it \(\d{4}-\d\d-\d\dT[\d:.]+Z\): send when it happened, in UTC or "
                        r"with its offset", future), future
    assert zero == ("rejected history.jsonl line 4: timestamp: '0001-01-01T00:00:00Z' is before 1970-01-01, a zero "
                    "date or a reset clock: send when it happened")
    explained = cli("leads", "route-explain", "old@acme.io", "--json").json()
    handoff = explained["handoffs"][0]
    assert (handoff["kind"], handoff["opened_at"]) == ("hand_raise", "2019-03-04T10:05:00Z")  # when it was asked


def test_cli_import_names_the_time_column_of_a_row_from_the_future_or_a_zero_date(tmp_path, database_url):
    (tmp_path / "crm.csv").write_text("Email,Title,Created\n"
                                      "ann@acme.io,VP Sales,2018-05-01\n"
                                      "bob@acme.io,CTO,9999-12-31\n"
                                      "cy@acme.io,CFO,0001-01-01\n"
                                      "di@acme.io,CEO,someday\n", encoding="utf-8")

    run = Cli(tmp_path, database_url)("import", "crm.csv", "--map", "Title=title", "--time-column", "Created",
                                      "--json")

    assert run.code == 3
    report = run.json()
    assert (report["accepted"], report["rejected"]) == (1, 3)
    (future, zero, garbled) = report["rejections"]
    assert (future["position"], future["message_id"]) == ("crm.csv row 3", None)
    assert re.fullmatch(r"column 'Created': '9999-12-31' is more than 24 hours after LeadRelay received it "
                        r"\(\d{4}-\d\d-\d\dT[\d:.]+Z\)", future["reason"]), future["reason"]
    assert zero == {"position": "crm.csv row 4", "message_id": None,
                    "reason": "column 'Created': '0001-01-01' is before 1970-01-01, a zero date or a reset clock"}
    assert garbled == {"position": "crm.csv row 5", "message_id": None, "reason": "column 'Created': 'someday' is "
                       "not an ISO-8601 date (such as 2026-10-01 or 2026-10-01T09:00:00Z)"}
