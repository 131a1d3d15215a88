"""Recording a touch — a rep's call, email or meeting — on a handoff, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert

from leadrelay.handoff.desk import HandoffDesk
from leadrelay.handoff.events import TouchLogged
from leadrelay.handoff.model import Handoff
from leadrelay.handoff.sla import FIRST_TOUCH, FOLLOW_UP, TOUCHES
from leadrelay.lead.model import Lead
from leadrelay.storage import handoff_tables as h


def record_touch(desk: HandoffDesk, lead: Lead, handoff: Handoff, *, rep: str, kind: str, outcome: str,
                 note: str | None, at: datetime, cause: str) -> None:
    """The touch counts toward the first-touch and persistence deadlines, and meets an open follow-up task."""
    first = handoff.first_touch_at is None
    handoff.touch(at)
    followed_up = handoff.follow_up_done(at)
    desk.conn.execute(insert(h.touches).values(lead_id=lead.id, handoff_id=handoff.id, rep=rep, kind=kind,
                                               outcome=outcome, note=note, at=at))
    desk.save(handoff, "status", "touches", "first_touch_at", "last_touch_at", "follow_up_met_at")
    desk.record(TouchLogged(at=at, lead_id=lead.id, handoff_id=handoff.id, cause=cause, owner=rep,
                            kind=kind, outcome=outcome))
    desk.write_pending()
    if first:
        desk.cancel_timers(handoff.id, FIRST_TOUCH, "met")
    if handoff.touches_required is not None and handoff.touches >= handoff.touches_required:
        desk.cancel_timers(handoff.id, TOUCHES, "met")
    if followed_up:
        desk.cancel_timers(handoff.id, FOLLOW_UP, "met")
