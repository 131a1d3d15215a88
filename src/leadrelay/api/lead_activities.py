"""A lead's activities, newest first, with what their Segment context said: campaign, page, IP, user agent.

The query behind `GET /api/leads/{ref}/activities`; the lead's explanation
(`GET /api/leads/{ref}`) shows only the most recent few.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from leadrelay.api.cursor import decode_cursor, encode_cursor
from leadrelay.bootstrap import App
from leadrelay.domain.timefmt import utc_iso
from leadrelay.storage import tables as t


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
    next_cursor = encode_cursor(rows[limit - 1].occurred_at, rows[limit - 1].id) if len(rows) > limit else None
    return [_activity(row) for row in rows[:limit]], next_cursor


def _activity(row) -> dict[str, Any]:
    payload = row.payload or {}
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
