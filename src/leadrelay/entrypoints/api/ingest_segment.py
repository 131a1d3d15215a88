"""The Segment HTTP tracking API: `POST /v1/batch`, `/v1/identify`, `/v1/track`, `/v1/page`, ...

The official Segment and RudderStack SDKs send here by changing their `host`. A write key
(Basic auth user name with an empty password, or `writeKey` in the body) names the
source. One request is one transaction through the same `ingest_batch` the CLI uses.

Body problems (not JSON, too large, wrongly compressed) fail the request with 400.
Message problems fail only that message: it is rejected with a reason, stored in
`rejections`, and listed in the 200 answer; the rest of the batch is kept. Message ids
make retries harmless: a message already stored counts as a duplicate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from leadrelay.activity.segment import MAX_MESSAGE_ID_LENGTH, iter_messages
from leadrelay.activity.service import ingest_batch
from leadrelay.entrypoints.api.auth import authenticate_write_key, basic_auth_username
from leadrelay.entrypoints.api.body import kilobytes, parse_json, read_limited
from leadrelay.entrypoints.api.errors import BadJson, TooLarge, error_responses
from leadrelay.entrypoints.api.runtime import Runtime
from leadrelay.lead.activities import MESSAGE_TYPES, Rejection
from leadrelay.logs import request_id_var

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_DEPTH = 32  # objects and lists inside one message
MAX_ID_LENGTH = 200  # userId, anonymousId, previousId, groupId (the columns' width)
MAX_EMAIL_LENGTH = 320

_ID_FIELDS = ("userId", "anonymousId", "previousId", "groupId")
# Escapes of NUL or of a UTF-16 surrogate: the only ways JSON text can carry characters the
# store refuses. Bodies without them (nearly all) skip the closer look.
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89abAB]")
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # json.dumps escapes a NUL even with ensure_ascii=False

router = APIRouter(tags=["ingestion"])


class RejectionOut(BaseModel):
    position: str = Field(description="Where the message was: request id and batch index.")
    message_id: str | None
    reason: str


class IngestResult(BaseModel):
    """What the request did. Segment's SDKs only look at the status; `success` is what Segment answers."""

    success: bool = True
    received: int = Field(description="Messages in the request.")
    accepted: int = Field(description="New messages stored as activities.")
    duplicates: int = Field(description="Messages already stored (a retry): counted once.")
    rejected: int = Field(description="Invalid messages, stored in `rejections` with the reason.")
    rejections: list[RejectionOut] = Field(description="The first 200 rejected messages, with reasons.")


def _message_schema(kind: str | None) -> dict[str, Any]:
    id_or_number = {"type": ["string", "number", "null"]}
    return {
        "type": "object",
        "description": "A message of the Segment spec (https://segment.com/docs/connections/spec/). "
                       "Unknown fields are allowed and ignored.",
        "properties": {
            "type": {"type": "string", "enum": [kind] if kind else list(MESSAGE_TYPES)},
            "messageId": {"type": "string", "description": "Unique per source: a retry with the same id counts once."},
            "userId": id_or_number, "anonymousId": id_or_number,
            "event": {"type": "string"}, "name": {"type": ["string", "null"]},
            "groupId": id_or_number, "previousId": id_or_number,
            "traits": {"type": ["object", "null"]}, "properties": {"type": ["object", "null"]},
            "context": {"type": ["object", "null"],
                        "description": "campaign (UTM), page, ip, userAgent, traits, groupId"},
            "timestamp": {"type": "string", "format": "date-time"},
            "sentAt": {"type": "string", "format": "date-time"},
            "writeKey": {"type": "string", "description": "The write key, when not sent with Basic auth."},
        },
        "required": ["messageId"] + (["type"] if kind is None else []),
        "additionalProperties": True,
    }


