"""The handoff over HTTP, on both backends: accept, touches, reassign, queues, reps, accounts, suppression, outbox, SLA.

The playbook is the starter (plus Zoe in sdr_na): alice, ben and zoe in sdr_na, chloe and
david in sdr_emea, erin and felix in ae. A hand-raiser (a demo request) with no country
goes to sdr_na, with a wall-clock first touch due 5 minutes after the handoff opens.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select

from leadrelay.access.tokens import create_token
from leadrelay.activity.service import ingest
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import endpoints, outbox
from tests.api.conftest import add_lead, bearer
from tests.conftest import T0
from tests.messages import numbered, track

NOBODY = 999_999


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def error(response, status: int, code: str, message: str | None = None) -> None:
    body = response.json()
    assert (response.status_code, body["code"]) == (status, code), response.text
    if message is not None:
        assert body == {"code": code, "message": message}


def token_id(client, secret: str) -> int:
    return ok(client.get("/api/me", headers=bearer(secret)))["id"]


def open_handoff(lead_id: int, handoff_id: int, *, owner: str = "alice", assigned: str = "2026-10-01T09:00:00Z",
                 due: str = "2026-10-01T09:05:00Z", **changes) -> dict:
    """A demo request's open handoff to sdr_na, as `handoff_queries.handoff_dict` writes it."""
    return {
        "id": handoff_id, "lead_id": lead_id, "kind": "hand_raise", "from": "marketing", "to": "sdr",
        "team": "sdr_na", "owner": owner, "status": "assigned", "outcome": None, "reason": None,
        "policy": "demo_request",
        "opened_at": "2026-10-01T09:00:00Z", "assigned_at": assigned, "accepted_at": None, "first_touch_at": None,
        "touches": 0, "touches_required": None, "accept_due_at": None, "first_touch_due_at": due,
        "touches_due_at": None, "follow_up_due_at": None, "closed_at": None, **changes,
    }


CONTACT = ("name", "title", "company", "phone", "fit_score", "engagement_score", "next_due_at", "state", "deadlines")


def without_contact(queue: dict) -> dict:
    """The queue with the lead's contact fields set aside (checked on their own)."""
    return queue | {"handoffs": [{k: v for k, v in h.items() if k not in CONTACT} for h in queue["handoffs"]]}


