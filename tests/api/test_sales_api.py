"""Qualification, the SQL gate, conversion, opportunities and the forecast over HTTP, on both backends.

The playbook is the starter (plus Zoe in sdr_na): SDRs alice, ben and zoe in sdr_na, chloe
and david in sdr_emea; AEs erin and felix in ae (an SQL goes to erin, then felix). The
framework is BANT; the SQL gate wants 3 of 4 criteria met and a booked meeting (a touch
with outcome meeting_booked). Deal stages: discovery 10%, solution 25%, demo 40%,
proposal 60%, negotiation 80% (commit), closed_won, closed_lost.
"""

from __future__ import annotations

from sqlalchemy import update

from leadrelay.access.tokens import create_token
from leadrelay.sales.forecast_snapshots import take_snapshot
from leadrelay.storage import tables as t
from tests.api.conftest import add_deal, add_lead, add_sql, bearer
from tests.api.test_handoff_api import error, ok, token_id
from tests.integration.test_sales import everything

NOBODY = 999_999

QUESTIONS = {
    "budget": ("Is budget set aside for this purchase?", "yes_no", "yes"),
    "authority": ("What is this contact's role in the buying decision?", "choice", "one of decision_maker"),
    "need": ("How strong is their need for what we sell?", "choice", "one of critical, important"),
    "timeline": ("By when do they intend to buy?", "date", "within 180 days"),
}


def criterion(cid: str, status: str = "missing", answer: str | None = None, by: str | None = None,
              at: str | None = None) -> dict:
    question, answer_type, met_when = QUESTIONS[cid]
    return {"id": cid, "question": question, "answer_type": answer_type, "met_when": met_when, "status": status,
            "answer": answer, "answered_by": by, "answered_at": at}


def qualification(lead_id: int, criteria: list[dict], *, stage: str = "sal", owner: str = "alice",
                  email: str = "jane@acme.io", meeting: bool = False, reasons: list[str], summary: str) -> dict:
    by_status = {status: [c["id"] for c in criteria if c["status"] == status] for status in ("met", "missing",
                                                                                            "failed")}
    return {"id": lead_id, "email": email, "stage": stage, "owner": owner,
            "framework": {"id": "bant", "name": "BANT"}, "criteria": criteria, **by_status,
            "meeting_booked": meeting, "product_qualified": False,
            "sql_gate": {"passed": not reasons, "reasons": reasons, "summary": summary}}


def deal(deal_id: int, *, lead_id: int, owner: str, name: str, amount: float, close: str, domain: str,
         account: int, created: str = "2026-10-01T09:00:00Z", **changes) -> dict:
    """An open opportunity in discovery, as the API writes it; `changes` override."""
    return {
        "id": deal_id, "name": name, "kind": "new_business", "account": {"id": account, "name": domain,
                                                                         "domain": domain},
        "lead_id": lead_id, "owner": owner, "amount": amount, "currency": "USD", "close_date": close,
        "stage": "discovery", "probability": 10.0, "stage_probability": 10.0, "probability_override": None,
        "weighted": round(amount * 0.1, 2), "forecast_category": "pipeline", "status": "open", "lost_reason": None,
        "created_at": created, "closed_at": None, "version": 0, **changes,
    }


def rep_token(app, rep: str) -> dict[str, str]:
    return bearer(create_token(app.engine, "rep", now=app.clock(), rep_id=rep)[1])


def manager_token(app, team: str) -> dict[str, str]:
    return bearer(create_token(app.engine, "manager", now=app.clock(), team=team)[1])


# --- qualification and the SQL gate ---------------------------------------------------------------

