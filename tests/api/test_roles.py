"""Every endpoint, every role: allowed, forbidden (403), unauthenticated (401) or hidden (404).

The list of endpoints comes from the app itself (its OpenAPI document, which lists every
route), so an endpoint added without an entry in EXPECTED fails this test. "scoped"
means: allowed on a lead in the caller's scope, and on any other lead answered exactly
like a lead that does not exist (404), so a rep cannot learn that another rep's lead
exists. "forbidden_scoped": 403 on a lead in the caller's scope, and the same 404 on any
other (a rep asking to reassign: their own lead is refused, another's does not exist).
Opportunities (`{deal_id}`) are scoped the same way, by their owner.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from leadrelay.access.tokens import create_token
from leadrelay.handoff import meeting_service
from leadrelay.playbook.loader import starter_text
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from tests.api.conftest import People, add_deal, add_lead, bearer
from tests.api.test_ingest_segment import basic
from tests.messages import track

ROLES = ("admin", "marketing", "manager", "rep", "ingest", "anonymous")
OK, FORBIDDEN, SCOPED, FORBIDDEN_SCOPED = "ok", "forbidden", "scoped", "forbidden_scoped"

PUBLIC = dict.fromkeys(ROLES, OK)
INGEST = {"admin": FORBIDDEN, "marketing": FORBIDDEN, "manager": FORBIDDEN, "rep": FORBIDDEN, "ingest": OK}
PEOPLE = {"admin": OK, "marketing": OK, "manager": OK, "rep": OK, "ingest": FORBIDDEN}
PEOPLE_SCOPED = {"admin": SCOPED, "marketing": SCOPED, "manager": SCOPED, "rep": SCOPED, "ingest": FORBIDDEN}
SALES_SCOPED = {"admin": SCOPED, "marketing": FORBIDDEN, "manager": SCOPED, "rep": SCOPED, "ingest": FORBIDDEN}
PLAYBOOK_EDITORS = {"admin": OK, "marketing": OK, "manager": FORBIDDEN, "rep": FORBIDDEN, "ingest": FORBIDDEN}
ADMIN_ONLY = {"admin": OK, "marketing": FORBIDDEN, "manager": FORBIDDEN, "rep": FORBIDDEN, "ingest": FORBIDDEN}
OWNING_REP = {"admin": FORBIDDEN, "marketing": FORBIDDEN, "manager": FORBIDDEN, "rep": SCOPED, "ingest": FORBIDDEN}
REASSIGNERS = {"admin": SCOPED, "marketing": FORBIDDEN, "manager": SCOPED, "rep": FORBIDDEN_SCOPED,
               "ingest": FORBIDDEN}
SALES = {"admin": OK, "marketing": FORBIDDEN, "manager": OK, "rep": OK, "ingest": FORBIDDEN}
REP_MANAGERS = {"admin": OK, "marketing": FORBIDDEN, "manager": OK, "rep": FORBIDDEN, "ingest": FORBIDDEN}
REPORT_READERS = {"admin": OK, "marketing": OK, "manager": OK, "rep": FORBIDDEN, "ingest": FORBIDDEN}

EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    **{("POST", f"/v1/{kind}"): INGEST for kind in ("batch", "identify", "track", "page", "screen", "group", "alias")},
    ("GET", "/api/leads"): PEOPLE,
    ("GET", "/api/leads/{ref}"): PEOPLE_SCOPED,
    ("GET", "/api/leads/{ref}/activities"): PEOPLE_SCOPED,
    ("GET", "/api/leads/{ref}/next-fields"): PEOPLE_SCOPED,
    ("GET", "/v1/next-fields"): INGEST,
    ("GET", "/api/segments/export"): PLAYBOOK_EDITORS,  # admin and marketing
    # the handoff first, while it is open (the moves below close it)
    ("POST", "/api/leads/{ref}/accept"): OWNING_REP,
    ("POST", "/api/leads/{ref}/touches"): OWNING_REP,
    ("POST", "/api/leads/{ref}/reassign"): REASSIGNERS,
    ("GET", "/api/leads/{ref}/meetings"): PEOPLE_SCOPED,
    ("POST", "/api/leads/{ref}/meetings"): SALES_SCOPED,
    **{("POST", f"/api/meetings/{{meeting}}/{step}"): SALES for step in ("reschedule", "held", "no-show", "cancel")},
    ("GET", "/api/leads/{ref}/routing"): PEOPLE_SCOPED,
    ("GET", "/api/leads/{ref}/qualification"): PEOPLE_SCOPED,
    ("POST", "/api/leads/{ref}/qualification"): SALES_SCOPED,
    ("POST", "/api/leads/{ref}/sql"): OWNING_REP,
    ("POST", "/api/leads/{ref}/convert"): SALES_SCOPED,
    ("POST", "/api/leads/{ref}/recycle"): SALES_SCOPED,
    ("POST", "/api/leads/{ref}/reject"): SALES_SCOPED,
    ("POST", "/api/leads/{ref}/disqualify"): PEOPLE_SCOPED,
    ("POST", "/api/leads/{ref}/reopen"): PEOPLE_SCOPED,
    ("GET", "/api/playbook"): PEOPLE,
    ("GET", "/api/playbook/versions"): PLAYBOOK_EDITORS,
    ("POST", "/api/playbook/validate"): PLAYBOOK_EDITORS,
    ("POST", "/api/playbook/backtest"): PLAYBOOK_EDITORS,
    ("POST", "/api/playbook/route-simulation"): PLAYBOOK_EDITORS,
    ("POST", "/api/playbook/activate"): PLAYBOOK_EDITORS,
    ("GET", "/api/me"): PEOPLE,
    ("GET", "/api/tokens"): ADMIN_ONLY,
    ("POST", "/api/tokens"): ADMIN_ONLY,
    ("POST", "/api/tokens/{token_id}/revoke"): ADMIN_ONLY,
    ("GET", "/api/funnel"): REPORT_READERS,
    ("GET", "/api/reports/{name}"): PEOPLE,  # a rep's numbers count their own leads
    ("GET", "/api/rejections"): {**ADMIN_ONLY, "marketing": OK},
    ("GET", "/api/queue"): SALES,
    ("GET", "/api/suppressions"): REPORT_READERS,
    ("GET", "/api/sla"): REPORT_READERS,
    ("GET", "/api/teams"): PEOPLE,
    ("GET", "/api/reps"): PEOPLE,
    ("PATCH", "/api/reps/{rep_id}"): REP_MANAGERS,
    ("POST", "/api/reps/{rep_id}/away"): REP_MANAGERS,
    ("PUT", "/api/accounts/{account}/owner"): REP_MANAGERS,
    ("GET", "/api/outbox"): ADMIN_ONLY,
    ("POST", "/api/outbox/retry"): ADMIN_ONLY,
    ("GET", "/api/opportunities"): PEOPLE,
    ("GET", "/api/opportunities/{deal_id}"): PEOPLE_SCOPED,
    ("POST", "/api/opportunities/{deal_id}/move"): SALES_SCOPED,
    ("POST", "/api/opportunities/{deal_id}/probability"): SALES_SCOPED,
    ("POST", "/api/opportunities/{deal_id}/win"): SALES_SCOPED,
    ("POST", "/api/opportunities/{deal_id}/lose"): SALES_SCOPED,
    ("GET", "/api/forecast"): REPORT_READERS,
    ("GET", "/api/model"): REPORT_READERS,
    ("GET", "/api/model/versions/{version}"): REPORT_READERS,
    ("POST", "/api/model/evaluate"): PLAYBOOK_EDITORS,
    ("POST", "/api/model/train"): PLAYBOOK_EDITORS,
    ("GET", "/api/people/{ref}"): ADMIN_ONLY,
    ("POST", "/api/people/{ref}/erase"): ADMIN_ONLY,  # last: it erases the leads it is tried on
}


MEETINGS = itertools.count()


@dataclass
class Call:
    path: str
    json: object | None = None


def build_call(method: str, route: str, shared, lead_ref: str) -> Call:
    """A valid request for `route`, so that only authorization can turn it down."""
    app = shared.app
    kind = route.rsplit("/", 1)[-1]
    if route.startswith("/v1/"):
        message = track("Demo Requested", user="matrix-user")
        return Call(route, {"batch": [message]} if kind == "batch" else {**message, "type": kind})
    if method == "GET" and "{ref}" in route:
        return Call(route.replace("{ref}", lead_ref))
    sales_bodies = {"qualification": {"answers": {"budget": "yes"}}, "sql": {},
                    "convert": {"name": "Matrix deal", "amount": 1000,
                                "expected_close": (app.clock().date() + timedelta(days=60)).isoformat()}}
    if route == "/api/people/{ref}/erase":
        return Call(route.replace("{ref}", lead_ref), {"reason": "matrix"})
    if route.startswith("/api/leads/{ref}/") and kind in sales_bodies:
        return Call(route.replace("{ref}", lead_ref), sales_bodies[kind])
    if route.startswith("/api/opportunities/{deal_id}"):
        with app.engine.connect() as conn:
            stage = conn.scalar(select(s.opportunities.c.stage).where(s.opportunities.c.id == int(lead_ref)))
        deal_bodies = {"move": {"stage": "proposal" if stage == "demo" else "demo"}, "probability": {"probability": 55},
                       "win": {}, "lose": {"reason": "price"}}
        return Call(route.replace("{deal_id}", lead_ref), deal_bodies.get(kind))
    if route.startswith("/api/meetings/{meeting}/"):  # a fresh meeting, without a time, on a lead of the manager's rep
        owner = People.of(app.playbook).rep
        lead = add_lead(app, f"meeting-{next(MEETINGS)}@acme.io", owner=owner, hand_raise=True)
        meeting = meeting_service.book(app, lead, actor="test:matrix")
        body = {"starts_at": (app.clock() + timedelta(days=1)).isoformat()} if kind == "reschedule" else None
        return Call(route.replace("{meeting}", str(meeting["id"])), body)
    handoff_bodies = {"accept": {}, "touches": {"kind": "call", "outcome": "connected"}, "reassign": {},
                      "meetings": {"starts_at": (app.clock() + timedelta(days=1)).isoformat()}}
    if route.startswith("/api/leads/{ref}/") and kind in handoff_bodies:
        return Call(route.replace("{ref}", lead_ref), handoff_bodies[kind])
    if route.startswith("/api/leads/{ref}/"):
        reason = sorted(app.playbook.rules.reasons[next(t for t in app.playbook.rules.reasons if t.value == kind)])[0]
        return Call(f"/api/leads/{lead_ref}/{kind}", {"reason": reason})
    if route == "/api/reports/{name}":
        return Call("/api/reports/funnel")
    if route in ("/api/playbook/validate", "/api/playbook/backtest"):
        return Call(route, {"text": starter_text()})
    if route == "/api/playbook/route-simulation":
        return Call(route, {"text": starter_text(), "last": 5})
    if route == "/api/playbook/activate":
        return Call(route, {"version": app.playbook.version})
    if route == "/api/tokens" and method == "POST":
        return Call(route, {"role": "marketing", "label": "matrix"})
    if route == "/api/tokens/{token_id}/revoke":
        token, _ = create_token(app.engine, "marketing", now=app.clock(), label="to revoke")
        return Call(f"/api/tokens/{token.id}/revoke")
    rep = People.of(app.playbook).rep  # in the manager's team
    if route == "/api/queue":
        return Call(f"/api/queue?rep={rep}")
    if route == "/api/reps/{rep_id}":
        return Call(f"/api/reps/{rep}", {"capacity": 500})
    if route == "/api/reps/{rep_id}/away":
        return Call(f"/api/reps/{rep}/away", {"from": "2031-01-01", "to": "2031-01-02"})
    if route == "/api/accounts/{account}/owner":
        return Call(f"/api/accounts/{matrix_account(app)}/owner", {"rep": rep})
    if route == "/api/outbox/retry":
        return Call(route, {"dead": True})
    if route == "/api/model/versions/{version}":
        return Call("/api/model/versions/1")
    return Call(route)


def matrix_account(app) -> int:
    """An account to give an owner to (made once per app)."""
    a = t.accounts.c
    with app.engine.begin() as conn:
        found = conn.scalar(select(a.id).where(a.group_id == "matrix-co"))
        if found is None:
            found = conn.execute(insert(t.accounts).values(group_id="matrix-co", domain="matrix.example",
                                                           name="Matrix Co", traits={}, created_at=app.clock(),
                                                           updated_at=app.clock())).inserted_primary_key[0]
    return found


def credentials(shared, role: str, key: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    secret = shared.tokens.of(role)
    return basic(secret) if key == "basic" else bearer(secret)


def test_the_matrix_covers_every_route(shared):
    routes = {(method.upper(), path) for path, operations in shared.api.openapi()["paths"].items()
              for method in operations}
    assert routes == set(EXPECTED), "give every endpoint its row in EXPECTED"


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_with_every_role(shared, people, role):
    mine = add_lead(shared.app, f"mine-{role}@acme.io", owner=people.rep, hand_raise=True)
    theirs = add_lead(shared.app, f"theirs-{role}@acme.io", owner=people.stranger, hand_raise=True)
    my_deal = add_deal(shared.app, f"deal-mine-{role}@acme.io", owner=people.rep)
    their_deal = add_deal(shared.app, f"deal-theirs-{role}@acme.io", owner=people.stranger)
    nobody = 999_999
    outcomes = []
    for (method, route), expected_by_role in EXPECTED.items():
        expected = expected_by_role.get(role, "unauthorized")
        if route in ("/healthz", "/readyz"):
            expected = OK
        key = "basic" if route.startswith("/v1/") else "bearer"
        in_scope = role in ("admin", "marketing", "manager", "rep")
        everyone = role in ("admin", "marketing")
        deals = "{deal_id}" in route
        targets = ([(mine, True), (theirs, everyone)] if "{ref}" in route else
                   [(my_deal, True), (their_deal, everyone)] if deals else [(None, True)])
        for lead_id, visible in targets:
            if lead_id is not None and not deals:  # a move may have handed the lead back to marketing (no owner)
                owner = people.rep if lead_id == mine else people.stranger
                with shared.app.engine.begin() as conn:
                    conn.execute(update(t.leads).where(t.leads.c.id == lead_id).values(owner=owner))
            call = build_call(method, route, shared, str(lead_id))
            response = shared.client.request(method, call.path, json=call.json, headers=credentials(shared, role, key))
            body = response.json()
            status = response.status_code
            if expected == "unauthorized":
                ok = status == 401 and body["code"] == "unauthorized"
            elif expected == FORBIDDEN:
                ok = status == 403 and body["code"] == "forbidden"
            elif expected in (SCOPED, FORBIDDEN_SCOPED) and in_scope and not visible:
                hidden = shared.client.request(method, call.path.replace(str(lead_id), str(nobody)), json=call.json,
                                               headers=credentials(shared, role, key))
                noun = "opportunity" if deals else "lead"
                ok = (status, body) == (404, {"code": "not_found", "message": f"no {noun} {lead_id}"}) and \
                    (hidden.status_code, hidden.json()) == (404, {"code": "not_found",
                                                                   "message": f"no {noun} {nobody}"})
            elif expected == FORBIDDEN_SCOPED:
                ok = status == 403 and body["code"] == "forbidden"
            else:  # allowed: it worked, or the rules (not the role) said no
                ok = status in (200, 201) or body.get("code") in ("invalid_transition", "sql_gate_not_met",
                                                                      "conflict", "not_enough_data")
                ok = ok or (route == "/api/model/versions/{version}" and body.get("code") == "not_found")
            outcomes.append((method, route, lead_id, status, body.get("code") if isinstance(body, dict) else None, ok))
    failures = [o for o in outcomes if not o[-1]]
    assert not failures, f"role {role}: {failures}"