def test_the_owning_rep_accepts_and_logs_touches_and_nobody_else_can(client, app, tokens, clock):
    jane = add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)
    rep = bearer(tokens.rep)
    queue = ok(client.get("/api/queue", headers=rep))
    handoff = queue["handoffs"][0]["id"]
    contact = {key: queue["handoffs"][0].pop(key) for key in CONTACT}
    assert queue == {"rep": "alice", "handoffs": [open_handoff(jane, handoff) | {"email": "jane@acme.io"}]}
    explained = ok(client.get(f"/api/leads/{jane}", headers=rep))
    due = queue["handoffs"][0]["first_touch_due_at"]
    assert contact == {"name": None, "title": "VP Sales", "company": explained["company_domain"], "phone": None,
                       "fit_score": explained["fit_score"], "engagement_score": explained["engagement_score"],
                       "next_due_at": due, "state": "due_soon",  # in five minutes
                       "deadlines": [{"name": "first_touch", "due_at": due, "met": False}]}
    version = ok(client.get(f"/api/leads/{jane}", headers=rep))["version"]

    # Another rep, even of the same team, cannot tell the lead exists; other roles may not act as its owner.
    for secret in (tokens.teammate, tokens.stranger):
        for path, body in ((f"/api/leads/{jane}/accept", {}), (f"/api/leads/{jane}/touches",
                                                               {"kind": "call", "outcome": "connected"})):
            error(client.post(path, json=body, headers=bearer(secret)), 404, "not_found", f"no lead {jane}")
            error(client.post(path.replace(str(jane), str(NOBODY)), json=body, headers=bearer(secret)), 404,
                  "not_found", f"no lead {NOBODY}")
    for role in ("admin", "manager", "marketing"):
        error(client.post(f"/api/leads/{jane}/accept", headers=bearer(tokens.of(role))), 403, "forbidden",
              f"role {role} may not act as owner")

    clock.advance(minutes=2)
    error(client.post(f"/api/leads/{jane}/accept", json={"version": version - 1}, headers=rep), 409, "conflict",
          f"lead {jane} is at version {version}, not {version - 1}: read it again")
    assert ok(client.post(f"/api/leads/{jane}/accept", json={"version": version}, headers=rep)) == {
        "id": jane, "stage": "sal", "owner": "alice", "accepted_at": "2026-10-01T09:02:00Z", "version": version + 1}
    error(client.post(f"/api/leads/{jane}/accept", headers=rep), 422, "invalid_transition",
          f"lead {jane} was already accepted at 2026-10-01T09:02:00Z")

    clock.advance(minutes=1)
    touch = {"kind": "call", "outcome": "voicemail", "note": "left a message"}
    assert ok(client.post(f"/api/leads/{jane}/touches", json=touch, headers=rep), 201) == {
        "id": jane, "handoff": handoff, "touches": 1, "first_touch_at": "2026-10-01T09:03:00Z"}
    clock.advance(minutes=7)
    earlier = {"kind": "email", "outcome": "sent", "at": "2026-10-01T05:06:00-04:00"}  # 09:06 UTC, logged at 09:10
    assert ok(client.post(f"/api/leads/{jane}/touches", json=earlier, headers=rep), 201) == {
        "id": jane, "handoff": handoff, "touches": 2, "first_touch_at": "2026-10-01T09:03:00Z"}
    error(client.post(f"/api/leads/{jane}/touches", json={**earlier, "at": "2026-10-01T08:59:00Z"}, headers=rep),
          422, "invalid_input", "at: 2026-10-01T08:59:00Z is before the handoff opened (2026-10-01T09:00:00Z)")
    error(client.post(f"/api/leads/{jane}/touches", json={**earlier, "at": "2026-10-01T10:00:00"}, headers=rep),
          422, "invalid_input", "at: 2026-10-01T10:00:00Z is in the future (it is 2026-10-01T09:10:00Z)")
    error(client.post(f"/api/leads/{jane}/touches", json={**earlier, "kind": "fax"}, headers=rep),
          422, "invalid_request")
    error(client.post(f"/api/leads/{jane}/touches", json={**earlier, "outcome": "  "}, headers=rep), 422,
          "invalid_input", "a touch needs an outcome, e.g. connected, voicemail, no_answer, meeting_booked")

    queue = without_contact(ok(client.get("/api/queue", headers=rep)))
    assert queue == {"rep": "alice", "handoffs": [open_handoff(
        jane, handoff, accepted_at="2026-10-01T09:02:00Z", first_touch_at="2026-10-01T09:03:00Z", touches=2,
        status="working") | {"email": "jane@acme.io"}]}
    assert ok(client.get("/api/sla", headers=bearer(tokens.manager))) == {
        "sales": [{"policy": "demo_request", "deadline": "first_touch", "due": 1, "met": 1, "breached": 0, "pending": 0,
                   "closed_before_due": 0, "compliance": 1.0}],
        "policies": [{"policy": "demo_request", "handoffs": 1, "breached": 0, "compliance": 1.0}],
        "marketing": {"month": "2026-10", "mqls": 0, "target": 100, "on_track": False},
    }
    error(client.get("/api/sla", headers=rep), 403, "forbidden", "role rep may not read sla")