def test_a_rep_qualifies_their_lead_and_passes_it_through_the_sql_gate(client, app, tokens, clock):
    jane = add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)  # a demo request: sal, alice's
    alice = bearer(tokens.rep)
    nothing_yet = qualification(jane, [criterion(c) for c in QUESTIONS], reasons=[
        "0 of 4 BANT criteria met, 3 needed (missing: budget, authority, need, timeline)",
        "no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a "
        "cancellation does not count)"], summary="0 of 4 BANT criteria met")
    assert ok(client.get(f"/api/leads/{jane}/qualification", headers=alice)) == nothing_yet
    assert ok(client.get(f"/api/leads/{jane}/qualification", headers=bearer(tokens.marketing))) == nothing_yet

    # Another rep, even of the same team, cannot tell the lead exists; marketing reads but does not qualify.
    answers = {"answers": {"budget": "yes", "authority": "user"}}
    for secret in (tokens.teammate, tokens.stranger):
        for ref in (jane, NOBODY):
            error(client.get(f"/api/leads/{ref}/qualification", headers=bearer(secret)), 404, "not_found",
                  f"no lead {ref}")
            error(client.post(f"/api/leads/{ref}/qualification", json=answers, headers=bearer(secret)), 404,
                  "not_found", f"no lead {ref}")
            error(client.post(f"/api/leads/{ref}/sql", headers=bearer(secret)), 404, "not_found", f"no lead {ref}")
    error(client.post(f"/api/leads/{jane}/qualification", json=answers, headers=bearer(tokens.marketing)), 403,
          "forbidden", "role marketing may not qualify")

    first = qualification(jane, [
        criterion("budget", "met", "yes", "user:alice", "2026-10-01T09:00:00Z"),
        criterion("authority", "failed", "user", "user:alice", "2026-10-01T09:00:00Z"),
        criterion("need"), criterion("timeline"),
    ], reasons=["1 of 4 BANT criteria met, 3 needed (missing: need, timeline; failed: authority (user))",
                "no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a "
                "cancellation does not count)"],
        summary="1 of 4 BANT criteria met (budget)")
    assert ok(client.post(f"/api/leads/{jane}/qualification", json=answers, headers=alice)) == first | {
        "recorded": ["budget", "authority"]}

    # The gate refuses with every reason (422, like any move the rules forbid) and changes nothing.
    before = everything(app)
    error(client.post(f"/api/leads/{jane}/sql", headers=alice), 422, "sql_gate_not_met",
          f"lead {jane} cannot become an SQL: 1 of 4 BANT criteria met, 3 needed (missing: need, timeline; "
          "failed: authority (user)); no meeting booked (book one, or log a touch with outcome meeting_booked; a "
          "no-show or a cancellation does not count)")
    assert everything(app) == before
    for role in ("admin", "manager", "marketing"):  # passing the gate is the owning rep's own work
        error(client.post(f"/api/leads/{jane}/sql", headers=bearer(tokens.of(role))), 403, "forbidden",
              f"role {role} may not advance to sql")

    # Their manager records answers too (named by token); the latest answer counts.
    clock.advance(minutes=5)
    manager = f"token:{token_id(client, tokens.manager)}"
    later = {"answers": {"authority": "Decision_Maker", "need": "important", "timeline": "2027-01-15"}}
    met_now = qualification(jane, [
        criterion("budget", "met", "yes", "user:alice", "2026-10-01T09:00:00Z"),
        criterion("authority", "met", "decision_maker", manager, "2026-10-01T09:05:00Z"),
        criterion("need", "met", "important", manager, "2026-10-01T09:05:00Z"),
        criterion("timeline", "met", "2027-01-15", manager, "2026-10-01T09:05:00Z"),
    ], reasons=["no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a "
                "cancellation does not count)"],
        summary="4 of 4 BANT criteria met (budget, authority, need, timeline)")
    assert ok(client.post(f"/api/leads/{jane}/qualification", json=later, headers=bearer(tokens.manager))) == \
        met_now | {"recorded": ["authority", "need", "timeline"]}
    ok(client.post(f"/api/leads/{jane}/touches", json={"kind": "meeting", "outcome": "meeting_booked"},
                   headers=alice), 201)
    passed = met_now | {"meeting_booked": True, "sql_gate": {
        "passed": True, "reasons": [], "summary": "4 of 4 BANT criteria met (budget, authority, need, timeline)"}}
    assert ok(client.get(f"/api/leads/{jane}/qualification", headers=alice)) == passed

    version = ok(client.get(f"/api/leads/{jane}", headers=alice))["version"]
    error(client.post(f"/api/leads/{jane}/sql", json={"version": version - 1}, headers=alice), 409, "conflict",
          f"lead {jane} is at version {version}, not {version - 1}: read it again")
    assert ok(client.post(f"/api/leads/{jane}/sql", json={"version": version}, headers=alice)) == {
        "id": jane, "from": "sal", "to": "sql", "transition": "advance",
        "reason": "SQL gate met: 4 of 4 BANT criteria met (budget, authority, need, timeline)", "owner": "erin",
        "version": version + 1, "gate": "4 of 4 BANT criteria met (budget, authority, need, timeline)"}

    # The lead is erin's now: alice no longer sees it; erin does.
    error(client.get(f"/api/leads/{jane}/qualification", headers=alice), 404, "not_found", f"no lead {jane}")
    assert ok(client.get(f"/api/leads/{jane}/qualification", headers=rep_token(app, "erin"))) == passed | {
        "stage": "sql", "owner": "erin"}
    error(client.post(f"/api/leads/{jane}/sql", headers=rep_token(app, "erin")), 422, "invalid_transition",
          f"lead {jane} is already an SQL")


