"""What came in, as the API and the CLI read it: a lead's activities, and the messages turned away.

`lead_activities` is the query behind `GET /api/leads/{ref}/activities` (newest first, with
what their Segment context said: campaign, page, IP, user agent; the lead's explanation
shows only the most recent few). `rejections` is behind `GET /api/rejections` and
`leadrelay rejections`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from leadrelay.core.app import App
from leadrelay.core.cursor import decode_cursor, encode_cursor
from leadrelay.core.time import utc_iso
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack


def lead_activities(
    app: App, lead_id: int, *, limit: int, cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of activities, latest occurrence first, and the cursor of the next page (None on the last one)."""
    c = t.activities.c
    query = select(t.activities).where(c.lead_id == lead_id)
    if cursor is not None:
        moment, activity_id = decode_cursor(cursor, datetime, int)
        query = query.where(or_(c.occurred_at < moment, and_(c.occurred_at == moment, c.id < activity_id)))
    with app.engine.connect() as conn:
        rows = conn.execute(query.order_by(c.occurred_at.desc(), c.id.desc()).limit(limit + 1)).all()
        items = [_activity(row, unpack(conn, row.payload)) for row in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].occurred_at, rows[limit - 1].id) if len(rows) > limit else None
    return items, next_cursor


def _activity(row, payload: dict[str, Any]) -> dict[str, Any]:
    context = payload.get("context") or {}
    page = context.get("page") if isinstance(context.get("page"), dict) else None
    return {
        "id": row.id, "type": row.type, "name": row.name, "source": row.source, "message_id": row.message_id,
        "occurred_at": utc_iso(row.occurred_at), "received_at": utc_iso(row.received_at),
        "properties": payload.get("properties") or {}, "traits": payload.get("traits") or {},
        "campaign": context.get("campaign") if isinstance(context.get("campaign"), dict) else None,
        "page": page, "ip": _text(context.get("ip")), "user_agent": _text(context.get("userAgent")),
    }


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def rejections(app: App, *, source: str | None = None, before: int | None = None,
               limit: int = 50) -> tuple[list[dict[str, Any]], int | None]:
    """Rejected messages, newest first, and the id to pass as `before` for the next page (None on the last).

    A message sent again and turned away for the same reason stays one row, in the place of its first time
    (`received_at`), with how often it was `seen` and when last (`last_seen_at`).
    """
    c = t.rejections.c
    query = select(t.rejections).order_by(c.id.desc()).limit(limit + 1)
    if source is not None:
        query = query.where(c.source == source)
    if before is not None:
        query = query.where(c.id < before)
    with app.engine.connect() as conn:
        rows = conn.execute(query).all()
    page = [{"id": r.id, "source": r.source, "position": r.position, "message_id": r.message_id,
             "reason": r.reason, "payload": r.payload, "received_at": utc_iso(r.received_at),
             "seen": r.seen, "last_seen_at": utc_iso(r.last_seen_at)} for r in rows[:limit]]
    return page, (rows[limit - 1].id if len(rows) > limit else None)