def test_managers_and_admins_reassign_and_the_routing_explains_it(client, app, tokens, clock):
    jane = add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)
    manager_id, admin_id = token_id(client, tokens.manager), token_id(client, tokens.admin)
    emea = create_token(app.engine, "manager", now=app.clock(), team="sdr_emea")[1]

    error(client.post(f"/api/leads/{jane}/reassign", json={"to": "ben"}, headers=bearer(tokens.rep)), 403,
          "forbidden", "role rep may not reassign")  # their own lead: seen, refused
    for secret, ref in ((tokens.stranger, jane), (tokens.stranger, NOBODY), (emea, jane)):
        error(client.post(f"/api/leads/{ref}/reassign", json={"to": "ben"}, headers=bearer(secret)), 404,
              "not_found", f"no lead {ref}")
    error(client.post(f"/api/leads/{jane}/reassign", json={"to": "ben"}, headers=bearer(tokens.marketing)), 403,
          "forbidden", "role marketing may not reassign")
    manager = bearer(tokens.manager)
    error(client.post(f"/api/leads/{jane}/reassign", json={"to": "chloe"}, headers=manager), 403, "forbidden",
          "a manager may only give leads to the reps of their team (sdr_na)")
    error(client.post(f"/api/leads/{jane}/reassign", json={"to": "nobody"}, headers=manager), 404, "not_found",
          "no rep 'nobody' in the playbook")
    error(client.post(f"/api/leads/{jane}/reassign", json={"to": "alice"}, headers=manager), 422, "invalid_input",
          f"lead {jane} is already owned by alice")

    clock.advance(minutes=1)
    assert ok(client.post(f"/api/leads/{jane}/reassign", json={"to": "ben"}, headers=manager)) == {
        "id": jane, "from": "alice", "to": "ben", "reason": f"assigned by Dana Whitfield via token {manager_id}"}
    assert ok(client.get("/api/queue", headers=bearer(tokens.rep))) == {"rep": "alice", "handoffs": []}
    ben = without_contact(ok(client.get("/api/queue?rep=ben", headers=manager)))
    assert ben == {"rep": "ben", "handoffs": [open_handoff(
        jane, 1, owner="ben", assigned="2026-10-01T09:01:00Z", due="2026-10-01T09:06:00Z")
        | {"email": "jane@acme.io"}]}
    error(client.get(f"/api/leads/{jane}", headers=bearer(tokens.rep)), 404, "not_found", f"no lead {jane}")

    clock.advance(minutes=1)
    moved = ok(client.post(f"/api/leads/{jane}/reassign", headers=bearer(tokens.admin)))  # routing picks, not ben
    assert moved == {"id": jane, "from": "ben", "to": "zoe",
                     "reason": "rule 'sdr_everyone_else' → team sdr_na, round robin"}
    assert ok(client.post(f"/api/leads/{jane}/reassign", json={"to": "chloe"}, headers=bearer(tokens.admin))) == {
        "id": jane, "from": "zoe", "to": "chloe", "reason": f"assigned by an admin via token {admin_id}"}

    routing = ok(client.get(f"/api/leads/{jane}/routing", headers=bearer(emea)))  # chloe's manager sees it now
    assert routing["id"] == jane and routing["email"] == "jane@acme.io" and routing["owner"] == "chloe"
    assert routing["decisions"] == [
        {"at": "2026-10-01T09:00:00Z", "handoff": 1, "rule": "sdr_everyone_else", "team": "sdr_na", "owner": "alice",
         "reason": "rule 'sdr_everyone_else' → team sdr_na, round robin", "actor": "rule:routing",
         "candidates": [{"rep": "alice", "skipped": None}, {"rep": "ben", "skipped": None},
                        {"rep": "zoe", "skipped": None}], "playbook_version": app.playbook.version},
        {"at": "2026-10-01T09:01:00Z", "handoff": 1, "rule": "manual", "team": "sdr_na", "owner": "ben",
         "reason": f"assigned by Dana Whitfield via token {manager_id}", "actor": f"token:{manager_id}",
         "candidates": [], "playbook_version": app.playbook.version},
        {"at": "2026-10-01T09:02:00Z", "handoff": 1, "rule": "sdr_everyone_else", "team": "sdr_na", "owner": "zoe",
         "reason": "rule 'sdr_everyone_else' → team sdr_na, round robin", "actor": f"token:{admin_id}",
         "candidates": [{"rep": "alice", "skipped": None}, {"rep": "ben", "skipped": "current owner"},
                        {"rep": "zoe", "skipped": None}], "playbook_version": app.playbook.version},
        {"at": "2026-10-01T09:02:00Z", "handoff": 1, "rule": "manual", "team": "sdr_emea", "owner": "chloe",
         "reason": f"assigned by an admin via token {admin_id}", "actor": f"token:{admin_id}", "candidates": [],
         "playbook_version": app.playbook.version},
    ]
    assert routing["handoffs"] == [open_handoff(jane, 1, owner="chloe", assigned="2026-10-01T09:02:00Z",
                                                due="2026-10-01T09:07:00Z", team="sdr_emea")]
    pending = [(x["step"], x["action"], x["fire_at"]) for x in routing["timers"] if x["cancelled_at"] is None]
    # The escalation ladder is planned when the breach fires.
    assert pending == [("warning", None, "2026-10-01T09:05:00Z"), ("breach", None, "2026-10-01T09:07:00Z")]
    error(client.get(f"/api/leads/{jane}/routing", headers=manager), 404, "not_found", f"no lead {jane}")