def test_bad_answers_are_refused_with_a_clear_message_and_store_nothing(client, app, tokens):
    jane = add_lead(app, "jane@acme.io", owner="alice", hand_raise=True)
    alice = bearer(tokens.rep)
    ok(client.post(f"/api/leads/{jane}/qualification", json={"answers": {"budget": "yes"}}, headers=alice))
    before = everything(app)
    bad = [
        ({"need": "critical", "timeline": "next spring"}, 422, "invalid_input",
         "timeline: expected a date like 2027-01-15, got 'next spring'"),
        ({"budget": "maybe"}, 422, "invalid_input", "budget: expected yes or no, got 'maybe'"),
        ({"authority": 3}, 422, "invalid_input",
         "authority: expected one of decision_maker, influencer, user; got '3'"),
        ({"timeline": True}, 422, "invalid_input", "timeline: expected a date like 2027-01-15, got 'yes'"),
        ({"seats": 40}, 422, "invalid_input", "no criterion 'seats' in BANT (criteria: budget, authority, need, "
                                              "timeline)"),
        ({"budget": " "}, 422, "invalid_input", "budget: expected yes or no, got an empty answer"),
        ({}, 422, "invalid_input", "no answers given (criteria of BANT: budget, authority, need, timeline)"),
        # Every bad answer at once, in the order given (issue 13: only the first was told).
        ({"budget": "maybe", "need": "critical", "timeline": "next spring", "seats": 4}, 422, "invalid_input",
         "budget: expected yes or no, got 'maybe'; timeline: expected a date like 2027-01-15, got 'next spring'; "
         "no criterion 'seats' in BANT (criteria: budget, authority, need, timeline)"),
    ]
    for answers, status, code, message in bad:
        error(client.post(f"/api/leads/{jane}/qualification", json={"answers": answers}, headers=alice), status,
              code, message)
    error(client.post(f"/api/leads/{jane}/qualification", json={"answers": {"need": {"level": "high"}}},
                      headers=alice), 422, "invalid_request")
    error(client.post(f"/api/leads/{jane}/qualification", json={"budget": "yes"}, headers=alice), 422,
          "invalid_request")
    assert everything(app) == before

    ok(client.post(f"/api/leads/{jane}/disqualify", json={"reason": "bad_data"}, headers=bearer(tokens.admin)))
    before = everything(app)
    error(client.post(f"/api/leads/{jane}/qualification", json={"answers": {"need": "critical"}},
                      headers=bearer(tokens.admin)), 422, "invalid_transition",
          f"lead {jane} is disqualified: reopen it before qualifying it")
    assert everything(app) == before


# --- conversion ---------------------------------------------------------------------------------------

