"""Reading messages in the Segment tracking spec (https://segment.com/docs/connections/spec/).

`iter_messages` unwraps batch envelopes; `parse_message` turns one message into an
`Activity` or a `Rejection`. Bad input never raises: every problem becomes a rejection
whose one-line reason names the offending field, so a source owner can fix it.

Time follows Segment's clock-skew rule (see `parse_message`). Segment's spec sets no
limit on how far ahead a time may be, but LeadRelay runs clocks from it: a hand-raise
dated 9999 would open its handoff in 9999, so its SLA never ran, and decay would wait for
that date. So a message still more than `MAX_AHEAD` after its receipt once corrected is
rejected with the field and its value, neither stored nor quietly moved: the sender sees
it, fixes it and sends the same message again. Old times are history (files load it), back
to `EARLIEST`: before it is a zero date (0001-01-01 from Go or .NET), not an activity, and
calendar arithmetic on it would overflow.

This sits on the hot ingest path, so the happy path avoids exceptions, regexes it does not
need, and copies beyond the few that keep the raw message unmutated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from leadrelay.core.addresses import canonical_email, normalise_email
from leadrelay.core.time import utc_iso
from leadrelay.lead.activities import MESSAGE_TYPES, Activity, Rejection

MAX_MESSAGE_ID_LENGTH = 200
MAX_ID_LENGTH = 200  # userId, anonymousId, previousId, groupId: the width of their columns
# How far after its receipt a message may say it happened. More than any UTC offset (+14 h): a local time sent as
# UTC or with the wrong zone is kept, hours off, not lost. A day at most: no SLA or decay is put off for longer. A
# device's wrong clock does not come near it when the message has sentAt, which corrects the skew first.
MAX_AHEAD = timedelta(hours=24)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # the Unix epoch: no tracked activity is older

_TYPES = frozenset(MESSAGE_TYPES)
_TYPE_LIST = ", ".join(MESSAGE_TYPES)
_PAGE_FIELDS = ("path", "url", "title", "referrer", "search")
_SHOWN_VALUE_LENGTH = 40
_LONG_YEAR = re.compile(r"\+?\d{5,}-")  # ISO 8601's expanded years, past datetime's 9999


class _Invalid(Exception):
    """Carries a rejection reason out of nested checks; never leaves this module."""


def email_domain(email: str | None) -> str | None:
    """Return the domain of an e-mail address in its canonical form (lower case, IDNA's ASCII form for an
    internationalised one: see `canonical_email`), or None if it is not an address."""
    normalised = normalise_email(email)
    return normalised.rpartition("@")[2] if normalised else None


def iter_messages(raw: object, *, position: str) -> Iterator[tuple[str, object]]:
    """Yield `(position, message)` pairs, unwrapping a batch envelope if `raw` is one.

    A batch envelope is an object with a `batch` key. Each element is yielded with the
    position `"{position} batch[{i}]"`. The envelope's `context` applies to every message:
    it is merged under the message's own context (the message wins, and for keys where both
    hold objects, such as `library` or `traits`, the two objects are merged the same way).
    The envelope's `sentAt` is given to messages that lack their own, since it is the one
    clock reading the skew correction needs.

    Anything else, including an envelope whose `batch` is not a list or whose `context` is
    not an object, is yielded once as-is so that `parse_message` rejects it with a reason.
    Elements are copied before the envelope is applied; `raw` is never mutated.
    """
    if not isinstance(raw, dict) or "batch" not in raw:
        yield position, raw
        return
    batch = raw["batch"]
    envelope_context = raw.get("context")
    if not isinstance(batch, list) or not isinstance(envelope_context, dict | None):
        yield position, raw
        return
    envelope_sent_at = raw.get("sentAt")
    prefix = f"{position} " if position else ""
    for index, message in enumerate(batch):
        if isinstance(message, dict) and (envelope_context or envelope_sent_at is not None):
            message = _apply_envelope(message, envelope_context, envelope_sent_at)
        yield f"{prefix}batch[{index}]", message


def parse_message(
    raw: object,
    *,
    source: str,
    received_at: datetime,
    position: str,
    default_type: str | None = None,
    live: bool = True,
    storable: bool = False,
) -> Activity | Rejection:
    """Validate one Segment-spec message and normalise it into an `Activity`.

    `received_at` is when LeadRelay got the message (timezone-aware; a naive value is taken
    as UTC); a `receivedAt` carried by the message itself wins, so replayed exports keep
    their original receipt time. `position` says where the message was in the input and is
    only used in a rejection. `default_type` is the type implied by an endpoint such as
    `/v1/track`, used when the message has no `type` of its own.

    `occurred_at` follows Segment's clock-skew rule: `receivedAt - (sentAt - client time)`
    when `sentAt` and a client time are present, where the client time is
    `originalTimestamp` if given (a replayed message, whose `timestamp` is already
    corrected) else `timestamp`; otherwise `timestamp`, then `originalTimestamp`, then the
    receipt time. Timestamps without a zone are UTC; every datetime returned is UTC.
    With `live=False` (a file of old messages, received long after they were sent) the
    correction is applied only when the message carries its own `receivedAt`.

    A message whose `occurred_at` (or own `receivedAt`) is more than `MAX_AHEAD` after
    `received_at`, or before `EARLIEST`, is rejected, the reason naming the field and its
    value; live or not, since a file's messages are received when it is loaded.

    `storable=True` says the caller has already found every string in the message storable (no
    NUL, no lone surrogate; `leadrelay.activity.service` checks a whole message at C speed), and
    the walk over its strings is skipped.

    Returns a `Rejection` (never raises) for anything not a valid message.
    """
    if not isinstance(raw, dict):
        return Rejection(position, f"expected a JSON object, got {_kind(raw)}", None, raw)
    if "batch" in raw:
        return Rejection(position, _envelope_problem(raw), None, raw)
    if not storable and not _storable(raw):
        return Rejection(position, _unstorable(raw, "") or "not storable", None, raw)
    message_id = raw.get("messageId")
    if message_id is None:
        return Rejection(position, "missing messageId", None, raw)
    if not isinstance(message_id, str):
        reason = f"messageId: expected a string, got {_kind(message_id)}"
        return Rejection(position, reason, None, raw)
    if not message_id.strip():
        return Rejection(position, "messageId: must not be blank", None, raw)
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        reason = f"messageId: longer than {MAX_MESSAGE_ID_LENGTH} characters"
        return Rejection(position, reason, None, raw)
    try:
        return _build(raw, message_id, source, received_at, default_type, live)
    except _Invalid as invalid:
        return Rejection(position, str(invalid), message_id, raw)


def _build(
    raw: dict[str, Any],
    message_id: str,
    source: str,
    received_at: datetime,
    default_type: str | None,
    live: bool = True,
) -> Activity:
    kind = raw.get("type")
    if kind is None:
        if default_type is None:
            raise _Invalid("missing type")
        kind = default_type
    elif not isinstance(kind, str):
        raise _Invalid(f"type: expected a string, got {_kind(kind)}")
    if kind not in _TYPES:
        raise _Invalid(f"unknown type {_show(kind)} (expected one of {_TYPE_LIST})")

    user_id = _identifier(raw, "userId")
    anonymous_id = _identifier(raw, "anonymousId")
    previous_id = None
    if kind == "alias":
        if user_id is None:
            raise _Invalid("alias: missing userId")
        previous_id = _identifier(raw, "previousId")
        if previous_id is None:
            raise _Invalid("alias: missing previousId")

    name = None
    group_id = None
    if kind == "track":
        name = raw.get("event")
        if name is not None and not isinstance(name, str):
            raise _Invalid(f"event: expected a string, got {_kind(name)}")
        if not name or not name.strip():
            raise _Invalid("track: missing event")
    elif kind == "group":
        group_id = _identifier(raw, "groupId")
        if group_id is None:
            raise _Invalid("group: missing groupId")

    context = _object(raw.get("context"), "context")
    if group_id is None and context and isinstance(context.get("groupId"), (str, int)) \
            and not isinstance(context.get("groupId"), bool):
        group_id = _identifier(context, "groupId", "context.groupId")  # the account the message is about
    context_traits = _object(context.get("traits"), "context.traits") if context else None
    traits = _object(raw.get("traits"), "traits")
    properties = _object(raw.get("properties"), "properties")

    if kind in ("page", "screen"):
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise _Invalid(f"name: expected a string, got {_kind(name)}")
        if not name or not name.strip():
            fallback = properties.get("name") if properties else None
            name = fallback if isinstance(fallback, str) and fallback.strip() else None

    received_at = arrived = _as_utc(received_at)
    timestamp = _moment(raw, "timestamp")
    original = _moment(raw, "originalTimestamp")
    sent_at = _moment(raw, "sentAt")
    own_received_at = _moment(raw, "receivedAt")
    if own_received_at is not None:
        _check_when("receivedAt", raw, own_received_at, arrived)
        received_at = own_received_at
    client_time = original if original is not None else timestamp
    if sent_at is not None and client_time is not None and (live or own_received_at is not None):
        try:
            occurred_at = received_at - (sent_at - client_time)
        except OverflowError:
            raise _Invalid("sentAt: clock-skew correction out of range") from None
        field = "originalTimestamp" if original is not None else "timestamp"
        _check_when(field, raw, occurred_at, arrived, corrected=True)
    else:
        occurred_at = timestamp or original or received_at
        if occurred_at is not received_at:
            _check_when("timestamp" if timestamp is not None else "originalTimestamp", raw, occurred_at, arrived)

    if kind == "group":
        # Group traits describe the account, not the person: mixing in the user's
        # context.traits would smear one over the other, and no lead e-mail comes from it.
        merged_traits = dict(traits) if traits else {}
        email = None
    else:
        if context_traits and traits:
            merged_traits = {**context_traits, **traits}
        else:
            merged_traits = dict(traits or context_traits or ())
        if traits and "email" in traits:  # the message's own traits win over its context's, as in merged_traits
            email = _email(traits, "traits.email")
        else:
            email = _email(context_traits, "context.traits.email")
    if kind == "group" and merged_traits:
        for key in ("domain", "website"):
            value = merged_traits.get(key)
            if isinstance(value, str) and len(value) > 2000:
                raise _Invalid(f"traits.{key}: longer than 2000 characters")
            if isinstance(value, str) and key == "domain" and len(value.strip()) > 253:
                raise _Invalid("traits.domain: longer than 253 characters (the longest name DNS allows)")
    if kind != "alias" and user_id is None and anonymous_id is None and email is None:
        # Segment asks for userId or anonymousId; an email in the traits identifies a lead
        # just as well (a CSV export, a web form posted server-side).
        raise _Invalid(f"{kind}: needs userId, anonymousId or an email in traits")

    properties = dict(properties) if properties else {}
    if kind == "page" and context:
        page = context.get("page")
        if isinstance(page, dict):
            # analytics.js sends these in context.page; downstream reads them from properties.
            for key in _PAGE_FIELDS:
                if properties.get(key) is None:
                    value = page.get(key)
                    if value is not None:
                        properties[key] = value

    return Activity(
        source=source,
        message_id=message_id,
        type=kind,
        occurred_at=occurred_at,
        received_at=received_at,
        anonymous_id=anonymous_id,
        user_id=user_id,
        email=email,
        name=name,
        properties=properties,
        traits=merged_traits,
        context=context if context is not None else {},
        group_id=group_id,
        previous_id=previous_id,
    )


def _email(traits: dict[str, Any] | None, field: str) -> str | None:
    """The lead's e-mail address from `traits`, whose `email` a rejection calls `field`, in canonical form.

    Absent, null or blank is no address; anything else that is not an address rejects the message, naming the
    field and why: kept, it would make a lead nobody can reach or match, and dropped, the sender would never know.
    """
    value = traits.get("email") if traits else None
    if value is None or isinstance(value, str) and not value.strip():
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{field}: expected a string, got {_kind(value)}")
    try:
        return canonical_email(value)
    except ValueError as problem:
        raise _Invalid(f"{field}: not an e-mail address ({problem}): {_show(value)}") from None


def _identifier(raw: dict[str, Any], field: str, name: str | None = None) -> str | None:
    """A Segment id: a string (blank counts as absent) or a finite number, as a string, of at most
    `MAX_ID_LENGTH` characters. `name` is how a rejection names the field (default: `field`)."""
    value = raw.get(field)
    field = name or field
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_ID_LENGTH:
            raise _Invalid(f"{field}: longer than {MAX_ID_LENGTH} characters")
        return value if value.strip() else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid(f"{field}: expected a finite number, got {value}")
        try:
            return str(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits() allows
            raise _Invalid(f"{field}: number too long") from None
    raise _Invalid(f"{field}: expected a string or number, got {_kind(value)}")


def _storable(value: Any) -> bool:
    """Whether every string in a message — keys and values, at any depth — can be stored: no NUL character, no
    lone surrogate. The hot path: no paths built, exact type checks, one scan of each ASCII string."""
    kind = type(value)
    if kind is str:
        return "\x00" not in value and (value.isascii() or _utf8(value))
    if kind is dict:
        for key, item in value.items():
            if type(key) is str and ("\x00" in key or not (key.isascii() or _utf8(key))):
                return False
            kind = type(item)
            if (kind is str or kind is dict or kind is list) and not _storable(item):
                return False
    elif kind is list:
        for item in value:
            kind = type(item)
            if (kind is str or kind is dict or kind is list) and not _storable(item):
                return False
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any, path: str) -> str | None:
    """Why a message cannot be stored as it is (`_storable` said so): the first string in it — a key or a value,
    at any depth — holding a NUL character or a lone surrogate (PostgreSQL refuses both, and a surrogate is not
    text in any encoding), named by its path. None when every string is storable."""
    if isinstance(value, str):
        return _bad_text(value, path or "the message")
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := _bad_text(key, f"{path or 'the message'} (a key)")):
                return problem
            if isinstance(item, (str, dict, list)) and (problem := _unstorable(item, f"{path}.{key}" if path else
                                                                                 str(key))):
                return problem
    elif isinstance(value, list):
        for n, item in enumerate(value):
            if isinstance(item, (str, dict, list)) and (problem := _unstorable(item, f"{path}[{n}]")):
                return problem
    return None


def _bad_text(text: str, path: str) -> str | None:
    if "\x00" in text:
        return f"{path}: contains a NUL character (\\u0000), which cannot be stored"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return f"{path}: contains a lone surrogate (\\u{ord(text[exc.start]):04x}), which is not text"
    return None


def _object(value: object, field: str) -> dict[str, Any] | None:
    """Return an optional JSON object field; null counts as absent."""
    if value is None or isinstance(value, dict):
        return value
    raise _Invalid(f"{field}: expected an object, got {_kind(value)}")


def _moment(raw: dict[str, Any], field: str) -> datetime | None:
    """Parse an optional ISO-8601 timestamp field into an aware UTC datetime."""
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{field}: expected an ISO-8601 string, got {_kind(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        # RFC 3339 allows a lower-case "t" and "z", which fromisoformat refuses.
        try:
            moment = datetime.fromisoformat(value.upper())
        except ValueError:
            if _LONG_YEAR.match(value):
                raise _Invalid(f"{field}: a year after 9999 cannot be stored: {_show(value)}") from None
            raise _Invalid(f"{field}: not an ISO-8601 date: {_show(value)}") from None
    try:
        return _as_utc(moment)
    except OverflowError:
        raise _Invalid(f"{field}: out of range in UTC: {_show(value)}") from None


def out_of_bounds(moment: datetime, received_at: datetime) -> str | None:
    """Why `moment` cannot be when a message received at `received_at` happened, or None: it is more than
    `MAX_AHEAD` after the receipt, or before `EARLIEST`. Both aware."""
    if moment - received_at > MAX_AHEAD:  # a difference, not received_at + MAX_AHEAD: that overflows near year 9999
        hours = round(MAX_AHEAD.total_seconds() / 3600)
        return f"more than {hours} hours after LeadRelay received it ({utc_iso(received_at)})"
    if moment < EARLIEST:
        return f"before {EARLIEST.date().isoformat()}, a zero date or a reset clock"
    return None


def _check_when(field: str, raw: dict[str, Any], moment: datetime, arrived: datetime, corrected: bool = False) -> None:
    """Refuse a time `out_of_bounds`, naming the field, its value and, when `corrected`, the sentAt that moved it."""
    problem = out_of_bounds(moment, arrived)
    if problem is None:
        return
    said = f"{field}: {_show(raw[field])}"
    if corrected:
        said += f" with sentAt {_show(raw['sentAt'])} is {utc_iso(moment)} by Segment's clock-skew correction " \
                f"(receivedAt - (sentAt - {field})),"
    else:
        said += " is"
    if field == "receivedAt":
        hint = "leave it out and LeadRelay's own receipt time is used"
    elif moment > arrived:
        hint = "send when it happened, in UTC or with its offset"
    else:
        hint = "send when it happened"
    raise _Invalid(f"{said} {problem}: {hint}")


def _as_utc(moment: datetime) -> datetime:
    tz = moment.tzinfo
    if tz is UTC:
        return moment
    if tz is None or tz.utcoffset(moment) is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _apply_envelope(
    message: dict[str, Any], context: dict[str, Any] | None, sent_at: object
) -> dict[str, Any]:
    merged = dict(message)
    if sent_at is not None and merged.get("sentAt") is None:
        merged["sentAt"] = sent_at
    if context:
        own = merged.get("context")
        if own is None:
            merged["context"] = dict(context)
        elif isinstance(own, dict):
            combined = dict(context)
            for key, value in own.items():
                under = combined.get(key)
                if isinstance(value, dict) and isinstance(under, dict):
                    combined[key] = {**under, **value}
                else:
                    combined[key] = value
            merged["context"] = combined
        # A non-object context is left alone so parse_message rejects it by name.
    return merged


def _envelope_problem(raw: dict[str, Any]) -> str:
    """The reason an envelope reached parse_message instead of being split by iter_messages."""
    if not isinstance(raw["batch"], list):
        return "batch: expected a list"
    context = raw.get("context")
    if not isinstance(context, dict | None):
        return f"context: expected an object, got {_kind(context)}"
    return "batch: unexpected batch envelope"


def _kind(value: object) -> str:
    """The JSON name of a value's type, for reasons a source owner can read."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: str) -> str:
    """repr() of a value, cut short so a reason stays one readable line."""
    if len(value) > _SHOWN_VALUE_LENGTH:
        value = value[:_SHOWN_VALUE_LENGTH] + "..."
    return repr(value)
