"""`/api/people`: a person's whole record and erasing it, over HTTP, admin only."""

from __future__ import annotations

from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.storage import tables as t
from tests.api.conftest import add_lead, bearer
from tests.messages import identify, numbered


def test_an_admin_exports_a_person_then_erases_them_and_their_next_message_is_refused(client, tokens, app, people):
    lead_id = add_lead(app, "ann.smith@acme.io", owner=people.rep, hand_raise=True)
    admin = bearer(tokens.admin)

    document = client.get("/api/people/ann.smith@acme.io", headers=admin)
    assert document.status_code == 200
    assert (document.json()["lead_id"], document.json()["lead"]["email"]) == (lead_id, "ann.smith@acme.io")

    erased = client.post("/api/people/ann.smith@acme.io/erase", json={"reason": "ticket 77"}, headers=admin)
    assert erased.status_code == 200
    body = erased.json()
    assert (body["lead_id"], body["reason"], body["already_erased"]) == (lead_id, "ticket 77", False)
    assert body["erased_by"].startswith("token:")

    again = client.post(f"/api/people/{lead_id}/erase", json={"reason": "ticket 77, twice"}, headers=admin)
    assert (again.status_code, again.json()) == (200, {**body, "already_erased": True})
    after = client.get("/api/people/ann.smith@acme.io", headers=admin).json()  # found through the erasure
    assert (after["lead"]["email"], [e["reason"] for e in after["erasures"]]) == (None, ["ticket 77"])

    report = ingest(app, numbered([identify(email="ann.smith@acme.io", when=app.clock())]))
    assert (report.accepted, report.rejected) == (0, 1)
    with app.engine.connect() as conn:
        assert conn.scalar(select(t.leads.c.email).where(t.leads.c.id == lead_id)) is None


def test_only_an_admin_reads_or_erases_a_person(client, tokens, app, people):
    lead_id = add_lead(app, "bob@acme.io", owner=people.rep, hand_raise=True)
    for role in ("marketing", "manager", "rep"):
        headers = bearer(tokens.of(role))
        read = client.get(f"/api/people/{lead_id}", headers=headers)
        erase = client.post(f"/api/people/{lead_id}/erase", json={"reason": "x"}, headers=headers)
        assert (read.status_code, erase.status_code) == (403, 403), role
        assert read.json()["code"] == erase.json()["code"] == "forbidden"
    assert client.get(f"/api/people/{lead_id}").status_code == 401


def test_an_unknown_person_is_404_and_a_reason_is_required(client, tokens):
    admin = bearer(tokens.admin)
    missing = client.get("/api/people/nobody@nowhere.example", headers=admin)
    assert (missing.status_code, missing.json()) == (404, {"code": "not_found",
                                                          "message": "no lead nobody@nowhere.example"})
    gone = client.post("/api/people/nobody@nowhere.example/erase", json={"reason": "x"}, headers=admin)
    assert gone.status_code == 404
    assert client.post("/api/people/1/erase", json={}, headers=admin).status_code == 422