def test_a_queue_is_the_callers_own_or_one_they_manage_most_urgent_first(client, app, tokens, clock):
    first = add_lead(app, "first@acme.io", owner="alice", hand_raise=True)  # due 09:05
    clock.advance(minutes=1)
    second = add_lead(app, "second@acme.io", owner="alice", hand_raise=True)  # assigned at 09:01: due 09:06
    clock.advance(minutes=1)
    with app.engine.connect() as conn:
        handoffs = dict(conn.execute(select(h.handoffs.c.lead_id, h.handoffs.c.id)).all())  # one handoff per lead
    admin = bearer(tokens.admin)
    ok(client.post(f"/api/leads/{first}/reassign", json={"to": "ben"}, headers=admin))
    ok(client.post(f"/api/leads/{first}/reassign", json={"to": "alice"}, headers=admin))  # clock restarts: due 09:07

    expected = {"rep": "alice", "handoffs": [
        open_handoff(second, handoffs[second], assigned="2026-10-01T09:01:00Z", due="2026-10-01T09:06:00Z")
        | {"email": "second@acme.io"},
        open_handoff(first, handoffs[first], assigned="2026-10-01T09:02:00Z", due="2026-10-01T09:07:00Z")
        | {"email": "first@acme.io"},
    ]}
    assert without_contact(ok(client.get("/api/queue", headers=bearer(tokens.rep)))) == expected
    assert without_contact(ok(client.get("/api/queue?rep=alice", headers=bearer(tokens.rep)))) == expected
    assert without_contact(ok(client.get("/api/queue?rep=alice", headers=bearer(tokens.manager)))) == expected
    assert without_contact(ok(client.get("/api/queue?rep=alice", headers=admin))) == expected
    assert ok(client.get("/api/queue?rep=chloe", headers=admin)) == {"rep": "chloe", "handoffs": []}

    error(client.get("/api/queue?rep=ben", headers=bearer(tokens.rep)), 403, "forbidden",
          "a rep sees only their own queue")
    error(client.get("/api/queue", headers=bearer(tokens.manager)), 422, "invalid_input",
          "give ?rep=REP: only a rep token has a queue of its own")
    error(client.get("/api/queue?rep=chloe", headers=bearer(tokens.manager)), 403, "forbidden",
          "a manager may only see the queue of the reps of their team (sdr_na)")
    error(client.get("/api/queue?rep=nobody", headers=admin), 404, "not_found", "no rep 'nobody' in the playbook")
    error(client.get("/api/queue?rep=alice", headers=bearer(tokens.marketing)), 403, "forbidden",
          "role marketing may not read queue")


STARTER_TEAMS = [
    {"id": "sdr_na", "function": "sdr", "strategy": "round_robin", "calendar": "us", "working_hours_only": False,
     "manager": {"name": "Dana Whitfield", "email": "dana.whitfield@acme-analytics.example"},
     "reps": ["alice", "ben", "zoe"]},
    {"id": "sdr_emea", "function": "sdr", "strategy": "least_loaded", "calendar": "emea", "working_hours_only": False,
     "manager": {"name": "Lars Eriksen", "email": "lars.eriksen@acme-analytics.example"}, "reps": ["chloe", "david"]},
    {"id": "ae", "function": "ae", "strategy": "round_robin", "calendar": "us", "working_hours_only": False,
     "manager": {"name": "Priya Natarajan", "email": "priya.natarajan@acme-analytics.example"},
     "reps": ["erin", "felix"]},
    {"id": "customer_success", "function": "customer_success", "strategy": "least_loaded", "calendar": "us",
     "working_hours_only": False, "manager": None, "reps": ["grace"]},
]


def rep(rep_id: str, **changes) -> dict:
    """A starter rep as `GET /api/reps` shows it with no load."""
    people = {
        "alice": ("Alice Moreno", "sdr_na", 500, 40, 1.0, "America/New_York", "dana.whitfield"),
        "ben": ("Ben Carter", "sdr_na", 500, None, 2.0, "America/New_York", "dana.whitfield"),
        "chloe": ("Chloe Martin", "sdr_emea", 300, None, 1.0, "Europe/London", "lars.eriksen"),
        "zoe": ("Zoe Test", "sdr_na", None, None, 1.0, "UTC", "dana.whitfield"),
    }
    name, team, capacity, quota, weight, zone, manager = people[rep_id]
    local = "zoe" if rep_id == "zoe" else name.lower().replace(" ", ".")
    email = f"{local}@acme-analytics.example"
    return {"id": rep_id, "name": name, "email": email, "team": team, "active": True, "capacity": capacity,
            "daily_quota": quota, "weight": weight, "open_leads": 0, "assigned_today": 0, "assigned_total": 0,
            "away": [], "timezone": zone, "manager": f"{manager}@acme-analytics.example", **changes}


