"""The HTTP error translator: every error leaves the API as `{"code": "...", "message": "..."}`.

LeadRelay errors carry a stable `code`; `STATUS` maps each code to its HTTP status, here
and nowhere else. FastAPI's own errors (a bad query parameter, an unknown path, a
wrong method) and crashes get the same shape, and every error response writes one log
line with the request id.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from leadrelay.core.errors import InvalidPlaybook, LeadRelayError
from leadrelay.logs import request_id_var

log = logging.getLogger("leadrelay.entrypoints.api")

RETRY_AFTER_SECONDS = 1


class BadJson(LeadRelayError):
    """A body that is not JSON (or not the JSON the endpoint takes)."""

    code = "bad_json"


class TooLarge(LeadRelayError):
    code = "too_large"


class BadEncoding(LeadRelayError):
    """A Content-Encoding LeadRelay does not speak, or a compressed body that does not decompress."""

    code = "bad_encoding"


class Forbidden(LeadRelayError):
    """The token is valid, but its role may not do this."""

    code = "forbidden"


T = TypeVar("T")


class Overloaded(LeadRelayError):
    code = "overloaded"


def one_at_a_time(lock: threading.Lock, busy: str, work: Callable[[], T]) -> T:
    """Run `work` holding `lock`, or answer 429 (`busy`, with Retry-After) at once when another request holds it:
    work that takes seconds of CPU runs one at a time per process, so other requests keep flowing."""
    if not lock.acquire(blocking=False):
        raise Overloaded(busy)
    try:
        return work()
    finally:
        lock.release()


STATUS: dict[str, int] = {
    "bad_json": 400,
    "too_large": 400,
    "bad_encoding": 400,
    "invalid_input": 422,  # read fine, but what it says is not valid: like a body that does not validate
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "invalid_request": 422,
    "invalid_transition": 422,
    "sql_gate_not_met": 422,  # a move the rules forbid, like invalid_transition; the message lists every reason
    "invalid_playbook": 422,
    "not_enough_data": 422,  # too few outcomes for the predictive score: the message has the counts needed
    "overloaded": 429,
    "internal_error": 500,
    "storage_unavailable": 503,
    "not_ready": 503,
    "busy": 503,  # other writers held the same leads: nothing was stored, and a retry is safe
}
_RETRY_LATER = {429, 503}


class ErrorBody(BaseModel):
    """Every error response."""

    code: str = Field(description="Stable, machine-readable: bad_json, unauthorized, not_found, conflict, ...")
    message: str = Field(description="What went wrong, for a person.")
    issues: list[str] | None = Field(None, description="For invalid_playbook: every problem, as "
                                                       "FILE:LINE: path: message.")


class JsonResponse(JSONResponse):
    """JSON that is always valid: non-ASCII is escaped, so even a stray surrogate in stored data cannot break it."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(code: str, message: str, *, issues: list[str] | None = None,
                   headers: Mapping[str, str] | None = None) -> JsonResponse:
    """The one error shape, with the status its code maps to, logged once."""
    status = STATUS.get(code, 400)
    body: dict[str, Any] = {"code": code, "message": message}
    if issues is not None:
        body["issues"] = issues
    sent = dict(headers or {})
    if status in _RETRY_LATER:
        sent.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    log.log(logging.ERROR if status >= 500 else logging.WARNING, "%s: %s", code, message,
            extra={"event": "error", "code": code, "status": status, "request_id": request_id_var.get()})
    return JsonResponse(body, status_code=status, headers=sent)


def internal_error_response(request_id: str) -> JsonResponse:
    return error_response("internal_error", f"internal error; the server log has the details under request id "
                                            f"{request_id}")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the error statuses a route can answer."""
    descriptions = {400: "Bad request: not JSON, too large, wrongly compressed, a bad parameter",
                    401: "No token, or an unknown or revoked one", 403: "The token's role may not do this",
                    404: "Not found (or not visible to this token)", 405: "Method not allowed",
                    409: "Conflict: the record changed since it was read",
                    422: "Invalid request: parameters or body do not validate, or a move the rules forbid",
                    429: "Overloaded: retry after the Retry-After header's seconds",
                    503: "Storage unavailable, not ready, or busy with other writers: retry after "
                         "the Retry-After header's seconds"}
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": descriptions[status]}
        if status in _RETRY_LATER:
            entry["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                                "schema": {"type": "integer"}}}
        out[status] = entry
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Translate every error an endpoint can raise into the one error shape."""

    @app.exception_handler(LeadRelayError)
    async def _leadrelay_error(request: Request, exc: LeadRelayError) -> JsonResponse:
        issues = exc.issues if isinstance(exc, InvalidPlaybook) else None
        return error_response(exc.code, exc.message, issues=issues)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JsonResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response("bad_json", "the body is not JSON")
        return error_response("invalid_request", "; ".join(_describe(e) for e in errors[:10]))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "bad_request")
        message = exc.detail if isinstance(exc.detail, str) else "bad request"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(code, message, headers=exc.headers)

    @app.exception_handler(OperationalError)
    async def _storage_down(request: Request, exc: OperationalError) -> JsonResponse:
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else "operational error"
        log.warning("the database did not answer: %s", detail)  # the host and port go to the log, not to callers
        return error_response("storage_unavailable", "the database did not answer: retry shortly")


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "request"
    return f"{where}: {error.get('msg', 'invalid')}"