def test_an_ae_converts_their_sql_and_every_bad_conversion_changes_nothing(client, app, tokens):
    jane = add_sql(app, "jane@acme.io")  # qualified by alice, handed to erin
    erin = rep_token(app, "erin")
    good = {"name": "Acme — 50 seats", "amount": 12000.5, "currency": "eur", "expected_close": "2026-12-15"}

    before = everything(app)
    bad = [
        ({"amount": -100}, 422, "invalid_input", "amount must be zero or more, got -100.00"),
        ({"amount": "12000.505"}, 422, "invalid_input", "amount has more than two decimals: 12000.505"),
        ({"amount": 1e300}, 422, "invalid_input", "amount is too large: 1E+300"),
        ({"currency": "XYZ"}, 422, "invalid_input", "unknown currency 'XYZ': the playbook allows USD, EUR, GBP"),
        ({"expected_close": "2026-09-30"}, 422, "invalid_input",
         "expected close date 2026-09-30 is in the past (today is 2026-10-01); give a future date, or allow a past "
         "one on purpose (--allow-past-close) to record a deal after the fact"),
        ({"stage": "closing"}, 422, "invalid_input", "no deal stage 'closing' in the playbook (stages: discovery, "
                                                     "solution, demo, proposal, negotiation, closed_won, "
                                                     "closed_lost)"),
        ({"stage": "closed_won"}, 422, "invalid_input", "a new opportunity starts in an open stage, not "
                                                        "'closed_won' (open stages: discovery, solution, demo, "
                                                        "proposal, negotiation)"),
        ({"name": " "}, 422, "invalid_input", "an opportunity needs a name"),
        ({"account_domain": "gmail.com"}, 422, "invalid_input",
         "gmail.com is a webmail domain, not a company: give the company's own domain"),
        ({"owner": "felix"}, 403, "forbidden", "a rep converts a lead into a deal of their own: leave out owner"),
        ({"amount": "lots"}, 422, "invalid_request", None),
        ({"expected_close": "soon"}, 422, "invalid_request", None),
    ]
    for change, status, code, message in bad:
        error(client.post(f"/api/leads/{jane}/convert", json=good | change, headers=erin), status, code, message)
    for secret in (rep_token(app, "felix"), rep_token(app, "alice"), bearer(tokens.manager)):  # not theirs/sdr_na's
        error(client.post(f"/api/leads/{jane}/convert", json=good, headers=secret), 404, "not_found", f"no lead {jane}")
    error(client.post(f"/api/leads/{jane}/convert", json=good, headers=bearer(tokens.marketing)), 403, "forbidden",
          "role marketing may not convert")
    error(client.post(f"/api/leads/{jane}/convert", json=good | {"owner": "alice"},
                      headers=manager_token(app, "ae")), 403, "forbidden",
          "a manager may only give deals to the reps of their team (ae)")
    assert everything(app) == before

    converted = ok(client.post(f"/api/leads/{jane}/convert", json=good, headers=erin), 201)
    lead_version = converted["lead"]["version"]
    assert converted == {
        "opportunity": deal(1, lead_id=jane, owner="erin", name="Acme — 50 seats", amount=12000.5,
                            close="2026-12-15", domain="acme.io", account=1, currency="EUR", weighted=1200.05),
        "warnings": [],
        "account": {"id": 1, "name": "acme.io", "domain": "acme.io", "created": True, "owner_set": True},
        "lead": {"id": jane, "stage": "opportunity", "version": lead_version},
    }
    before = everything(app)
    error(client.post(f"/api/leads/{jane}/convert", json=good, headers=erin), 422, "invalid_transition",
          f"lead {jane} was already converted: opportunity 1 is open")
    assert everything(app) == before

    # A manager converts a lead of their team, for any of their reps, a past close date on purpose.
    late = add_sql(app, "late@beta.io")  # felix's (round robin)
    result = ok(client.post(f"/api/leads/{late}/convert", headers=manager_token(app, "ae"), json={
        "name": "Signed last week", "amount": "900", "expected_close": "2026-09-24", "allow_past_close": True,
        "owner": "erin"}), 201)
    assert result == {
        "opportunity": deal(2, lead_id=late, owner="erin", name="Signed last week", amount=900.0, close="2026-09-24",
                            domain="beta.io", account=2),
        "warnings": ["expected close date 2026-09-24 is in the past"],
        "account": {"id": 2, "name": "beta.io", "domain": "beta.io", "created": True, "owner_set": True},
        "lead": {"id": late, "stage": "opportunity", "version": result["lead"]["version"]},
    }