def test_teams_reps_and_changing_a_rep_at_run_time(client, app, tokens, clock):
    add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)
    for role in ("admin", "marketing", "manager", "rep"):
        assert ok(client.get("/api/teams", headers=bearer(tokens.of(role)))) == STARTER_TEAMS

    assert ok(client.get("/api/reps", headers=bearer(tokens.rep))) == [
        rep("alice", open_leads=1, assigned_today=1, assigned_total=1)]
    assert ok(client.get("/api/reps", headers=bearer(tokens.manager))) == [
        rep("alice", open_leads=1, assigned_today=1, assigned_total=1), rep("ben"), rep("zoe")]
    assert [r["id"] for r in ok(client.get("/api/reps", headers=bearer(tokens.marketing)))] == [
        "alice", "ben", "chloe", "david", "erin", "felix", "grace", "zoe"]

    manager = bearer(tokens.manager)
    assert ok(client.patch("/api/reps/ben", json={"active": False, "capacity": 10, "weight": 0.5},
                           headers=manager)) == rep("ben", active=False, capacity=10, weight=0.5)
    assert ok(client.post("/api/reps/ben/away", json={"from": "2026-12-21", "to": "2027-01-02"},
                          headers=manager)) == rep("ben", active=False, capacity=10, weight=0.5,
                                                   away=[["2026-12-21", "2027-01-02"]])
    error(client.post("/api/reps/ben/away", json={"from": "2026-12-21", "to": "2026-12-01"}, headers=manager),
          422, "invalid_input", "away until 2026-12-01 is before 2026-12-21")
    error(client.patch("/api/reps/chloe", json={"active": False}, headers=manager), 403, "forbidden",
          "a manager may only change the reps of their team (sdr_na)")
    error(client.post("/api/reps/chloe/away", json={"from": "2026-12-21", "to": "2027-01-02"}, headers=manager),
          403, "forbidden", "a manager may only change the reps of their team (sdr_na)")
    error(client.patch("/api/reps/nobody", json={"active": False}, headers=manager), 404, "not_found",
          "no rep 'nobody' in the playbook")
    error(client.patch("/api/reps/ben", json={}, headers=manager), 422, "invalid_request")
    error(client.patch("/api/reps/ben", json={"weight": 0}, headers=manager), 422, "invalid_request")
    error(client.patch("/api/reps/alice", json={"active": False}, headers=bearer(tokens.rep)), 403, "forbidden",
          "role rep may not manage reps")
    assert ok(client.patch("/api/reps/chloe", json={"daily_quota": 3}, headers=bearer(tokens.admin))) == rep(
        "chloe", daily_quota=3)

    # Routing sees the change at once: ben is skipped, and says why.
    lead = add_lead(app, "sam@acme.io", owner=None, hand_raise=True)
    candidates = ok(client.get(f"/api/leads/{lead}/routing", headers=bearer(tokens.admin)))["decisions"][0][
        "candidates"]
    assert candidates == [{"rep": "alice", "skipped": None}, {"rep": "ben", "skipped": "inactive"},
                          {"rep": "zoe", "skipped": None}]


def test_a_manager_cannot_take_another_teams_account_for_their_team(client, app, tokens):
    """Account-owner routing would send that company's leads, and its customers' expansions, to their rep."""
    with app.engine.begin() as conn:
        conn.execute(insert(t.accounts).values(group_id="rival-co", domain="rival.io", name="Rival", traits={},
                                               created_at=T0, updated_at=T0))
    ok(client.put("/api/accounts/rival.io/owner", json={"rep": "chloe"}, headers=bearer(tokens.admin)))
    error(client.put("/api/accounts/rival-co/owner", json={"rep": "zoe"}, headers=bearer(tokens.manager)), 403,
          "forbidden", "account 'rival-co' is owned by chloe, who is not in your team: their manager or an admin "
          "can give it to someone else")
    with app.engine.connect() as conn:
        assert conn.scalar(select(h.account_owners.c.rep)) == "chloe"  # unchanged


