"""Who may act on a lead now, and when: the checks every rep action makes before it changes anything."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, InvalidTransition, NotFound
from leadrelay.core.time import said_at, utc_iso
from leadrelay.handoff.model import Handoff, HandoffStatus
from leadrelay.handoff.rows import handoff_from_row
from leadrelay.lead.model import Lead
from leadrelay.storage import handoff_tables as h


def when(app: App, at: datetime | None) -> datetime:
    now = app.clock()
    if at is None:
        return now
    if at > now:
        raise InvalidInput(f"at: {utc_iso(at)} is in the future (it is {said_at(now)})")
    return at


def not_before(handoff, at: datetime) -> None:
    if at < handoff.opened_at:
        raise InvalidInput(f"at: {utc_iso(at)} is before the handoff opened ({utc_iso(handoff.opened_at)})")


def open_handoff(conn, lead: Lead, rep: str | None, app: App | None = None) -> Handoff:
    if rep is not None and app is not None and rep not in app.playbook.rules.handoff.directory.reps:
        raise NotFound(f"no rep '{rep}' in the playbook")
    c = h.handoffs.c
    row = conn.execute(select(h.handoffs).where(c.lead_id == lead.id, c.status != HandoffStatus.CLOSED.value)
                       .order_by(c.id.desc()).limit(1)).first()
    if row is None:
        raise InvalidTransition(f"lead {lead.id} has no open handoff")
    if rep is not None and row.owner != rep:
        owner = row.owner or f"nobody yet (queued for {row.team or row.to_function})"
        raise InvalidTransition(f"lead {lead.id} is owned by {owner}, not {rep}")
    return handoff_from_row(row)