def test_a_disqualified_or_unqualified_lead_is_not_converted(client, app, tokens):
    jane = add_sql(app, "jane@acme.io")
    early = add_lead(app, "early@acme.io", owner="alice", hand_raise=True)
    admin = bearer(tokens.admin)
    ok(client.post(f"/api/leads/{jane}/disqualify", json={"reason": "bad_data"}, headers=rep_token(app, "erin")))
    good = {"name": "x", "amount": 1, "expected_close": "2026-12-15"}
    before = everything(app)
    error(client.post(f"/api/leads/{jane}/convert", json=good, headers=admin), 422, "invalid_transition",
          f"lead {jane} is disqualified: reopen it before converting it")
    error(client.post(f"/api/leads/{early}/convert", json=good, headers=bearer(tokens.rep)), 422,
          "invalid_transition", f"lead {early} is sal: only an SQL is converted (qualify it, then leads sql)")
    assert everything(app) == before

    sql = add_sql(app, "queued@acme.io")
    with app.engine.begin() as conn:  # an SQL nobody owns yet: an admin must say who owns the deal
        conn.execute(update(t.leads).where(t.leads.c.id == sql).values(owner=None))
    before = everything(app)
    error(client.post(f"/api/leads/{sql}/convert", json=good, headers=admin), 422, "invalid_input",
          f"lead {sql} has no owner: say who owns the opportunity (owner)")
    assert everything(app) == before
    assert ok(client.post(f"/api/leads/{sql}/convert", json=good | {"owner": "felix"}, headers=admin),
              201)["opportunity"]["owner"] == "felix"


# --- opportunities ---------------------------------------------------------------------------------------

def three_deals(app) -> tuple[int, int, int]:
    """erin's acme.io deal (closes 2026-11-30), felix's beta.io (2026-10-31), erin's gamma.io (2026-12-30)."""
    return (add_deal(app, "a@acme.io", owner="erin", amount="10000", close_in_days=60),
            add_deal(app, "b@beta.io", owner="felix", amount="20000", close_in_days=30),
            add_deal(app, "c@gamma.io", owner="erin", amount="3000", close_in_days=90))


def ids(response) -> list[int]:
    return [d["id"] for d in ok(response)["opportunities"]]


def test_opportunities_are_listed_in_each_roles_scope_with_filters_and_pages(client, app, tokens):
    acme, beta, gamma = three_deals(app)
    admin = bearer(tokens.admin)
    page = ok(client.get("/api/opportunities", headers=admin))
    assert page == {"opportunities": [
        deal(beta, lead_id=2, owner="felix", name="Deal b@beta.io", amount=20000.0, close="2026-10-31",
             domain="beta.io", account=2),
        deal(acme, lead_id=1, owner="erin", name="Deal a@acme.io", amount=10000.0, close="2026-11-30",
             domain="acme.io", account=1),
        deal(gamma, lead_id=3, owner="erin", name="Deal c@gamma.io", amount=3000.0, close="2026-12-30",
             domain="gamma.io", account=3),
    ], "next_cursor": None}
    assert ids(client.get("/api/opportunities", headers=bearer(tokens.marketing))) == [beta, acme, gamma]
    assert ids(client.get("/api/opportunities", headers=manager_token(app, "ae"))) == [beta, acme, gamma]
    assert ids(client.get("/api/opportunities", headers=bearer(tokens.manager))) == []  # sdr_na owns no deals
    assert ids(client.get("/api/opportunities", headers=rep_token(app, "erin"))) == [acme, gamma]
    assert ids(client.get("/api/opportunities?owner=felix", headers=rep_token(app, "erin"))) == []
    assert ids(client.get("/api/opportunities", headers=bearer(tokens.rep))) == []

    ok(client.post(f"/api/opportunities/{acme}/move", json={"stage": "negotiation"}, headers=admin))
    ok(client.post(f"/api/opportunities/{beta}/lose", json={"reason": "price"}, headers=admin))
    assert ids(client.get("/api/opportunities?owner=erin", headers=admin)) == [acme, gamma]
    assert ids(client.get("/api/opportunities?stage=negotiation", headers=admin)) == [acme]
    assert ids(client.get("/api/opportunities?status=lost", headers=admin)) == [beta]
    assert ids(client.get("/api/opportunities?status=all&team=ae", headers=admin)) == [beta, acme, gamma]  # lost today
    assert ids(client.get("/api/opportunities?status=all&team=sdr_na", headers=admin)) == []

    first = ok(client.get("/api/opportunities?status=all&limit=2", headers=admin))
    assert [d["id"] for d in first["opportunities"]] == [beta, acme] and first["next_cursor"]
    assert ok(client.get(f"/api/opportunities?status=all&limit=2&cursor={first['next_cursor']}", headers=admin)) \
        == {"opportunities": [page["opportunities"][2]], "next_cursor": None}

    error(client.get("/api/opportunities?stage=signed", headers=admin), 422, "invalid_input",
          "no deal stage 'signed' in the playbook (stages: discovery, solution, demo, proposal, negotiation, "
          "closed_won, closed_lost)")
    error(client.get("/api/opportunities?cursor=nonsense", headers=admin), 422, "invalid_input",
          "cursor: not a cursor this API handed out")
    error(client.get("/api/opportunities?status=maybe", headers=admin), 422, "invalid_request")
    error(client.get("/api/opportunities", headers=bearer(tokens.ingest)), 403, "forbidden",
          "a write key can only send activities (/v1/...)")


