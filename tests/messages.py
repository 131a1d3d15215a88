"""Builders for Segment messages in tests: short to write, complete on the wire."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from tests.conftest import T0

_ids = itertools.count(1)


def at(minutes: float = 0, *, days: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes, days=days)).isoformat()


def _base(kind: str, when: str | datetime | None, message_id: str | None, **ids) -> dict:
    msg = {"type": kind, "messageId": message_id or f"msg-{next(_ids)}"}
    msg["timestamp"] = when.isoformat() if isinstance(when, datetime) else (when or at())
    msg.update({k: v for k, v in ids.items() if v is not None})
    return msg


def page(path: str, *, anon=None, user=None, when=None, message_id=None, **context) -> dict:
    m = _base("page", when, message_id, anonymousId=anon, userId=user)
    m["properties"] = {"path": path}
    if context:
        m["context"] = context
    return m


def track(event: str, *, anon=None, user=None, when=None, message_id=None, properties=None, **context) -> dict:
    m = _base("track", when, message_id, anonymousId=anon, userId=user)
    m["event"] = event
    m["properties"] = properties or {}
    if context:
        m["context"] = context
    return m


def identify(*, anon=None, user=None, when=None, message_id=None, **traits) -> dict:
    m = _base("identify", when, message_id, anonymousId=anon, userId=user)
    m["traits"] = traits
    return m


def group(group_id: str, *, anon=None, user=None, when=None, message_id=None, **traits) -> dict:
    m = _base("group", when, message_id, anonymousId=anon, userId=user)
    m["groupId"] = group_id
    m["traits"] = traits
    return m


def alias(previous_id: str, user: str, *, when=None, message_id=None) -> dict:
    m = _base("alias", when, message_id, userId=user)
    m["previousId"] = previous_id
    return m


def numbered(messages) -> list[tuple[str, dict]]:
    """`(position, message)` pairs, as the ingest service takes them."""
    return [(f"test message {i}", m) for i, m in enumerate(messages, start=1)]
