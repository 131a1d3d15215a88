"""Writing the outbox: one row per notice and matching channel target, in the caller's transaction.

The engine calls `enqueue` with the same connection it writes the state change on, so the
change and its notifications commit together or not at all; the worker
(`leadrelay.delivery.dispatcher`) only ever sees committed messages, and is woken by the
commit (`storage.wake`) rather than finding them at its next look.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from leadrelay.core.time import utc_iso
from leadrelay.delivery.notices import Notice
from leadrelay.storage import wake
from leadrelay.storage.bulk import insert_rows
from leadrelay.storage.outbox_tables import PENDING, STATUSES, WITHDRAWN, endpoints, outbox

if TYPE_CHECKING:
    from leadrelay.playbook.notifications import Notifications


def new_message_id() -> str:
    """`msg_` + 32 hex digits: the webhook-id, unique per message and stable across its retries."""
    return "msg_" + uuid.uuid4().hex


def payload(notice: Notice) -> dict[str, Any]:
    """The Standard Webhooks payload: {"type", "timestamp" (when it happened), "data"}."""
    data = dict(notice.data)
    if notice.lead_id is not None:
        data.setdefault("lead_id", notice.lead_id)
    return {"type": notice.type, "timestamp": utc_iso(notice.occurred_at), "data": data}


def targets(notice: Notice, notifications: Notifications) -> list[tuple[str, str]]:
    """(channel, target) for every place `notice` goes: webhook ids, Slack ids, email addresses."""
    def wanted(channel) -> bool:
        return channel.wants(notice.type) if notice.channels is None else channel.id in notice.channels

    found = [("webhook", hook.id) for hook in notifications.webhooks if wanted(hook)]
    found += [("slack", channel.id) for channel in notifications.slack if wanted(channel)]
    if notifications.email is not None:
        found += [("email", address) for address in notifications.email.addresses(notice)]
    return found


def enqueue(conn: Connection, notices: Sequence[Notice], notifications: Notifications, now: datetime) -> int:
    """Write the outbox rows for `notices` on `conn` (one batched insert); the number written.

    Nothing is sent here and nothing is committed: the caller's transaction decides. Rows are
    due at once (`next_attempt_at = now`), so the worker is woken when the transaction commits
    (`storage.wake`). An email role the notice has no address for (say, no manager) is skipped.
    """
    rows = []
    for notice in notices:
        body = None
        for channel, target in targets(notice, notifications):
            body = body or payload(notice)
            rows.append({
                "message_id": new_message_id(), "event_type": notice.type, "channel": channel,
                "target": target, "lead_id": notice.lead_id, "payload": body, "status": PENDING,
                "attempts": 0, "next_attempt_at": now, "last_error": None, "created_at": now, "sent_at": None,
            })
    if rows:
        insert_rows(conn, outbox, rows)
        wake.request(conn, wake.OUTBOX)
    return len(rows)


def withdraw(conn: Connection, lead_id: int, email: str, event_types: tuple[str, ...], why: str) -> int:
    """Withdraw the emails to `email` about this lead of these types that are still waiting to be sent
    (overtaken: the lead is no longer theirs). Webhooks and Slack keep everything."""
    o = outbox.c
    return conn.execute(update(outbox).where(
        o.status == PENDING, o.lead_id == lead_id, o.channel == "email", o.target == email,
        o.event_type.in_(event_types)).values(status=WITHDRAWN, last_error=why)).rowcount


COLUMNS = ("id", "message_id", "event_type", "channel", "target", "lead_id", "status", "attempts",
           "next_attempt_at", "last_error", "created_at", "sent_at")


def list_messages(conn: Connection, *, status: str | None = None, limit: int = 50,
                  with_payload: bool = False, failing: bool = False) -> list[dict[str, Any]]:
    """The newest outbox messages (optionally of one status), JSON-ready. `failing`: only those whose last attempt
    failed (an error is on record)."""
    if status is not None and status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    columns = [outbox.c[name] for name in COLUMNS] + ([outbox.c.payload] if with_payload else [])
    query = select(*columns).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status)
    if failing:
        query = query.where(outbox.c.last_error.is_not(None))
    return [{k: utc_iso(v) if isinstance(v, datetime) else v for k, v in row._mapping.items()}
            for row in conn.execute(query)]


def disabled_endpoints(conn: Connection) -> list[dict[str, Any]]:
    e = endpoints.c
    rows = conn.execute(select(e.id, e.kind, e.disabled_at, e.disabled_reason)
                        .where(e.disabled_at.is_not(None)).order_by(e.id))
    return [{"id": r.id, "kind": r.kind, "disabled_at": utc_iso(r.disabled_at), "reason": r.disabled_reason}
            for r in rows]
