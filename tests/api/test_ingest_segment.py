"""The Segment HTTP tracking API: what a good batch does, what every kind of bad input gets.

Through FastAPI's TestClient (the same ASGI app `leadrelay serve` runs), on SQLite and
PostgreSQL. The real server and the real SDKs are in test_sdk_clients.py and test_server.py.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging

import pytest
from sqlalchemy import func, select, text

from leadrelay.access.tokens import create_token, revoke_token
from leadrelay.entrypoints.api.body import GzipReader
from leadrelay.entrypoints.api.errors import TooLarge
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack
from tests.api.conftest import bearer
from tests.messages import at, group, identify, page, track


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(client, path, body, key, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(path, content=data, headers={**basic(key), "Content-Type": "application/json", **headers})


def count(app, table) -> int:
    with app.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def lead(client, tokens, ref) -> dict:
    response = client.get(f"/api/leads/{ref}", headers=bearer(tokens.admin))
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- good input


def test_a_batch_is_one_answer_with_counts_and_bad_messages_are_rejected_one_by_one(client, app, tokens):
    batch = {"batch": [
        identify(user="u1", email="jane@acme.io", title="VP Sales"),
        page("/pricing", user="u1"),
        track("Webinar Attended", user="u1"),
        {**track("Webinar Attended", user="u1"), "event": None, "messageId": "no-event"},
    ], "sentAt": at()}

    response = post(client, "/v1/batch", batch, tokens.ingest)

    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert response.json() == {
        "success": True, "received": 4, "accepted": 3, "duplicates": 0, "rejected": 1,
        "rejections": [{"position": f"request {request_id} batch[3]", "message_id": "no-event",
                        "reason": "track: missing event"}],
    }
    jane = lead(client, tokens, "jane@acme.io")
    assert (jane["stage"], jane["fit_score"], jane["engagement_score"]) == ("lead", 40.0, 22.0)
    stored = client.get("/api/rejections", headers=bearer(tokens.admin)).json()["rejections"]
    assert [(r["source"], r["message_id"], r["reason"]) for r in stored] == [
        ("web", "no-event", "track: missing event")]


def test_a_client_retry_never_double_counts(client, app, tokens):
    batch = {"batch": [identify(user="u1", email="jane@acme.io", title="VP Sales"), page("/pricing", user="u1")]}
    first = post(client, "/v1/batch", batch, tokens.ingest).json()
    again = post(client, "/v1/batch", batch, tokens.ingest).json()

    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert count(app, t.activities) == 2
    assert lead(client, tokens, "jane@acme.io")["engagement_score"] == 10.0


@pytest.mark.parametrize("kind,message", [
    ("identify", identify(user="u1", email="jane@acme.io")),
    ("track", track("Demo Requested", user="u1")),
    ("page", page("/pricing", anon="a1")),
    ("screen", {"messageId": "s1", "anonymousId": "a1", "name": "Home"}),
    ("group", group("acme", user="u1", name="Acme")),
    ("alias", {"messageId": "al1", "previousId": "a1", "userId": "u1"}),
])
def test_each_single_endpoint_takes_a_message_of_its_type_without_a_type_field(shared, kind, message):
    message = {k: v for k, v in message.items() if k != "type"}
    response = post(shared.client, f"/v1/{kind}", message, shared.tokens.ingest)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


def test_a_message_of_another_type_on_a_single_endpoint_is_rejected(shared):
    body = post(shared.client, "/v1/track", identify(user="u1", email="jane@acme.io"), shared.tokens.ingest).json()
    assert body["rejected"] == 1
    assert body["rejections"][0]["reason"] == "type 'identify' sent to /v1/track"


def test_traits_and_context_traits_merge_and_campaign_page_ip_user_agent_come_from_context(client, app, tokens):
    message = identify(user="u1", email="jane@acme.io", title="VP Sales")
    message["context"] = {"traits": {"country": "DE", "title": "ignored: traits win"},
                          "campaign": {"source": "google", "medium": "cpc", "name": "spring"},
                          "page": {"path": "/pricing", "url": "https://acme.example/pricing"},
                          "ip": "203.0.113.9", "userAgent": "Mozilla/5.0"}
    assert post(client, "/v1/identify", message, tokens.ingest).json()["accepted"] == 1

    jane = lead(client, tokens, "jane@acme.io")
    assert jane["traits"] == {"email": "jane@acme.io", "title": "VP Sales", "country": "DE"}
    assert jane["country"] == "DE"
    [activity] = client.get("/api/leads/jane@acme.io/activities", headers=bearer(tokens.admin)).json()["activities"]
    assert activity["campaign"] == {"source": "google", "medium": "cpc", "name": "spring"}
    assert (activity["ip"], activity["user_agent"], activity["page"]["path"]) == ("203.0.113.9", "Mozilla/5.0",
                                                                                  "/pricing")


def test_unknown_fields_are_ignored(shared):
    message = {**track("Demo Requested", user="u1"), "integrations": {"All": False}, "channel": "server",
               "someday": {"a": [1, 2]}}
    body = {"batch": [message], "extra": True}
    assert post(shared.client, "/v1/batch", body, shared.tokens.ingest).json()["accepted"] == 1


def test_the_write_key_may_come_in_the_body_and_is_never_stored(client, app, tokens):
    good = {**track("Demo Requested", user="u1"), "writeKey": tokens.ingest}
    bad = {**track("Demo Requested", user="u1"), "event": 42, "writeKey": tokens.ingest}
    for body in (good, bad):
        response = client.post("/v1/track", json=body)
        assert response.status_code == 200, response.text
    with app.engine.connect() as conn:
        stored = [str(unpack(conn, v)) for v in conn.execute(select(t.activities.c.payload)).scalars()]
        stored += list(conn.execute(select(t.rejections.c.payload)).scalars())
    assert stored and not any(tokens.ingest in s for s in stored)
    batch = {"batch": [track("Demo Requested", user="u2")], "writeKey": tokens.ingest}
    assert client.post("/v1/batch", json=batch).json()["accepted"] == 1


def test_a_write_key_nested_in_a_context_is_never_stored(client, app, tokens):
    """Issue 13: a write key in `context.writeKey` (of the message, or of the batch, merged into each message) was
    stored with the activity."""
    own = {**track("Demo Requested", user="c1"), "context": {"writeKey": tokens.ingest, "ip": "10.0.0.1"}}
    bad = {**track("Demo Requested", user="c2"), "event": 42, "context": {"writeKey": tokens.ingest}}
    batch = {"batch": [own, bad, track("Pricing Viewed", user="c3")], "context": {"writeKey": tokens.ingest}}
    answer = client.post("/v1/batch", json=batch, headers=basic(tokens.ingest)).json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    with app.engine.connect() as conn:
        stored = [str(unpack(conn, v)) for v in conn.execute(select(t.activities.c.payload)).scalars()]
        stored += list(conn.execute(select(t.rejections.c.payload)).scalars())
    assert len(stored) == 3 and not any(tokens.ingest in s for s in stored)
    assert any("10.0.0.1" in s for s in stored)  # the rest of the context is kept


def test_html_and_sql_in_strings_are_stored_and_returned_as_data(client, app, tokens):
    company = "<script>alert('x')</script>"
    title = "VP'; DROP TABLE leads; --"
    message = identify(user="u1", email="jane@acme.io", title=title, company=company)
    assert post(client, "/v1/identify", message, tokens.ingest).json()["accepted"] == 1

    response = client.get("/api/leads/jane@acme.io", headers=bearer(tokens.admin))
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["traits"] == {"email": "jane@acme.io", "title": title, "company": company}
    with app.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM leads")).scalar() == 1


# --------------------------------------------------------------------------- keys


def test_bad_write_keys_get_401_with_the_error_shape(client, app, tokens):
    revoked = create_token(app.engine, "ingest", source="old", now=app.clock())
    revoke_token(app.engine, revoked[0].id, now=app.clock())
    message = track("Demo Requested", user="u1")
    cases = {
        "unknown key": basic("lrw_nonsense"),
        "revoked key": basic(revoked[1]),
        "no key": {},
        "not base64": {"Authorization": "Basic %%%"},
    }
    for case, headers in cases.items():
        response = client.post("/v1/track", json=message, headers=headers)
        assert response.status_code == 401, case
        assert set(response.json()) == {"code", "message"} and response.json()["code"] == "unauthorized", case
    assert count(app, t.activities) == 0


def test_an_api_token_is_not_a_write_key(shared):
    response = post(shared.client, "/v1/track", track("Demo Requested", user="u1"), shared.tokens.admin)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


# --------------------------------------------------------------------------- bad bodies


def test_gzip_bodies_are_accepted(shared):
    body = gzip.compress(json.dumps({"batch": [track("Demo Requested", user="u1")]}).encode())
    response = post(shared.client, "/v1/batch", body, shared.tokens.ingest, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_several_gzip_members_are_one_body(shared):
    raw = json.dumps({"batch": [track("Demo Requested", user="u2")]}).encode()
    body = gzip.compress(raw[:10]) + gzip.compress(raw[10:])
    answer = post(shared.client, "/v1/batch", body, shared.tokens.ingest, **{"Content-Encoding": "gzip"}).json()
    assert answer["accepted"] == 1


BAD_BODIES = [
    ("truncated JSON", b'{"batch": [{"type": "track"', {}, "bad_json"),
    ("not JSON", b"hello", {}, "bad_json"),
    ("empty", b"", {}, "bad_json"),
    ("not UTF-8", b'{"batch": ["\xff"]}', {}, "bad_json"),
    ("NaN", b'{"batch": [{"messageId": "m", "type": "track", "value": NaN}]}', {}, "bad_json"),
    ("huge number", b'{"batch": [{"messageId": "m", "value": 1e999}]}', {}, "bad_json"),
    ("nested deeper than the parser goes", b"[" * 100_000 + b"]" * 100_000, {}, "bad_json"),
    ("batch not a list", b'{"batch": {"type": "track"}}', {}, "bad_json"),
    ("no batch", b'[{"type": "track"}]', {}, "bad_json"),
    ("context not an object", b'{"batch": [], "context": 3}', {}, "bad_json"),
    ("gzip header, plain body", b'{"batch": []}', {"Content-Encoding": "gzip"}, "bad_encoding"),
    ("truncated gzip", gzip.compress(b'{"batch": []}')[:-6], {"Content-Encoding": "gzip"}, "bad_encoding"),
    ("unknown encoding", b'{"batch": []}', {"Content-Encoding": "br"}, "bad_encoding"),
    ("over 500 KB", json.dumps({"batch": [], "pad": "x" * 520_000}).encode(), {}, "too_large"),
    ("over 500 KB once inflated", gzip.compress(b'{"batch": [], "pad": "' + b"x" * 10_000_000 + b'"}'),
     {"Content-Encoding": "gzip"}, "too_large"),
    ("over 2,500 messages", json.dumps({"batch": [{}] * 2501}).encode(), {}, "too_large"),
]


# Ids from the case names: gzip output carries a timestamp, and xdist workers must collect the same ids.
@pytest.mark.parametrize("case,body,headers,code", BAD_BODIES, ids=[case[0] for case in BAD_BODIES])
def test_bad_bodies_get_400_the_error_shape_and_a_log_line(shared, caplog, case, body, headers, code):
    caplog.set_level(logging.INFO, logger="leadrelay.entrypoints.api")
    before = count(shared.app, t.activities)
    response = post(shared.client, "/v1/batch", body, shared.tokens.ingest, **headers)

    assert response.status_code == 400, case
    assert response.json()["code"] == code and set(response.json()) == {"code", "message"}, case
    errors = [r for r in caplog.records if getattr(r, "event", None) == "error"]
    assert [(r.code, r.request_id) for r in errors] == [(code, response.headers["X-Request-ID"])]
    assert count(shared.app, t.activities) == before
    assert shared.client.get("/healthz").status_code == 200  # and the server keeps serving


def test_a_single_message_over_32_kb_is_too_large(shared):
    message = track("Demo Requested", user="u1", properties={"pad": "x" * 33_000})
    response = post(shared.client, "/v1/track", message, shared.tokens.ingest)
    assert (response.status_code, response.json()["code"]) == (400, "too_large")


def test_a_single_endpoint_takes_an_object(shared):
    response = post(shared.client, "/v1/track", [track("Demo Requested", user="u1")], shared.tokens.ingest)
    assert (response.status_code, response.json()["code"]) == (400, "bad_json")


def test_messages_the_store_cannot_keep_are_rejected_one_by_one_and_the_rest_kept(client, app, tokens):
    nested: dict = {}
    deepest = nested
    for _ in range(40):
        deepest["a"] = {}
        deepest = deepest["a"]
    bad = {
        "big": track("Big", user="u1", properties={"pad": "x" * 33_000}),
        "nested": track("Nested", user="u1", properties=nested),
        "nul": track("Nul\u0000", user="u1"),
        "surrogate": track("Surrogate", user="u1", properties={"s": "\ud800"}),
        "long user id": track("Long", user="u" * 201),
        "long email": identify(user="u1", email="a" * 320 + "@acme.io"),
    }
    good = track("Demo Requested", user="u1")
    body = json.dumps({"batch": [good, *bad.values()]}).encode()

    answer = post(client, "/v1/batch", body, tokens.ingest).json()

    assert (answer["accepted"], answer["rejected"]) == (1, len(bad))
    assert [r["reason"] for r in answer["rejections"]] == [
        "message is larger than 32 KB",
        "nested deeper than 32 levels",
        "contains a NUL character (\\u0000), which LeadRelay does not store",
        "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff): not valid Unicode text",
        "userId: longer than 200 characters",
        "traits.email: longer than 320 characters",
    ]
    assert count(app, t.rejections) == len(bad)


def test_the_gzip_reader_never_inflates_past_its_limit():
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    reader = GzipReader(limit=500 * 1024)
    with pytest.raises(TooLarge):
        for start in range(0, len(bomb), 4096):
            reader.feed(bomb[start:start + 4096])
    assert len(reader.out) <= 500 * 1024 + 1
