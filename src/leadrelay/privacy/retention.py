"""Retention: keep raw activity context and rejected messages only as long as the settings say.

Two settings, both unset by default (keep forever, as LeadRelay always has):

- `retain_raw_days`: an activity received longer ago loses the parts of its `context`
  that replay never reads: IP address, user agent, locale, library, device, screen,
  timezone, page referrer, and the rest. Kept: its properties and traits (scoring,
  qualification and fit rules read them, so `rescore` gives the same numbers), its type,
  name, identities and times, `context.campaign` (first-touch attribution) and every
  `context.FIELD` the active playbook's rules name. A later playbook that starts reading a
  context field finds it missing on activities trimmed before.
- `retain_rejections_days`: a rejected message first received longer ago is deleted,
  payload and all (`leadrelay rejections` lists what is left).

Both walk their table in id order from where they stopped, in transactions of `BATCH`
rows, and stop at the first row still young enough (ids grow with time of receipt; a
row received out of that order only waits for the ones before it). So a pass that has
nothing to do costs one small query per table, and running it twice changes nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from leadrelay.core.app import App
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import tables as t
from leadrelay.storage.database import upsert_into
from leadrelay.storage.packing import payloads

log = logging.getLogger("leadrelay.privacy")
BATCH = 500
ALWAYS_KEPT = frozenset({"campaign"})  # `lead.attribution.first_touch` reads it
TRIMMED_THROUGH = "raw_trimmed_through"
_CONTEXT_FIELD = re.compile(r"\bcontext\.([A-Za-z0-9_$-]+)")


def apply_retention(app: App, now: datetime) -> dict[str, int]:
    """Apply both retention settings as of `now`; how many activities were trimmed and rejections deleted."""
    done: dict[str, int] = {}
    settings = app.settings
    if settings.retain_raw_days is not None:
        done["activities_trimmed"] = trim_raw_context(app, now - timedelta(days=settings.retain_raw_days))
    if settings.retain_rejections_days is not None:
        done["rejections_deleted"] = delete_rejections(app, now - timedelta(days=settings.retain_rejections_days))
    if any(done.values()):
        log.info("retention: %s", ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in done.items()))
    return done


def kept_context(playbook_text: str) -> frozenset[str]:
    """The `context` fields a trimmed activity keeps: attribution's, and those the playbook's rules name."""
    return ALWAYS_KEPT | frozenset(_CONTEXT_FIELD.findall(playbook_text or ""))


def trim_raw_context(app: App, before: datetime) -> int:
    """Trim the context of activities received before `before` (see the module docstring); how many changed."""
    keep = kept_context(app.playbook.text)
    a, s = t.activities.c, pt.privacy_state.c
    trimmed = 0
    while True:
        with app.engine.begin() as conn:
            through = int(conn.scalar(select(s.value).where(s.key == TRIMMED_THROUGH)) or 0)
            batch = conn.execute(select(a.id, a.received_at, a.payload).where(a.id > through)
                                 .order_by(a.id).limit(BATCH)).all()
            old = []
            for row in batch:
                if row.received_at >= before:
                    break
                old.append(row)
            if not old:
                return trimmed
            changes, packing = [], payloads(conn)
            for row in old:
                payload = packing.unpack(conn, row.payload)
                context = payload.get("context")
                if isinstance(context, dict) and set(context) - keep:
                    payload["context"] = {k: v for k, v in context.items() if k in keep}
                    if not payload["context"]:
                        del payload["context"]
                    changes.append({"b_id": row.id, "payload": packing.pack(payload)})
            if changes:
                conn.execute(update(t.activities).where(a.id == bindparam("b_id")), changes)
            _remember(conn, TRIMMED_THROUGH, str(old[-1].id))
            trimmed += len(changes)
            if len(old) < len(batch) or len(batch) < BATCH:
                return trimmed


def delete_rejections(app: App, before: datetime) -> int:
    """Delete rejected messages first received before `before`, oldest first; how many."""
    r = t.rejections.c
    deleted = 0
    while True:
        with app.engine.begin() as conn:
            batch = conn.execute(select(r.id, r.received_at).order_by(r.id).limit(BATCH)).all()
            old = []
            for row in batch:
                if row.received_at >= before:
                    break
                old.append(row.id)
            if old:
                deleted += conn.execute(delete(t.rejections).where(r.id.in_(old))).rowcount
            if len(old) < BATCH:
                return deleted


def _remember(conn: Any, key: str, value: str) -> None:
    insert = upsert_into(conn, pt.privacy_state)
    conn.execute(insert.values(key=key, value=value).on_conflict_do_update(index_elements=["key"],
                                                                         set_={"value": value}))