def test_a_rep_works_their_own_deals_a_manager_their_teams_and_marketing_only_reads(client, app, tokens, clock):
    acme, beta, _ = three_deals(app)
    erin, felix, ae = rep_token(app, "erin"), rep_token(app, "felix"), manager_token(app, "ae")
    ae_id = token_id(client, ae["Authorization"].removeprefix("Bearer "))
    opened = deal(acme, lead_id=1, owner="erin", name="Deal a@acme.io", amount=10000.0, close="2026-11-30",
                  domain="acme.io", account=1)
    assert ok(client.get(f"/api/opportunities/{acme}", headers=erin)) == opened | {
        "contact": {"id": 1, "email": "a@acme.io", "stage": "opportunity"},
        "history": [{"at": "2026-10-01T09:00:00Z", "actor": "test:setup", "action": "opened", "changes": {
            "name": [None, "Deal a@acme.io"], "amount": [None, "10000.00"], "currency": [None, "USD"],
            "close_date": [None, "2026-11-30"], "owner": [None, "erin"], "stage": [None, "discovery"],
            "probability": [None, 10.0], "forecast_category": [None, "pipeline"]}, "reason": None}]}

    # Someone else's deal does not exist for a rep, nor another team's for a manager; marketing may only read.
    for secret in (felix, bearer(tokens.rep), bearer(tokens.manager)):
        for ref in (acme, NOBODY):
            error(client.get(f"/api/opportunities/{ref}", headers=secret), 404, "not_found", f"no opportunity {ref}")
            error(client.post(f"/api/opportunities/{ref}/move", json={"stage": "demo"}, headers=secret), 404,
                  "not_found", f"no opportunity {ref}")
            error(client.post(f"/api/opportunities/{ref}/win", headers=secret), 404, "not_found",
                  f"no opportunity {ref}")
    assert ok(client.get(f"/api/opportunities/{acme}", headers=bearer(tokens.marketing)))["id"] == acme
    for path, body in ((f"{acme}/move", {"stage": "demo"}), (f"{acme}/probability", {"probability": 50}),
                       (f"{acme}/win", None), (f"{acme}/lose", {"reason": "price"})):
        error(client.post(f"/api/opportunities/{path}", json=body, headers=bearer(tokens.marketing)), 403,
              "forbidden", "role marketing may not change deals")

    # Bad moves: a clear error and nothing changed.
    before = everything(app)
    bad = [
        ("move", {"stage": "signed"}, 422, "invalid_input", "no deal stage 'signed' in the playbook (stages: "
         "discovery, solution, demo, proposal, negotiation, closed_won, closed_lost)"),
        ("move", {"stage": "closed_won"}, 422, "invalid_input",
         "'closed_won' is the won stage: win the deal instead (opps win)"),
        ("move", {"stage": "discovery"}, 422, "invalid_input", f"opportunity {acme} is already in 'discovery'"),
        ("move", {"stage": "demo", "version": 3}, 409, "conflict",
         f"opportunity {acme} is at version 0, not 3: read it again"),
        ("probability", {"probability": 150}, 422, "invalid_input",
         "probability must be a percentage from 0 to 100, got '150'"),
        ("probability", {"probability": "high"}, 422, "invalid_request", None),
        ("probability", {}, 422, "invalid_request", None),
        ("lose", {"reason": "bad_vibes"}, 422, "invalid_input", "'bad_vibes' is not a lost reason in the playbook "
         "(one of no_budget, lost_to_competitor, no_decision, bad_timing, price, product_fit)"),
        ("lose", {}, 422, "invalid_request", None),
        ("win", {"version": 7}, 409, "conflict", f"opportunity {acme} is at version 0, not 7: read it again"),
    ]
    for action, body, status, code, message in bad:
        error(client.post(f"/api/opportunities/{acme}/{action}", json=body, headers=erin), status, code, message)
    assert everything(app) == before

    clock.advance(days=2)
    assert ok(client.post(f"/api/opportunities/{acme}/move", json={"stage": "proposal", "version": 0},
                          headers=erin)) == {"opportunity": opened | {
                              "stage": "proposal", "probability": 60.0, "stage_probability": 60.0,
                              "weighted": 6000.0, "forecast_category": "best_case", "version": 1}}
    assert ok(client.post(f"/api/opportunities/{acme}/probability", json={"probability": 45.5}, headers=erin)) == {
        "opportunity": opened | {"stage": "proposal", "probability": 45.5, "stage_probability": 60.0,
                                 "probability_override": 45.5, "weighted": 4550.0, "forecast_category": "best_case",
                                 "version": 2}}
    assert ok(client.post(f"/api/opportunities/{acme}/probability", json={"probability": None}, headers=ae)) == {
        "opportunity": opened | {"stage": "proposal", "probability": 60.0, "stage_probability": 60.0,
                                 "weighted": 6000.0, "forecast_category": "best_case", "version": 3}}
    assert ok(client.post(f"/api/opportunities/{acme}/move", json={"stage": "negotiation"}, headers=ae)) == {
        "opportunity": opened | {"stage": "negotiation", "probability": 80.0, "stage_probability": 80.0,
                                 "weighted": 8000.0, "forecast_category": "commit", "version": 4}}

    clock.advance(days=1)
    won = ok(client.post(f"/api/opportunities/{acme}/win", json={"version": 4}, headers=erin))
    assert won == {"opportunity": opened | {
        "stage": "closed_won", "probability": 100.0, "stage_probability": 100.0, "weighted": None,
        "forecast_category": "closed", "status": "won", "close_date": "2026-10-04",
        "closed_at": "2026-10-04T09:00:00Z", "version": 5},
        "lead": {"id": 1, "stage": "customer", "version": won["lead"]["version"]}}
    history = ok(client.get(f"/api/opportunities/{acme}", headers=ae))["history"]
    assert [(h["action"], h["actor"], h["at"]) for h in history] == [
        ("opened", "test:setup", "2026-10-01T09:00:00Z"), ("stage", "user:erin", "2026-10-03T09:00:00Z"),
        ("probability", "user:erin", "2026-10-03T09:00:00Z"), ("probability", f"token:{ae_id}", "2026-10-03T09:00:00Z"),
        ("stage", f"token:{ae_id}", "2026-10-03T09:00:00Z"), ("won", "user:erin", "2026-10-04T09:00:00Z")]
    before = everything(app)
    error(client.post(f"/api/opportunities/{acme}/move", json={"stage": "demo"}, headers=erin), 422,
          "invalid_transition", f"opportunity {acme} is won: a closed deal does not change")
    assert everything(app) == before

    lost = ok(client.post(f"/api/opportunities/{beta}/lose", json={"reason": "lost_to_competitor"}, headers=felix))
    assert lost == {"opportunity": deal(
        beta, lead_id=2, owner="felix", name="Deal b@beta.io", amount=20000.0, close="2026-10-04", domain="beta.io",
        account=2, stage="closed_lost", probability=0.0, stage_probability=0.0, weighted=None,
        forecast_category="omitted", status="lost", lost_reason="lost_to_competitor",
        closed_at="2026-10-04T09:00:00Z", version=1),
        "lead": {"id": 2, "stage": "lead", "segment": "recycled", "version": lost["lead"]["version"]}}


