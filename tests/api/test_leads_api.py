"""`/api/leads`: filters, cursor pages, scope per role, one lead explained, moves and stale versions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update

from leadrelay.activity.service import ingest
from leadrelay.storage import tables as t
from tests.api.conftest import add_lead, bearer
from tests.conftest import T0
from tests.messages import numbered, page


def emails(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [lead["email"] for lead in response.json()["leads"]]


def test_filters_combine_and_scope_follows_the_role(client, app, tokens, people):
    add_lead(app, "a@acme.io", owner=people.rep)  # fit 40: economic buyer, work email
    add_lead(app, "b@acme.io", owner=people.teammate, title="Marketing Analyst")  # fit 25
    add_lead(app, "c@acme.io", owner=people.stranger, hand_raise=True)  # sal
    add_lead(app, "d@acme.io", owner=None)
    admin, manager, rep = bearer(tokens.admin), bearer(tokens.manager), bearer(tokens.rep)

    assert sorted(emails(client.get("/api/leads", headers=admin))) == ["a@acme.io", "b@acme.io", "c@acme.io",
                                                                      "d@acme.io"]
    assert sorted(emails(client.get("/api/leads", headers=manager))) == ["a@acme.io", "b@acme.io"]
    assert emails(client.get("/api/leads", headers=rep)) == ["a@acme.io"]
    assert emails(client.get("/api/leads?stage=sal", headers=admin)) == ["c@acme.io"]
    assert sorted(emails(client.get(f"/api/leads?team={people.team}", headers=admin))) == ["a@acme.io", "b@acme.io"]
    assert emails(client.get(f"/api/leads?owner={people.teammate}", headers=admin)) == ["b@acme.io"]
    assert emails(client.get(f"/api/leads?owner={people.teammate}", headers=rep)) == []
    assert emails(client.get("/api/leads?fit_min=30&fit_max=40&owner=" + people.rep, headers=admin)) == ["a@acme.io"]
    assert emails(client.get("/api/leads?segment=recycled", headers=admin)) == []
    nonsense = client.get("/api/leads?stage=nonsense", headers=admin)  # the values are in the OpenAPI document
    assert (nonsense.status_code, nonsense.json()["code"]) == (422, "invalid_request")
    assert "'subscriber', 'lead', 'mql'" in nonsense.json()["message"]


def test_engagement_filters_use_engagement_decayed_to_now(client, app, tokens, clock, people):
    add_lead(app, "hot@acme.io", owner=people.rep)
    add_lead(app, "cold@acme.io", owner=people.rep)
    ingest(app, numbered([page("/pricing", user="hot@acme.io"), page("/pricing", user="cold@acme.io",
                                                                          when=(T0 - timedelta(days=42)).isoformat())]))
    admin = bearer(tokens.admin)
    assert emails(client.get("/api/leads?engagement_min=9", headers=admin)) == ["hot@acme.io"]
    assert emails(client.get("/api/leads?engagement_min=2&engagement_max=3", headers=admin)) == ["cold@acme.io"]
    clock.advance(days=21)  # one half-life: 10 -> 5
    assert emails(client.get("/api/leads?engagement_min=9", headers=admin)) == []


def test_cursor_pages_cover_every_lead_once_in_both_orders(client, app, tokens, clock, people):
    for i in range(7):
        clock.advance(minutes=1)
        add_lead(app, f"p{i}@acme.io", owner=people.rep)
    admin = bearer(tokens.admin)
    for sort, expected in (("-updated_at", [f"p{i}@acme.io" for i in reversed(range(7))]),
                           ("updated_at", [f"p{i}@acme.io" for i in range(7)])):
        seen, cursor = [], None
        while True:
            url = f"/api/leads?limit=3&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
            body = client.get(url, headers=admin).json()
            seen += [lead["email"] for lead in body["leads"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == expected, sort
    since = (T0 + timedelta(minutes=5)).isoformat()
    assert emails(client.get("/api/leads", params={"sort": "updated_at", "updated_since": since}, headers=admin)) == [
        "p4@acme.io", "p5@acme.io", "p6@acme.io"]
    bad = client.get("/api/leads?cursor=not-a-cursor", headers=admin)
    assert (bad.status_code, bad.json()) == (422, {"code": "invalid_input",
                                                   "message": "cursor: not a cursor this API handed out"})
    newest_first = client.get("/api/leads?limit=3", headers=admin).json()["next_cursor"]
    other_sort = client.get(f"/api/leads?limit=3&sort=updated_at&cursor={newest_first}", headers=admin)
    assert (other_sort.status_code, other_sort.json()) == (422, {
        "code": "invalid_input", "message": "cursor: made for sort=-updated_at; keep the sort while paging"})


def test_one_lead_comes_with_its_explanation_history_and_activities(client, app, tokens, people):
    add_lead(app, "jane@acme.io", owner=people.rep, hand_raise=True)
    jane = client.get("/api/leads/jane@acme.io", headers=bearer(tokens.rep)).json()

    assert (jane["stage"], jane["owner"], jane["fit_score"]) == ("sal", people.rep, 40.0)
    assert [(h["from"], h["to"], h["transition"], h["playbook_version"]) for h in jane["history"]] == [
        (None, "subscriber", "identify", app.playbook.version),
        ("subscriber", "lead", "advance", app.playbook.version),
        ("lead", "sal", "hand_raise", app.playbook.version),
    ]
    assert [a["name"] for a in jane["recent_activities"]] == ["Demo Requested", None]
    assert {item["rule"] for item in jane["score_breakdown"]["fit"]} == {"economic_buyer", "work_email"}


def test_a_move_is_recorded_with_the_token_as_actor_and_a_stale_version_gets_409(client, app, tokens, people):
    lead_id = add_lead(app, "jane@acme.io", owner=people.rep, hand_raise=True)
    rep = bearer(tokens.rep)
    version = client.get(f"/api/leads/{lead_id}", headers=rep).json()["version"]

    moved = client.post(f"/api/leads/{lead_id}/recycle", json={"reason": "not_ready", "version": version}, headers=rep)
    assert moved.status_code == 200, moved.text
    assert moved.json() == {"id": lead_id, "from": "sal", "to": "lead", "transition": "recycle",
                            "reason": "not_ready", "owner": None, "version": version + 1}
    with app.engine.begin() as conn:  # back with marketing now; let the rep see it again for the next move
        conn.execute(update(t.leads).where(t.leads.c.id == lead_id).values(owner=people.rep))

    stale = client.post(f"/api/leads/{lead_id}/disqualify", json={"reason": "spam", "version": version}, headers=rep)
    assert stale.status_code == 409
    assert stale.json() == {"code": "conflict",
                            "message": f"lead {lead_id} is at version {version + 1}, not {version}: read it again"}
    lead = client.get(f"/api/leads/{lead_id}", headers=rep).json()
    assert lead["stage"] == "lead" and lead["history"][-1]["actor"] == f"user:{people.rep}"


def test_a_move_needs_a_reason_code_from_the_playbook_and_nothing_else(client, app, tokens, people):
    lead_id = add_lead(app, "jane@acme.io", owner=people.rep, hand_raise=True)
    admin = bearer(tokens.admin)
    cases = [({"reason": "bored"}, "invalid_transition"), ({}, "invalid_request"),
             ({"reason": "not_ready", "by": "someone else"}, "invalid_request")]
    for body, code in cases:
        response = client.post(f"/api/leads/{lead_id}/recycle", json=body, headers=admin)
        assert (response.status_code, response.json()["code"]) == (422, code), body
    assert client.get(f"/api/leads/{lead_id}", headers=admin).json()["stage"] == "sal"


def test_activities_page_latest_first(client, app, tokens, people, clock):
    add_lead(app, "jane@acme.io", owner=people.rep)
    ingest(app, numbered([page(f"/product/{i}", user="jane@acme.io", when=(T0 + timedelta(minutes=i)).isoformat())
                          for i in range(5)]))
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/leads/jane@acme.io/activities", params=params, headers=bearer(tokens.rep)).json()
        seen += [a["properties"].get("path") or a["type"] for a in body["activities"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == ["/product/4", "/product/3", "/product/2", "/product/1", "/product/0", "identify"]
    bad = client.get("/api/leads/jane@acme.io/activities", params={"cursor": "bm9wZQ"}, headers=bearer(tokens.rep))
    assert (bad.status_code, bad.json()) == (422, {"code": "invalid_input",
                                                   "message": "cursor: not a cursor this API handed out"})


def test_a_token_for_a_deleted_rep_stops_working(client, app, tokens, caplog):
    assert client.get("/api/me", headers=bearer(tokens.zoe)).json()["rep_id"] == "zoe"
    from leadrelay.playbook.loader import starter_text

    activated = client.post("/api/playbook/activate", json={"text": starter_text()}, headers=bearer(tokens.admin))
    assert activated.status_code == 200, activated.text

    response = client.get("/api/leads", headers=bearer(tokens.zoe))
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "message": "unknown or revoked token"}  # revoked for good
    assert any(getattr(r, "code", None) == "unauthorized" for r in caplog.records)
    assert client.get("/api/leads", headers=bearer(tokens.rep)).status_code == 200


def test_a_lead_that_is_not_yours_and_one_that_does_not_exist_cost_the_same_statements(client, app, tokens, people):
    """Issue 13 (low): "exists but not yours" answered 404 after more work than "does not exist", a timing
    difference that told a rep which ids, emails and user ids were someone else's leads. Both now run the
    same statements (timing itself is not asserted: a benchmark's business, not a test's)."""
    theirs = add_lead(app, "theirs@acme.io", owner=people.stranger)
    rep = bearer(tokens.rep)
    for taken, free in ((str(theirs), "987654"), ("theirs@acme.io", "nobody@acme.io")):
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(app.engine, "before_cursor_execute", record)
        try:
            runs = {}
            for ref in (taken, free):
                statements.clear()
                answer = client.get(f"/api/leads/{ref}", headers=rep)
                assert (answer.status_code, answer.json()) == (404, {"code": "not_found", "message": f"no lead {ref}"})
                # The token's check (and its last-used stamp, written once a minute) is the caller's, not the lead's.
                runs[ref] = [s for s in statements if s.startswith("SELECT") and "api_tokens" not in s]
        finally:
            event.remove(app.engine, "before_cursor_execute", record)
        assert runs[taken] == runs[free] and len(runs[taken]) == 2, runs
