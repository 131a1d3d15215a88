"""The official Segment and RudderStack Python SDKs, pointed at a real server on loopback.

Each SDK sends identify, track, page, group and alias calls the way an application
would (batched by its background thread; RudderStack gzips by default). The test then
reads the leads, scores and stages the engine made of them, and checks that a bad
write key comes back to the SDK as an error.
"""

from __future__ import annotations

import pytest
import rudderstack.analytics as rudder_analytics
import segment.analytics as segment_analytics
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics.request import APIError as SegmentAPIError

from leadrelay.access.tokens import create_token
from tests.api.conftest import bearer

SDKS = {
    "segment": (segment_analytics.Client, SegmentAPIError),
    "rudderstack": (rudder_analytics.Client, RudderAPIError),
}


def send_a_day_of_activity(client) -> None:
    """Jane browses anonymously, identifies, reads, attends a webinar; Bob requests a demo."""
    campaign = {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}, "ip": "203.0.113.9",
                "userAgent": "Mozilla/5.0"}
    client.page(anonymous_id="anon-jane", name="Pricing", properties={"path": "/pricing"}, context=campaign)
    client.page(anonymous_id="anon-jane", properties={"path": "/case-studies/globex"})
    client.page(anonymous_id="anon-jane-phone", properties={"path": "/product/tour"})
    client.identify(user_id="jane", anonymous_id="anon-jane",
                    traits={"email": "Jane@Acme.io", "title": "VP Sales", "employees": 200})
    client.group(user_id="jane", group_id="acme", traits={"name": "Acme", "employees": 200})
    # RudderStack's identify puts traits in context.traits; any call may carry context.traits.
    client.track(user_id="jane", event="Webinar Attended", properties={"webinar": "forecasting"},
                 context={"traits": {"industry": "Software", "country": "DE"}})
    client.track(user_id="jane", event="Guide Downloaded", properties={"guide": "comparison-guide"})
    client.flush()  # the alias in a later batch: see test_a_visitor_new_in_a_batch_merged_in_the_same_batch
    client.alias(previous_id="anon-jane-phone", user_id="jane")
    client.identify(user_id="bob", traits={"email": "bob@globex.com", "title": "Director of Sales"})
    client.track(user_id="bob", event="Demo Requested")


@pytest.mark.parametrize("sdk", SDKS)
def test_an_sdk_sends_to_leadrelay_by_changing_its_host(server, app, tokens, client, sdk):
    make_client, _ = SDKS[sdk]
    errors = []
    analytics = make_client(tokens.ingest, host=server.url, on_error=lambda error, batch: errors.append(error),
                            upload_interval=0.05, max_retries=0)
    send_a_day_of_activity(analytics)
    analytics.flush()
    analytics.join()

    assert errors == []
    admin = bearer(tokens.admin)
    jane = client.get("/api/leads/jane@acme.io", headers=admin).json()
    assert jane["stage"] == "mql"
    assert jane["fit_score"] == 80.0  # economic buyer 30, 50-5,000 employees 25, software 15, work email 10
    # pricing 10, case study 5, product 2, webinar 12, guide 15: 44, less a trace of decay since (shown cut: 43.99)
    assert jane["engagement_score"] == pytest.approx(44.0, abs=0.011)
    assert jane["traits"]["industry"] == "Software" and jane["country"] == "DE"  # from context.traits
    assert jane["account"]["group_id"] == "acme"
    assert {"value": "anon-jane-phone", "kind": "anonymous"} in jane["identities"]
    bob = client.get("/api/leads/bob@globex.com", headers=admin).json()
    assert (bob["stage"], bob["history"][-1]["transition"]) == ("sal", "hand_raise")
    stored = client.get("/api/leads?include_anonymous=true", headers=admin).json()["leads"]
    assert sorted(lead["email"] for lead in stored if lead["email"]) == ["bob@globex.com", "jane@acme.io"]


@pytest.mark.parametrize("sdk", SDKS)
def test_an_sdk_reports_a_bad_write_key_as_an_error(server, app, sdk):
    make_client, api_error = SDKS[sdk]
    errors = []
    analytics = make_client("lrw_not-a-key", host=server.url, on_error=lambda error, batch: errors.append(error),
                            upload_interval=0.05, max_retries=0)
    analytics.track(user_id="jane", event="Demo Requested")
    analytics.flush()
    analytics.join()

    assert len(errors) == 1 and isinstance(errors[0], api_error)
    assert (errors[0].status, errors[0].code) == (401, "unauthorized")

    sync = make_client("lrw_not-a-key", host=server.url, sync_mode=True)
    with pytest.raises(api_error) as raised:
        sync.track(user_id="jane", event="Demo Requested")
    assert raised.value.status == 401


def test_write_keys_of_two_sources_deduplicate_apart(server, app, client, tokens):
    _, other = create_token(app.engine, "ingest", source="rudder", now=app.clock())
    for key in (tokens.ingest, other):
        analytics = segment_analytics.Client(key, host=server.url, sync_mode=True)
        analytics.track(user_id="jane", event="Webinar Attended", message_id="same-id")
        analytics.track(user_id="jane", event="Webinar Attended", message_id="same-id")  # a retry
    activities = client.get("/api/leads/jane", headers=bearer(tokens.admin)).json()["recent_activities"]
    assert len(activities) == 2


@pytest.mark.parametrize("known_before", [False, True], ids=["two-new-visitors", "visitor-becomes-known-lead"])
def test_a_visitor_new_in_a_batch_merged_in_the_same_batch(server, app, client, tokens, known_before):
    analytics = segment_analytics.Client(tokens.ingest, host=server.url, upload_interval=0.05, max_retries=0,
                                         on_error=lambda error, batch: None)
    if known_before:
        analytics.identify(user_id="jane", traits={"email": "jane@acme.io"})
        analytics.flush()
    analytics.page(anonymous_id="anon-laptop", properties={"path": "/case-studies/globex"})
    analytics.page(anonymous_id="anon-phone", properties={"path": "/pricing"})
    analytics.identify(user_id="jane", anonymous_id="anon-laptop", traits={"email": "jane@acme.io"})
    analytics.alias(previous_id="anon-phone", user_id="jane")
    analytics.flush()
    analytics.join()
    jane = client.get("/api/leads/jane@acme.io", headers=bearer(tokens.admin))
    assert jane.status_code == 200
    assert jane.json()["engagement_score"] == pytest.approx(15.0, abs=0.011)  # shown cut: a trace of decay
