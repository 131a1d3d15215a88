"""The meetings table: the only SQL about meetings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from leadrelay.handoff.meetings import Meeting, MeetingStatus
from leadrelay.storage import handoff_tables as h

_STATUS = {status.value: status for status in MeetingStatus}
_FIELDS = ("lead_id", "handoff_id", "host", "status", "starts_at", "booked_at", "ended_at", "reschedules", "source",
           "external_id", "credited_to", "credit")


def meeting_from_row(row: Any) -> Meeting:
    return Meeting(id=row.id, lead_id=row.lead_id, host=row.host, booked_at=row.booked_at, starts_at=row.starts_at,
                   status=_STATUS[row.status], source=row.source, external_id=row.external_id,
                   handoff_id=row.handoff_id, reschedules=row.reschedules, credited_to=row.credited_to,
                   credit=row.credit, ended_at=row.ended_at)


def _values(meeting: Meeting) -> dict[str, Any]:
    values = {name: getattr(meeting, name) for name in _FIELDS}
    values["status"] = meeting.status.value
    return values


def insert_meeting(conn: Connection, meeting: Meeting, *, actor: str, now: datetime) -> None:
    meeting.id = conn.execute(insert(h.meetings).values(**_values(meeting), updated_by=actor, updated_at=now)
                              .returning(h.meetings.c.id)).scalar_one()


def save_meeting(conn: Connection, meeting: Meeting, *, actor: str, now: datetime) -> None:
    conn.execute(update(h.meetings).where(h.meetings.c.id == meeting.id)
                 .values(**_values(meeting), updated_by=actor, updated_at=now))


def find_meeting(conn: Connection, meeting_id: int, *, for_update: bool = False) -> Meeting | None:
    query = select(h.meetings).where(h.meetings.c.id == meeting_id)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    return meeting_from_row(row) if row else None


def meeting_of(conn: Connection, lead_id: int, external_id: str | None) -> Meeting | None:
    """The lead's meeting with the scheduler's id; without one, its newest booked meeting."""
    c = h.meetings.c
    query = select(h.meetings).where(c.lead_id == lead_id)
    query = query.where(c.external_id == external_id) if external_id is not None else \
        query.where(c.status == MeetingStatus.BOOKED.value)
    row = conn.execute(query.order_by(c.id.desc()).limit(1)).first()
    return meeting_from_row(row) if row else None


def lead_meetings(conn: Connection, lead_id: int) -> list[Meeting]:
    c = h.meetings.c
    return [meeting_from_row(row) for row in conn.execute(select(h.meetings).where(c.lead_id == lead_id)
                                                          .order_by(c.booked_at, c.id))]


def move_credit(conn: Connection, lead_id: int, previous: str, new: str, after: datetime, *, actor: str) -> int:
    """Give `new` the round-robin credit `previous` holds for the lead's meetings still to come; returns it."""
    c = h.meetings.c
    to_come = (c.lead_id == lead_id, c.status == MeetingStatus.BOOKED.value, c.credited_to == previous,
               c.credit > 0, (c.starts_at.is_(None)) | (c.starts_at > after))
    moved: Sequence[int] = conn.scalars(select(c.credit).where(*to_come)).all()
    if moved:
        conn.execute(update(h.meetings).where(*to_come).values(credited_to=new, updated_by=actor, updated_at=after))
    return sum(moved)