def test_an_account_owner_gets_the_accounts_new_leads(client, app, tokens):
    with app.engine.begin() as conn:
        account = conn.execute(insert(t.accounts).values(group_id="acme-co", domain="acme.io", name="Acme",
                                                         traits={}, created_at=T0, updated_at=T0)
                               ).inserted_primary_key[0]
    manager = bearer(tokens.manager)
    assert ok(client.put("/api/accounts/acme.io/owner", json={"rep": "ben"}, headers=manager)) == {
        "account": account, "name": "Acme", "domain": "acme.io", "owner": "ben"}
    assert ok(client.put(f"/api/accounts/{account}/owner", json={"rep": "chloe"},
                         headers=bearer(tokens.admin))) == {
        "account": account, "name": "Acme", "domain": "acme.io", "owner": "chloe"}
    ok(client.put("/api/accounts/acme-co/owner", json={"rep": "ben"}, headers=bearer(tokens.admin)))
    assert ok(client.put("/api/accounts/acme-co/owner", json={"rep": "zoe"}, headers=manager))["owner"] == "zoe"
    error(client.put("/api/accounts/acme.io/owner", json={"rep": "chloe"}, headers=manager), 403, "forbidden",
          "a manager may only give accounts to the reps of their team (sdr_na)")
    error(client.put("/api/accounts/nope/owner", json={"rep": "ben"}, headers=manager), 404, "not_found",
          "no account 'nope' (give an account id, group id or domain)")
    created = ok(client.put("/api/accounts/New.io/owner", json={"rep": "ben"}, headers=manager))  # a new company
    assert (created["account"] > account, created["domain"], created["owner"]) == (True, "new.io", "ben")
    error(client.put("/api/accounts/99999999999999999999/owner", json={"rep": "ben"}, headers=manager), 404,
          "not_found", "no account '99999999999999999999' (give an account id, group id or domain)")
    error(client.put("/api/accounts/acme.io/owner", json={"rep": "nobody"}, headers=manager), 404, "not_found",
          "no rep 'nobody' in the playbook")
    error(client.put("/api/accounts/acme.io/owner", json={"rep": "ben"}, headers=bearer(tokens.rep)), 403,
          "forbidden", "role rep may not manage accounts")

    lead = add_lead(app, "new@acme.io", owner=None, hand_raise=True)
    decision = ok(client.get(f"/api/leads/{lead}/routing", headers=bearer(tokens.admin)))["decisions"][0]
    assert (decision["owner"], decision["team"]) == ("zoe", "sdr_na")


def test_suppressions_per_channel_and_a_manager_sees_their_teams_leads(client, app, tokens, clock):
    jane = add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)
    clock.advance(minutes=1)
    carl = add_lead(app, "carl@acme.io", owner="chloe", hand_raise=True)
    clock.advance(minutes=1)
    dora = add_lead(app, "dora@acme.io", owner=None)
    ingest(app, numbered([track("Email Unsubscribed", user="dora@acme.io", when=T0 + timedelta(minutes=2))]))

    owned = [
        {"lead_id": carl, "email": "carl@acme.io", "channel": "email", "reason": "owned by sales",
         "source": "handoff:2", "permanent": False, "since": "2026-10-01T09:00:00Z"},  # the hand raised then
        {"lead_id": jane, "email": "jane@acme.io", "channel": "email", "reason": "owned by sales",
         "source": "handoff:1", "permanent": False, "since": "2026-10-01T09:00:00Z"},
    ]
    everyone = ok(client.get("/api/suppressions", headers=bearer(tokens.marketing)))
    unsubscribed = {"lead_id": dora, "email": "dora@acme.io", "channel": "email", "reason": "unsubscribed",
                    "source": "rule:suppression.unsubscribed", "permanent": True, "since": "2026-10-01T09:02:00Z"}
    assert everyone == [owned[0], unsubscribed, owned[1]]  # by email
    assert ok(client.get("/api/suppressions?channel=email", headers=bearer(tokens.admin))) == everyone
    assert ok(client.get("/api/suppressions?channel=ads", headers=bearer(tokens.admin))) == []
    assert ok(client.get("/api/suppressions", headers=bearer(tokens.manager))) == [owned[1]]
    error(client.get("/api/suppressions?channel=fax", headers=bearer(tokens.admin)), 422, "invalid_request")
    error(client.get("/api/suppressions", headers=bearer(tokens.rep)), 403, "forbidden",
          "role rep may not read suppressions")


