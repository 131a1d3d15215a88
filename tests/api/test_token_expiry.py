"""Tokens may expire (issue 13, low: "tokens never expire"): over HTTP, in the web app's sign-in, and in the CLI."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.access.sessions import create_login_link, redeem_login_link, sign_in
from leadrelay.access.tokens import Unauthorized
from leadrelay.core.errors import NotFound
from tests.api.conftest import bearer
from tests.conftest import T0


def test_a_token_made_to_expire_works_until_then_and_is_refused_after(client, app, tokens, clock):
    made = client.post("/api/tokens", json={"role": "marketing", "label": "agency", "valid_for_days": 30},
                       headers=bearer(tokens.admin))
    assert made.status_code == 201, made.text
    token, secret = made.json()["token"], made.json()["secret"]
    assert token["valid_until"] == "2026-10-31T09:00:00Z"
    assert client.get("/api/me", headers=bearer(secret)).status_code == 200
    session = sign_in(app.engine, secret, now=clock())
    assert session.expires_at == T0 + timedelta(hours=12)  # a session never outlives its token ...
    clock.advance(days=30, hours=-6)
    assert sign_in(app.engine, secret, now=clock()).expires_at == T0 + timedelta(days=30)  # ... even when shorter
    link = create_login_link(app.engine, token["id"], now=clock())

    clock.advance(hours=6)  # the moment it expires
    refused = client.get("/api/me", headers=bearer(secret))
    assert refused.status_code == 401
    assert refused.json()["message"] == ("this token expired at 2026-10-31T09:00:00Z: ask an admin "
                                                  "for a new one")
    try:
        redeem_login_link(app.engine, link, now=clock())
        raise AssertionError("a link outlived its token")
    except Unauthorized:
        pass
    try:
        create_login_link(app.engine, token["id"], now=clock())
        raise AssertionError("a link was made for an expired token")
    except NotFound:
        pass
    listed = client.get("/api/tokens", headers=bearer(tokens.admin)).json()
    assert [t["valid_until"] for t in listed if t["id"] == token["id"]] == ["2026-10-31T09:00:00Z"]


def test_a_token_without_an_expiry_lives_until_revoked_and_a_bad_lifetime_is_refused(client, tokens, clock):
    made = client.post("/api/tokens", json={"role": "marketing"}, headers=bearer(tokens.admin)).json()
    assert made["token"]["valid_until"] is None
    clock.advance(days=3650)
    assert client.get("/api/me", headers=bearer(made["secret"])).status_code == 200
    for days in (0, -1, 3651, "soon"):
        bad = client.post("/api/tokens", json={"role": "marketing", "valid_for_days": days},
                          headers=bearer(tokens.admin))
        assert bad.status_code == 422, (days, bad.text)