def _body_schema(kind: str | None) -> dict[str, Any]:
    if kind is not None:
        return _message_schema(kind)
    return {
        "type": "object",
        "properties": {
            "batch": {"type": "array", "items": _message_schema(None), "maxItems": MAX_BATCH_MESSAGES},
            "context": {"type": ["object", "null"], "description": "Applies to every message (the message wins)."},
            "sentAt": {"type": "string", "format": "date-time"},
            "writeKey": {"type": "string"},
        },
        "required": ["batch"],
        "additionalProperties": True,
    }


_CONTEXT = {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}, "ip": "203.0.113.9",
            "userAgent": "Mozilla/5.0"}
_EXAMPLES: dict[str, dict[str, Any]] = {
    "identify": {"userId": "jane", "anonymousId": "anon-42", "traits": {"email": "jane@acme.io", "title": "VP Sales"}},
    "track": {"userId": "jane", "event": "Demo Requested", "properties": {"plan": "team"}},
    "page": {"anonymousId": "anon-42", "name": "Pricing", "properties": {"path": "/pricing"}},
    "screen": {"userId": "jane", "name": "Dashboard"},
    "group": {"userId": "jane", "groupId": "acme", "traits": {"name": "Acme", "employees": 200}},
    "alias": {"previousId": "anon-42", "userId": "jane"},
}


def _example(kind: str) -> dict[str, Any]:
    return {"type": kind, "messageId": f"example-{kind}-1", "timestamp": "2026-11-24T10:00:00Z",
            **_EXAMPLES[kind], "context": _CONTEXT}


def _openapi_extra(kind: str | None) -> dict[str, Any]:
    example = {"batch": [_example("page"), _example("identify"), _example("track")]} if kind is None else _example(kind)
    return {
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": _body_schema(kind), "example": example}},
                        "description": "JSON, optionally with `Content-Encoding: gzip`. Limits (after "
                                       "decompression): 32 KB per message, 500 KB and 2,500 messages per batch."},
        "security": [{"writeKey": []}],
    }


async def _ingest(request: Request, kind: str | None) -> IngestResult:
    header_key = basic_auth_username(request.headers.get("authorization"))
    limit = MAX_BATCH_BYTES if kind is None else MAX_MESSAGE_BYTES
    body = await read_limited(request.stream(), request.headers.get("content-encoding"), limit)
    runtime: Runtime = request.app.state.runtime
    return await run_in_threadpool(_work, runtime, header_key, body, kind, request_id_var.get() or "-")


def _work(runtime: Runtime, header_key: str | None, body: bytes, kind: str | None, request_id: str) -> IngestResult:
    app = runtime.snapshot()
    who = authenticate_write_key(app, header_key) if header_key else None
    data = parse_json(body)
    if who is None:
        who = authenticate_write_key(app, data.get("writeKey") if isinstance(data, dict) else None)
    items = _messages(data, kind, body, f"request {request_id}")
    report = ingest_batch(app, items, source=who.token.source, live=True)
    return IngestResult(
        received=report.received, accepted=report.accepted, duplicates=report.duplicates, rejected=report.rejected,
        rejections=[RejectionOut(position=r.position, message_id=r.message_id, reason=r.reason)
                    for r in report.rejections],
    )


def _messages(data: object, kind: str | None, body: bytes, position: str) -> list[tuple[str, object]]:
    """`(position, message or Rejection)` pairs for `ingest_batch`."""
    if kind is None:
        if not isinstance(data, dict) or not isinstance(data.get("batch"), list):
            raise BadJson("a batch is a JSON object with a `batch` list of messages")
        if not isinstance(data.get("context"), dict | None):
            raise BadJson("context: expected an object")
        if len(data["batch"]) > MAX_BATCH_MESSAGES:
            raise TooLarge(f"a batch holds at most {MAX_BATCH_MESSAGES:,} messages, not {len(data['batch']):,}")
        pairs = list(iter_messages(data, position=position))
    else:
        if not isinstance(data, dict):
            raise BadJson(f"/v1/{kind} takes one message: a JSON object")
        pairs = [(position, data if "type" in data else {**data, "type": kind})]
    measure = len(body) > MAX_MESSAGE_BYTES  # a smaller body cannot hold a message too large
    suspect = _SUSPECT.search(body) is not None
    out: list[tuple[str, object]] = []
    for where, message in pairs:
        if isinstance(message, dict):
            message = _without_write_key(message)
            problem = _problem(message, kind, measure, suspect)
            if problem:
                out.append((where, Rejection(where, problem, _printable_id(message), message)))
                continue
        out.append((where, message))
    return out