# --- the forecast ------------------------------------------------------------------------------------------

def totals(**values) -> dict:
    return {"open_pipeline": 0.0, "weighted_pipeline": 0.0, "commit": 0.0, "best_case": 0.0, "closed_won": 0.0,
            "open_deals": 0, "won_deals": 0, "lost_deals": 0, **values}


def test_the_forecast_by_month_rep_team_and_category_in_each_roles_scope(client, app, tokens, clock):
    acme, beta, gamma = three_deals(app)
    mine = add_deal(app, "d@delta.io", owner="alice", amount="500")  # an SDR's deal: team sdr_na
    admin = bearer(tokens.admin)
    ok(client.post(f"/api/opportunities/{beta}/move", json={"stage": "negotiation"}, headers=admin))
    ok(client.post(f"/api/opportunities/{mine}/win", headers=admin))
    take_snapshot(app, actor="user:priya")
    clock.advance(days=1)
    ok(client.post(f"/api/opportunities/{gamma}/lose", json={"reason": "price"}, headers=admin))

    everything_by_rep = ok(client.get("/api/forecast?by=rep", headers=admin))
    assert {k: v for k, v in everything_by_rep.items() if k != "snapshots"} == {
        "as_of": "2026-10-02", "week": "2026-W40", "by": "rep", "team": None,
        "rows": [
            {"group": "alice", "currency": "USD", **totals(closed_won=500.0, won_deals=1)},
            {"group": "erin", "currency": "USD", **totals(open_pipeline=10000.0, weighted_pipeline=1000.0,
                                                          open_deals=1, lost_deals=1)},
            {"group": "felix", "currency": "USD", **totals(open_pipeline=20000.0, weighted_pipeline=16000.0,
                                                           commit=20000.0, open_deals=1)},
        ],
        "totals": [{"currency": "USD", **totals(open_pipeline=30000.0, weighted_pipeline=17000.0, commit=20000.0,
                                                closed_won=500.0, open_deals=2, won_deals=1, lost_deals=1)}],
    }
    assert everything_by_rep["snapshots"] == [{
        "week": "2026-W40", "taken_at": "2026-10-01T09:00:00Z", "currency": "USD", "open_pipeline": 33000.0,
        "weighted_pipeline": 17300.0, "commit": 20000.0, "best_case": 0.0, "closed_won": 500.0,
        "change_since": {"open_pipeline": -3000.0, "weighted_pipeline": -300.0, "commit": 0.0, "best_case": 0.0,
                         "closed_won": 0.0},
        "open_then": 33000.0, "won_since": 0.0, "lost_since": 3000.0, "still_open": 30000.0, "commit_then": 20000.0,
        "commit_won_since": 0.0}]
    assert ok(client.get("/api/forecast?by=category", headers=bearer(tokens.marketing)))["rows"] == [
        {"group": "pipeline", "currency": "USD", **totals(open_pipeline=10000.0, weighted_pipeline=1000.0,
                                                          open_deals=1)},
        {"group": "commit", "currency": "USD", **totals(open_pipeline=20000.0, weighted_pipeline=16000.0,
                                                        commit=20000.0, open_deals=1)},
        {"group": "closed", "currency": "USD", **totals(closed_won=500.0, won_deals=1)},
        {"group": "omitted", "currency": "USD", **totals(lost_deals=1)},
    ]

    # A manager: their team's deals only, and not the company-wide snapshots.
    assert ok(client.get("/api/forecast?by=month", headers=manager_token(app, "ae"))) == {
        "as_of": "2026-10-02", "week": "2026-W40", "by": "month", "team": "ae",
        "rows": [
            {"group": "2026-10", "currency": "USD", **totals(open_pipeline=20000.0, weighted_pipeline=16000.0,
                                                             commit=20000.0, open_deals=1, lost_deals=1)},
            {"group": "2026-11", "currency": "USD", **totals(open_pipeline=10000.0, weighted_pipeline=1000.0,
                                                             open_deals=1)},
        ],
        "totals": [{"currency": "USD", **totals(open_pipeline=30000.0, weighted_pipeline=17000.0, commit=20000.0,
                                                open_deals=2, lost_deals=1)}],
        "snapshots": [],
    }
    assert ok(client.get("/api/forecast?by=team", headers=bearer(tokens.manager))) == {
        "as_of": "2026-10-02", "week": "2026-W40", "by": "team", "team": "sdr_na",
        "rows": [{"group": "sdr_na", "currency": "USD", **totals(closed_won=500.0, won_deals=1)}],
        "totals": [{"currency": "USD", **totals(closed_won=500.0, won_deals=1)}], "snapshots": [],
    }
    error(client.get("/api/forecast", headers=rep_token(app, "erin")), 403, "forbidden",
          "role rep may not read forecast")
    error(client.get("/api/forecast?by=quarter", headers=admin), 422, "invalid_request")
