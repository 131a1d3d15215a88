"""Signing in to the web app: a token becomes a browser session, and one-time links sign people in.

A person signs in with an API token they were given (the login form) or a one-time link
(`leadrelay tokens login-link TOKEN`, valid for `LINK_LIFETIME`, used once). Either way the
browser gets a session: a random secret in a cookie, of which only the sha256 is kept, with
its own CSRF token for forms. A session is as good as its token: revoking the token ends
every session made from it. Sessions end when signed out or after `SESSION_LIFETIME`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from leadrelay.access.tokens import Role, Token, Unauthorized, _token, authenticate, hash_secret
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.storage.api_tables import api_tokens, login_links, web_sessions
from leadrelay.storage.database import transaction

SESSION_LIFETIME = timedelta(hours=12)
LINK_LIFETIME = timedelta(minutes=15)


@dataclass(frozen=True)
class Session:
    secret: str  # for the cookie; only its hash is stored
    token: Token
    csrf: str
    expires_at: datetime

    def form_token_ok(self, sent: str | None) -> bool:
        """Whether a form carried this session's CSRF token (compared in constant time)."""
        return sent is not None and sent != "" and hmac.compare_digest(sent.encode(), self.csrf.encode())


def sign_in(engine: Engine, token_secret: str, *, now: datetime) -> Session:
    """A new session for the live token whose secret this is. Raises Unauthorized; write keys may not sign in."""
    token = authenticate(engine, token_secret.strip(), now=now)
    return _start(engine, token, now)


def _start(engine: Engine, token: Token, now: datetime) -> Session:
    if token.role is Role.INGEST:
        raise Unauthorized("a write key cannot sign in: use an API token (lrk_...)")
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = min(now + SESSION_LIFETIME, token.valid_until or now + SESSION_LIFETIME)  # never beyond the token
    with transaction(engine) as conn:
        conn.execute(insert(web_sessions).values(secret_hash=hash_secret(secret), token_id=token.id, csrf=csrf,
                                                 created_at=now, expires_at=expires))
    return Session(secret, token, csrf, expires)


def session(engine: Engine, secret: str | None, *, now: datetime) -> Session:
    """The live session whose cookie this is. Raises Unauthorized (signed out, expired, revoked, unknown)."""
    if not secret:
        raise Unauthorized("not signed in")
    s, tk = web_sessions.c, api_tokens.c
    with engine.connect() as conn:
        row = conn.execute(select(web_sessions, api_tokens).join(api_tokens, tk.id == s.token_id).where(
            s.secret_hash == hash_secret(secret))).first()
    if row is None or row.ended_at is not None or row.expires_at <= now or row.revoked_at is not None:
        raise Unauthorized("your session has ended: sign in again")
    return Session(secret, _token(row), row.csrf, row.expires_at)


def sign_out(engine: Engine, secret: str | None, *, now: datetime) -> None:
    """End the session (nothing happens for an unknown or ended one)."""
    if secret:
        with transaction(engine) as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.secret_hash == hash_secret(secret),
                                                    web_sessions.c.ended_at.is_(None)).values(ended_at=now))


def create_login_link(engine: Engine, token_id: int, *, now: datetime) -> str:
    """A one-time sign-in code for the token (a live API token, not a write key). Raises NotFound, InvalidInput."""
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None or row.revoked_at is not None or _token(row).expired(now):
        raise NotFound(f"no live token {token_id} (leadrelay tokens list)")
    if row.role == Role.INGEST.value:
        raise InvalidInput(f"token {token_id} is a write key: it cannot sign in")
    code = secrets.token_urlsafe(24)
    with transaction(engine) as conn:
        conn.execute(insert(login_links).values(code_hash=hash_secret(code), token_id=token_id, created_at=now,
                                                expires_at=now + LINK_LIFETIME))
    return code


def redeem_login_link(engine: Engine, code: str, *, now: datetime) -> Session:
    """Sign in with a one-time code: it works once, before it expires, while its token lives. Raises
    Unauthorized."""
    ll, tk = login_links.c, api_tokens.c
    with transaction(engine) as conn:
        row = conn.execute(select(login_links, api_tokens).join(api_tokens, tk.id == ll.token_id).where(
            ll.code_hash == hash_secret(code))).first()
        if row is None or row.used_at is not None or row.expires_at <= now or row.revoked_at is not None \
                or _token(row).expired(now):
            raise Unauthorized("this sign-in link is used, expired or unknown: ask for a new one")
        used = conn.execute(update(login_links).where(ll.code_hash == row.code_hash, ll.used_at.is_(None)).values(
            used_at=now)).rowcount
    if not used:  # another request used it in the meantime
        raise Unauthorized("this sign-in link is used, expired or unknown: ask for a new one")
    return _start(engine, _token(row), now)
