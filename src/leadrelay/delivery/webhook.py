"""Standard Webhooks: signing and sending (https://www.standardwebhooks.com, spec v1.0.0).

A message is POSTed as minified JSON with three headers:

    webhook-id         the outbox message id: the same on every retry (receivers dedupe by it)
    webhook-timestamp  integer Unix seconds of this attempt
    webhook-signature  "v1," + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}"))

The secret is `whsec_` + base64 of at least 24 random bytes; the HMAC key is the decoded
bytes. While a secret is rotated the message is signed with the new and the previous one,
and `webhook-signature` holds both, space-separated (as the spec allows): a receiver that
knows either verifies it. Error messages name the environment variable of a secret, never
its value. Only a 2xx answer is success; redirects are not followed (a 3xx is a failure);
410 Gone means the receiver wants no more messages and the endpoint is disabled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from http import HTTPStatus
from math import floor
from typing import Any

import httpx

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # the spec: "Random. At least 24 bytes"
MAX_SECRET_BYTES = 64
SIGNATURE_VERSION = "v1"
USER_AGENT = "LeadRelay-Webhooks/1"


class SecretError(ValueError):
    """A signing secret that is not `whsec_` + base64 of 24 to 64 bytes."""


@dataclass(frozen=True)
class SendResult:
    """What one delivery attempt came to."""

    ok: bool
    status: int | None = None  # HTTP status (or SMTP reply code) when there was an answer
    error: str | None = None
    gone: bool = False  # 410: stop sending to this endpoint
    permanent: bool = False  # retrying cannot help (e.g. SMTP 5xx): dead letter now
    transport: bool = False  # no answer at all (timeout, refused, reset): the endpoint is down
    retry_after: float | None = None  # seconds the receiver asked us to wait


def decode_secret(secret: str) -> bytes:
    """The HMAC key in a `whsec_...` secret (the prefix is optional, as in the reference libraries)."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("the webhook secret is not whsec_ followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise SecretError(f"the webhook secret decodes to {len(key)} bytes; "
                          f"Standard Webhooks wants {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES}")
    return key


def generate_secret(nbytes: int = 32) -> str:
    """A new random secret in the `whsec_` form, to give to a receiver."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def unix_seconds(moment: datetime) -> int:
    return floor(moment.timestamp())


def encode_body(payload: Mapping[str, Any]) -> str:
    """The JSON text that is both sent and signed (minified: what is signed must be what is sent)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)


def sign(key: bytes | str, message_id: str, timestamp: int, body: str | bytes) -> str:
    """`v1,<base64 signature>` over `{message_id}.{timestamp}.{body}`."""
    if isinstance(key, str):
        key = decode_secret(key)
    if "." in message_id or "." in str(timestamp):
        raise ValueError("message id and timestamp may not contain '.'")
    body_bytes = body.encode() if isinstance(body, str) else body
    signed = f"{message_id}.{timestamp}.".encode() + body_bytes
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def headers_for(keys: bytes | str | Sequence[bytes | str], message_id: str, timestamp: int,
                body: str | bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; several keys (a rotation) give one signature each, in their order."""
    if isinstance(keys, (bytes, str)):
        keys = [keys]
    if not keys:
        raise ValueError("a webhook needs at least one signing key")
    signatures = dict.fromkeys(sign(key, message_id, timestamp, body) for key in keys)  # ordered, no repeats
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def signing_keys(secrets: Sequence[tuple[str, str | None]], webhook_id: str) -> tuple[bytes, ...]:
    """The HMAC keys of a webhook's secrets, given as (environment variable, its value or None), the current
    secret first and then the one being retired.

    Raises SecretError when one is unset or garbled, naming the variable and never the value: the
    message is kept in the outbox and shown to admins. A rotation half done (the previous secret's
    variable already unset while the playbook still names it) fails too, rather than quietly dropping
    a signature a receiver may still rely on.
    """
    keys: list[bytes] = []
    for index, (env, value) in enumerate(secrets):
        if value is None:
            what = "secret" if index == 0 else "previous secret"
            raise SecretError(f"environment variable {env} ({what} of webhook '{webhook_id}') is not set")
        try:
            keys.append(decode_secret(value))
        except SecretError as exc:
            raise SecretError(f"{env}: {exc}") from None
    return tuple(keys)


def verify(key: bytes | str, headers: Mapping[str, str], body: str | bytes, now: datetime,
           tolerance_seconds: int = 300) -> bool:
    """What a receiver does: a v1 signature in the header matches and the timestamp is recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (message_id and stamp and signatures):
        return False
    try:
        timestamp = int(stamp)
    except ValueError:
        return False
    if abs(unix_seconds(now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(key, message_id, timestamp, body).encode()
    return any(hmac.compare_digest(expected, candidate.encode())
               for candidate in signatures.split(" ") if candidate.startswith(SIGNATURE_VERSION + ","))


def post_json(client: httpx.Client, url: str, body: str, headers: Mapping[str, str], timeout: float) -> SendResult:
    """POST `body`; 2xx is success, everything else (including no answer) a failure."""
    try:
        response = client.post(url, content=body.encode(), headers=dict(headers),
                               timeout=httpx.Timeout(timeout), follow_redirects=False)
    except httpx.TimeoutException:
        return SendResult(ok=False, error=f"timed out after {timeout:g}s", transport=True)
    except httpx.ConnectError as exc:
        return SendResult(ok=False, error=f"cannot connect: {_reason(exc)}", transport=True)
    except httpx.HTTPError as exc:  # reset, protocol error, bad URL...
        return SendResult(ok=False, error=f"{type(exc).__name__}: {_reason(exc)}", transport=True)
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(ok=True, status=status)
    # The status and its standard phrase only: a receiver's body may be an internal page, and it is not ours to keep.
    phrase = _PHRASES.get(status)
    return SendResult(ok=False, status=status, error=f"HTTP {status}" + (f" {phrase}" if phrase else ""),
                      gone=status == 410, retry_after=_retry_after(response.headers.get("retry-after")))


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def send(client: httpx.Client, url: str, *, keys: Sequence[bytes], message_id: str, payload: Mapping[str, Any],
         now: datetime, timeout: float) -> SendResult:
    """One delivery attempt, signed with each of `keys` (see `signing_keys`); `now` is the attempt's time (the
    webhook-timestamp)."""
    body = encode_body(payload)
    return post_json(client, url, body, headers_for(keys, message_id, unix_seconds(now), body), timeout)


@lru_cache(maxsize=1)
def shared_client() -> httpx.Client:
    """One client per process, reused by every sweep: building one (TLS context, pool) costs ~20 ms."""
    return new_client()


def new_client() -> httpx.Client:
    return httpx.Client(headers={"user-agent": USER_AGENT}, follow_redirects=False)


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
