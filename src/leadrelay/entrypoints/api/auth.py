"""Credentials: API tokens (`Authorization: Bearer lrk_...`) and write keys (Segment's Basic auth).

FastAPI dependencies for the REST routes, and the write-key lookup the Segment
endpoints use. What a token may do is decided in `authz`, not here.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Callable

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadrelay.access.tokens import Token, Unauthorized, authenticate, revoke_missing_people
from leadrelay.bootstrap import App
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.runtime import Runtime

bearer = HTTPBearer(auto_error=False, scheme_name="apiToken",
                    description="An API token from `leadrelay tokens create --role ROLE`: "
                                "`Authorization: Bearer lrk_...`.")


def current_app(request: Request) -> App:
    """The App (with the active playbook) for this request."""
    runtime: Runtime = request.app.state.runtime
    return runtime.snapshot()


def caller(
    app: App = Depends(current_app),
    credentials: HTTPAuthorizationCredentials | None = Security(bearer),
) -> Caller:
    """The live token behind the request. Raises Unauthorized."""
    if credentials is None:
        raise Unauthorized("send an API token: Authorization: Bearer lrk_...")
    token = authenticate(app.engine, credentials.credentials, now=app.clock())
    still_valid(app, token)
    return Caller(token)


def still_valid(app: App, token: Token) -> None:
    """A token whose rep or team the active playbook no longer names is revoked for good, then refused (401)."""
    try:
        authz.check_still_valid(token, app.playbook)
    except Unauthorized:
        revoke_missing_people(app.engine, app.playbook, now=app.clock())
        raise


def allow(action: Action) -> Callable[..., Caller]:
    """A dependency: the caller, if their role may do `action` (else 403)."""

    def dependency(who: Caller = Depends(caller)) -> Caller:
        authz.require(who, action)
        return who

    dependency.__name__ = f"allow_{action.value}"
    return dependency


def basic_auth_username(authorization: str | None) -> str | None:
    """The user name of an `Authorization: Basic ...` header (Segment sends the write key there), else None."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthorized("the Basic credentials are not base64 of 'WRITE_KEY:'") from None
    return decoded.partition(":")[0] or None


def authenticate_write_key(app: App, key: object) -> Caller:
    """The write key's token, which must be allowed to ingest. Raises Unauthorized or Forbidden."""
    if not isinstance(key, str) or not key:
        raise Unauthorized("no write key: send it as the Basic auth user name or as `writeKey` in the body")
    token: Token = authenticate(app.engine, key, now=app.clock())
    who = Caller(token)
    authz.require(who, Action.INGEST)
    return who