def outbox_row(message_id: str, status: str, *, channel: str = "webhook", target: str = "crm", minute: int = 0,
               **changes) -> dict:
    at = T0 + timedelta(minutes=minute)
    return {"message_id": message_id, "event_type": "lead.assigned", "channel": channel, "target": target,
            "lead_id": 7, "payload": {"type": "lead.assigned", "timestamp": "2026-10-01T09:00:00Z",
                                      "data": {"lead_id": 7}},
            "status": status, "attempts": 0, "next_attempt_at": at, "last_error": None, "created_at": at,
            "sent_at": None, **changes}


def listed(row_id: int, row: dict) -> dict:
    iso = lambda moment: moment.isoformat().replace("+00:00", "Z") if moment else None  # noqa: E731
    return {"id": row_id, **row, "payload": None,
            "next_attempt_at": iso(row["next_attempt_at"]), "created_at": iso(row["created_at"]),
            "sent_at": iso(row["sent_at"])}


def test_the_outbox_lists_messages_and_an_admin_replays_them(client, app, tokens, clock):
    rows = [
        outbox_row("msg_sent", "sent", attempts=1, sent_at=T0),
        outbox_row("msg_dead", "dead", minute=1, attempts=9, last_error="HTTP 500"),
        outbox_row("msg_pending", "pending", channel="email", target="alice@acme.io", minute=2),
        outbox_row("msg_held", "disabled", target="old", minute=3, attempts=1, last_error="HTTP 410: gone"),
    ]
    with app.engine.begin() as conn:
        ids = [conn.execute(insert(outbox).values(**row)).inserted_primary_key[0] for row in rows]
        conn.execute(insert(endpoints).values(id="old", kind="webhook", disabled_at=T0 + timedelta(minutes=3),
                                              disabled_reason="HTTP 410: gone"))
    sent, dead, pending, held = ids
    admin = bearer(tokens.admin)
    assert ok(client.get("/api/outbox", headers=admin)) == {
        "messages": [listed(i, row) for i, row in reversed(list(zip(ids, rows)))],
        "disabled_endpoints": [{"id": "old", "kind": "webhook", "disabled_at": "2026-10-01T09:03:00Z",
                                "reason": "HTTP 410: gone"}],
    }
    assert ok(client.get("/api/outbox?status=dead&payload=true", headers=admin))["messages"] == [
        listed(dead, rows[1]) | {"payload": rows[1]["payload"]}]
    assert [m["id"] for m in ok(client.get("/api/outbox?limit=2", headers=admin))["messages"]] == [held, pending]

    clock.advance(minutes=10)
    assert ok(client.post("/api/outbox/retry", json={"dead": True}, headers=admin)) == {
        "requeued": [dead], "already_pending": [], "enabled_endpoint": None, "still_disabled": []}
    assert ok(client.post("/api/outbox/retry", json={"ids": [pending, sent, held]}, headers=admin)) == {
        "requeued": [sent, held], "already_pending": [pending], "enabled_endpoint": None, "still_disabled": ["old"]}
    assert ok(client.post("/api/outbox/retry", json={"enable_endpoint": "old"}, headers=admin)) == {
        "requeued": [], "already_pending": [], "enabled_endpoint": "old", "still_disabled": []}
    again = ok(client.get("/api/outbox", headers=admin))
    assert {m["id"]: (m["status"], m["attempts"], m["next_attempt_at"]) for m in again["messages"]} == {
        sent: ("pending", 0, "2026-10-01T09:10:00Z"), dead: ("pending", 0, "2026-10-01T09:10:00Z"),
        pending: ("pending", 0, "2026-10-01T09:02:00Z"), held: ("pending", 0, "2026-10-01T09:10:00Z")}
    assert again["disabled_endpoints"] == []

    error(client.post("/api/outbox/retry", json={}, headers=admin), 422, "invalid_request")
    error(client.post("/api/outbox/retry", json={"ids": [NOBODY]}, headers=admin), 404, "not_found",
          f"no outbox message with id {NOBODY}")
    error(client.post("/api/outbox/retry", json={"enable_endpoint": "crm"}, headers=admin), 404, "not_found",
          "endpoint 'crm' was never disabled")
    error(client.get("/api/outbox?status=lost", headers=admin), 422, "invalid_request")
    error(client.get("/api/outbox", headers=bearer(tokens.marketing)), 403, "forbidden",
          "role marketing may not manage outbox")
