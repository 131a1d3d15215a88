"""`RequestContext`, the outermost piece of the HTTP app.

It gives each request an id (the caller's `X-Request-ID` when it is sane, else a fresh
one) and echoes it in the response, refuses URLs with NUL characters, answers 429 when
the process already works on `max_inflight` requests, turns a crash into the error
shape, and logs one line per request with status and duration.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadrelay.entrypoints.api.errors import error_response, internal_error_response
from leadrelay.logs import request_id_var

log = logging.getLogger("leadrelay.entrypoints.api")

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LIMITED_PREFIXES = ("/v1/", "/api/")  # health checks and docs are never turned away
_SIGN_IN_CODE = re.compile(r"^/login/[^/]+")  # a one-time sign-in link: its code is a credential, never logged


def logged_path(path: str) -> str:
    """The path as the request log shows it: a sign-in link's code left out."""
    return _SIGN_IN_CODE.sub("/login/…", path)


class RequestContext:
    """Pure ASGI middleware (no per-request task or body buffering, unlike BaseHTTPMiddleware)."""

    def __init__(self, app: ASGIApp, *, max_inflight: int):
        self.app = app
        self.max_inflight = max_inflight
        self.inflight = 0  # only touched on the event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        path: str = scope["path"]
        limited = path.startswith(_LIMITED_PREFIXES)
        try:
            if "\x00" in path or b"%00" in scope.get("query_string", b""):
                response = error_response("bad_request", "NUL characters are not allowed in URLs")
                await response(scope, receive, send_with_id)
            elif limited and self.inflight >= self.max_inflight:
                response = error_response("overloaded", f"this server is working on {self.inflight} requests; "
                                                        "retry after the Retry-After header's seconds")
                await response(scope, receive, send_with_id)
            else:
                self.inflight += limited
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    self.inflight -= limited
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), logged_path(path),
                          extra={"event": "crash", "request_id": request_id})
            if not response_started:
                await internal_error_response(request_id)(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            shown = logged_path(path)
            log.info("%s %s %s", scope.get("method"), shown, status, extra={
                "event": "request", "request_id": request_id, "method": scope.get("method"), "path": shown,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": client[0] if client else None,
            })


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex[:16]