def _without_write_key(message: dict) -> dict:
    """The message without a `writeKey`, at its top or in its context (a batch's context is merged into each
    message's): a secret is never stored with the activity or the rejection."""
    context = message.get("context")
    nested = context if isinstance(context, dict) and "writeKey" in context else None
    if "writeKey" not in message and nested is None:
        return message
    message = {k: v for k, v in message.items() if k != "writeKey"}
    if nested is not None:
        message["context"] = {k: v for k, v in nested.items() if k != "writeKey"}
    return message


def _problem(message: dict, kind: str | None, measure: bool, suspect: bool) -> str | None:
    """Why a message cannot be stored as it is (checks the Segment parser leaves to the store), or None."""
    if kind is not None and message.get("type") != kind:
        return f"type {str(message.get('type'))[:40]!r} sent to /v1/{kind}"
    if measure or suspect:
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        if suspect and _NUL_ESCAPE.search(text):
            return "contains a NUL character (\\u0000), which LeadRelay does not store"
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            return "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff): not valid Unicode text"
        if size > MAX_MESSAGE_BYTES:
            return f"message is larger than {kilobytes(MAX_MESSAGE_BYTES)}"
    if _nested_deeper(message, MAX_DEPTH - 1):
        return f"nested deeper than {MAX_DEPTH} levels"
    for field in _ID_FIELDS:
        value = message.get(field)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and len(str(value)) > MAX_ID_LENGTH:
            return f"{field}: longer than {MAX_ID_LENGTH} characters"
    context = message.get("context")
    for where, traits in (("traits", message.get("traits")),
                          ("context.traits", context.get("traits") if isinstance(context, dict) else None)):
        email = traits.get("email") if isinstance(traits, dict) else None
        if isinstance(email, str) and len(email.strip()) > MAX_EMAIL_LENGTH:
            return f"{where}.email: longer than {MAX_EMAIL_LENGTH} characters"
    return None


def _nested_deeper(value: dict | list, budget: int) -> bool:
    """True when objects and lists nest more than `budget` levels below `value`."""
    children = value.values() if type(value) is dict else value
    for child in children:
        kind = type(child)
        if kind is dict or kind is list:
            if budget == 0 or _nested_deeper(child, budget - 1):
                return True
    return False


def _printable_id(message: dict) -> str | None:
    value = message.get("messageId")
    if isinstance(value, str) and len(value) <= MAX_MESSAGE_ID_LENGTH and "\x00" not in value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
        return value
    return None


def _endpoint(kind: str | None):
    async def endpoint(request: Request) -> IngestResult:
        return await _ingest(request, kind)

    endpoint.__name__ = f"ingest_{kind or 'batch'}"
    return endpoint


_DESCRIPTIONS = {
    None: "A batch of messages of any type, as the SDKs send them. One transaction.",
    "identify": "Who a person is: traits (merged with context.traits).",
    "track": "Something a person did: an event with properties.",
    "page": "A page view (path, url, title, referrer from properties or context.page).",
    "screen": "A screen view in a mobile app.",
    "group": "The account (company) a person belongs to, with its traits.",
    "alias": "Links a previous id to a user id: the two leads merge.",
}

for _kind in (None, *MESSAGE_TYPES):
    router.add_api_route(
        f"/v1/{_kind or 'batch'}", _endpoint(_kind), methods=["POST"], response_model=IngestResult,
        summary=f"Segment {_kind or 'batch'}", description=_DESCRIPTIONS[_kind],
        responses=error_responses(400, 401, 403, 429, 503), openapi_extra=_openapi_extra(_kind),
    )
