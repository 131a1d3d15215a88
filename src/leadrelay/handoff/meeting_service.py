"""Meetings as use cases: book, reschedule, held, no-show, cancel — from a rep, the API or a scheduler's tracks.

Each step changes the meeting (`handoff/meetings.py` says which may follow which), then does
what the playbook says it means for the handoff, in the same transaction:

- **booked**: the host (the rep named, else the lead's owner) gets the playbook's round-robin
  credit; a booking meets an open follow-up task.
- **held**: a touch by the host — it meets the first-touch clock.
- **no-show**: the meeting stops counting for the SQL gate; the owner gets a follow-up task with
  the SLA policy's `follow_up_within` clock and ladder; credit is taken back if the playbook says.
- **canceled**: credit taken back if the playbook says.

Every step is a domain event (`MeetingBooked`, ..., `MeetingNoShow`: the leakage report counts
those) and a notice (`meeting.booked`, ..., `meeting.no_show`).

A scheduler's Segment tracks (`Meeting Booked`, ... as the playbook's `meetings.events` names
them) find their meeting by `properties.meetingId`; without one, the lead's newest booked
meeting. A step the meeting is past (held after a cancellation) changes nothing and is stored
as `MeetingIgnored` with why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, InvalidTransition, NotFound
from leadrelay.core.time import parse_utc, said_at, utc_iso
from leadrelay.handoff import events as ev
from leadrelay.handoff.acting import not_before, open_handoff, when
from leadrelay.handoff.desk import HandoffDesk, desk_of
from leadrelay.handoff.meeting_store import find_meeting, insert_meeting, lead_meetings, meeting_of, save_meeting
from leadrelay.handoff.meetings import Meeting, MeetingRules, MeetingStatus, MeetingStep
from leadrelay.handoff.model import Handoff
from leadrelay.handoff.routing import Directory
from leadrelay.handoff.sla import FOLLOW_UP
from leadrelay.handoff.touches import record_touch
from leadrelay.lead.activities import Activity
from leadrelay.lead.model import Lead
from leadrelay.lead.queries import lead_id_for
from leadrelay.lead.service import load_for_update, save_lead
from leadrelay.storage.unit_of_work import UnitOfWork

ID_PROPERTIES = ("meetingId", "meeting_id")
START_PROPERTIES = ("startTime", "start_time", "startsAt", "starts_at", "scheduledAt", "scheduled_at")
HOST_PROPERTIES = ("host", "hostEmail", "host_email", "organizer", "organizerEmail", "organizer_email")
EVENT_CLASSES = {MeetingStep.BOOK: ev.MeetingBooked, MeetingStep.RESCHEDULE: ev.MeetingRescheduled,
                 MeetingStep.HELD: ev.MeetingHeld, MeetingStep.NO_SHOW: ev.MeetingNoShow,
                 MeetingStep.CANCEL: ev.MeetingCanceled}


# --- a scheduler's tracks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeetingTrack:
    """What one Segment track says about a meeting."""

    step: MeetingStep
    external_id: str | None
    starts_at: datetime | None
    host: str | None


def read_track(rules: MeetingRules, activity: Activity) -> MeetingTrack | None:
    """The meeting step a track means, with its properties (None: not a meeting event).

    Raises InvalidInput, naming the property, when one is malformed."""
    if activity.type != "track":
        return None
    step = rules.step_of(activity.name)
    if step is None:
        return None
    props = activity.properties or {}
    name, external = _first(props, ID_PROPERTIES)
    if external is not None and (isinstance(external, bool) or not isinstance(external, (str, int))
                                 or not str(external).strip() or len(str(external)) > 200):
        raise InvalidInput(f"properties.{name}: expected the scheduler's meeting id (text up to 200 characters)")
    name, raw_start = _first(props, START_PROPERTIES)
    starts_at = None
    if raw_start is not None:
        try:  # a date alone is not a meeting time
            starts_at = parse_utc(raw_start) if isinstance(raw_start, str) and len(raw_start) > 10 else None
        except ValueError:
            starts_at = None
        if starts_at is None:
            raise InvalidInput(f"properties.{name}: not an ISO-8601 date and time: {str(raw_start)[:60]!r}")
        if not _zoned(raw_start):
            raise InvalidInput(f"properties.{name}: {raw_start[:60]!r} has no time zone (2026-12-09T15:00:00Z)")
        plausible(starts_at, activity.occurred_at, f"properties.{name}")
    if step is MeetingStep.RESCHEDULE and starts_at is None:
        raise InvalidInput(f"'{activity.name}' needs the new time (properties.startTime)")
    _, host = _first(props, HOST_PROPERTIES)
    return MeetingTrack(step, str(external).strip() if external is not None else None, starts_at,
                        host.strip() if isinstance(host, str) and host.strip() else None)


MEETING_HORIZON = timedelta(days=366)  # a meeting more than a year from when it was booked or moved is a typo


def plausible(starts_at: datetime, at: datetime, name: str) -> None:
    """A meeting's time within a year of the moment it is booked or moved (a meeting "to come" in 9999 would keep
    its lead from ever going stale); InvalidInput naming the field otherwise."""
    if abs(starts_at - at) > MEETING_HORIZON:
        raise InvalidInput(f"{name}: {utc_iso(starts_at)} is more than a year from {utc_iso(at)}")


def _zoned(text: str) -> bool:
    """Whether an ISO-8601 date and time `parse_utc` read says its zone (Z, +02:00): it takes none as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text.upper())  # as parse_utc reads a lower-case "t" and "z"
    return moment.tzinfo is not None


def _first(props: dict, names: Sequence[str]) -> tuple[str, Any]:
    for name in names:
        if props.get(name) is not None:
            return name, props[name]
    return names[0], None


def on_activities(desk: HandoffDesk, assigned: Sequence[tuple[Activity, Lead]]) -> None:
    """Apply a batch's meeting tracks, oldest first (after the batch's stage moves and handoffs)."""
    rules = desk.rules.handoff.meetings
    hits = []
    for activity, lead in assigned:
        if activity.type == "track" and lead.id is not None and rules.step_of(activity.name) is not None:
            hits.append((activity, lead, read_track(rules, activity)))  # malformed ones were refused at intake
    if not hits:
        return
    desk.write_pending()
    hits.sort(key=lambda hit: hit[0].occurred_at)
    for activity, lead, track in hits:
        assert lead.id is not None and track is not None  # kept above: a stored lead's meeting step
        handoff = desk.open_handoffs([lead.id]).get(lead.id)
        cause = f"activity:{activity.message_id}"
        try:
            _from_track(desk, lead, handoff, track, activity.occurred_at, cause)
        except (InvalidTransition, InvalidInput) as exc:
            desk.record(ev.MeetingIgnored(at=activity.occurred_at, lead_id=lead.id, cause=cause,
                                          handoff_id=handoff.id if handoff else None,
                                          event=activity.name or "", reason=str(exc)))


def _from_track(desk: HandoffDesk, lead: Lead, handoff: Handoff | None, track: MeetingTrack, at: datetime,
                cause: str) -> None:
    if lead.stage is None:
        raise InvalidInput("an anonymous visitor: meetings are for leads LeadRelay knows (identify them first)")
    assert lead.id is not None  # `on_activities` keeps stored leads only
    host, note = _host(desk.directory, track.host)
    meeting = meeting_of(desk.conn, lead.id, track.external_id)
    if track.step is MeetingStep.BOOK:
        if meeting is None or track.external_id is None:
            book_meeting(desk, lead, handoff, at=at, cause=cause, source="segment", host=host,
                         starts_at=track.starts_at, external_id=track.external_id, note=note)
        elif at < meeting.booked_at:
            _late_booking(desk, lead, meeting, track, at, cause)
        elif track.starts_at is not None and track.starts_at != meeting.starts_at:
            advance_meeting(desk, lead, handoff, meeting, MeetingStep.RESCHEDULE, at=at, cause=cause,
                            starts_at=track.starts_at)  # booked again for another time: Calendly's reschedule
        else:
            raise InvalidInput(f"meeting {track.external_id} is already {meeting.status.value.replace('_', '-')}")
        return
    if meeting is None:
        if track.step is MeetingStep.CANCEL and track.external_id is None:
            raise InvalidInput("the lead has no booked meeting to cancel (and the event names no meetingId)")
        # The booking never reached LeadRelay (or has not yet): the step stands for it.
        starts = track.starts_at if track.step is MeetingStep.RESCHEDULE else track.starts_at or (
            None if track.step is MeetingStep.CANCEL else at)
        meeting = book_meeting(desk, lead, handoff, at=at, cause=cause, source="segment", host=host,
                               starts_at=starts, external_id=track.external_id,
                               note="booked by this event: the booking itself has not arrived")
        if track.step is MeetingStep.RESCHEDULE:
            return
    advance_meeting(desk, lead, handoff, meeting, track.step, at=at, cause=cause, starts_at=track.starts_at)


def _late_booking(desk: HandoffDesk, lead: Lead, meeting: Meeting, track: MeetingTrack, at: datetime,
                  cause: str) -> None:
    """The booking arrived after the meeting's later steps (which stood in for it): its moment and time count."""
    meeting.booked_at = at
    if meeting.reschedules == 0 and track.starts_at is not None:
        meeting.starts_at = track.starts_at
    save_meeting(desk.conn, meeting, actor=cause, now=desk.now)
    desk.record(ev.MeetingCorrected(at=at, lead_id=lead.id, handoff_id=meeting.handoff_id, cause=cause,
                                    event="booking", reason="the booking arrived after the meeting's later steps: "
                                    "its booking moment and start time are kept"))


def _host(directory: Directory, host: str | None) -> tuple[str | None, str | None]:
    """The rep a scheduler's host names (by id or email), with a note when it names nobody known."""
    if host is None:
        return None, None
    folded = host.casefold()
    for rep in directory.reps.values():
        if rep.id.casefold() == folded or rep.email.casefold() == folded:
            return rep.id, None
    return None, f"host {host!r} is not a rep in the playbook: the lead's owner hosts it"


# --- the steps, inside a transaction -------------------------------------------------------


def book_meeting(desk: HandoffDesk, lead: Lead, handoff: Handoff | None, *, at: datetime, cause: str, source: str,
                 host: str | None = None, starts_at: datetime | None = None, external_id: str | None = None,
                 note: str | None = None) -> Meeting:
    assert lead.id is not None  # every caller read the lead from its row, or stored it
    owner = handoff.owner if handoff is not None and handoff.status.owned else None
    meeting = Meeting(None, lead.id, host or owner, booked_at=at, starts_at=starts_at, source=source,
                      external_id=external_id, handoff_id=handoff.id if handoff else None)
    credit = desk.rules.handoff.meetings.credit.booked
    notes = [note] if note else []
    if credit and meeting.host in desk.directory.reps:
        meeting.credited_to, meeting.credit = meeting.host, credit
        desk.credit(meeting.host, credit)
        notes.append(f"{meeting.host} credited {credit} in round robin")
    insert_meeting(desk.conn, meeting, actor=cause, now=desk.now)
    notes += _follow_up_done(desk, handoff, at)
    _tell(desk, lead, handoff, meeting, MeetingStep.BOOK, at, cause, "; ".join(notes) or None)
    return meeting


def _follow_up_done(desk: HandoffDesk, handoff: Handoff | None, at: datetime) -> list[str]:
    """A booking meets an open no-show follow-up."""
    if handoff is None or not handoff.follow_up_done(at):
        return []
    desk.save(handoff, "follow_up_met_at")
    desk.write_pending()
    desk.cancel_timers(handoff.id, FOLLOW_UP, "met")
    return ["the no-show follow-up is done"]


def _booked_again(desk: HandoffDesk, handoff: Handoff | None, meeting: Meeting, at: datetime) -> list[str]:
    notes = _follow_up_done(desk, handoff, at)
    booked = desk.rules.handoff.meetings.credit.booked
    if booked and not meeting.credit and meeting.credited_to in desk.directory.reps:
        meeting.credit = booked
        desk.credit(meeting.credited_to, booked)
        notes.append(f"{meeting.credited_to} credited {booked} in round robin again")
    return notes


def advance_meeting(desk: HandoffDesk, lead: Lead, handoff: Handoff | None, meeting: Meeting, step: MeetingStep, *,
                    at: datetime, cause: str, starts_at: datetime | None = None) -> None:
    """Reschedule, held, no-show or cancel, with what it means for the handoff."""
    notes = []
    credit = desk.rules.handoff.meetings.credit
    if step is MeetingStep.RESCHEDULE:
        if starts_at is None:
            raise InvalidInput("a reschedule needs the new time")
        missed = meeting.status is MeetingStatus.NO_SHOW
        meeting.reschedule(starts_at, at)
        if missed:  # booked again after a no-show: the follow-up, and the host's credit again
            notes += _booked_again(desk, handoff, meeting, at)
    else:
        meeting.end(step, at)
    if meeting.credit and credit.refunds(step):
        desk.credit(meeting.credited_to, -meeting.credit)
        notes.append(f"{meeting.credited_to}'s round-robin credit taken back")
        meeting.credit = 0
    save_meeting(desk.conn, meeting, actor=cause, now=desk.now)
    owned = handoff is not None and handoff.status.owned and at >= handoff.opened_at
    if step is MeetingStep.HELD and owned:
        assert handoff is not None and handoff.owner is not None  # `owned`: its owner holds it
        record_touch(desk, lead, handoff, rep=meeting.host or handoff.owner, kind="meeting", outcome="held",
                     note=f"meeting {meeting.id}", at=at, cause=cause)
        notes.append("counted as a touch")
    if step is MeetingStep.NO_SHOW and owned:
        assert handoff is not None
        handoff.open_follow_up(at)
        desk.save(handoff, "follow_up_from", "follow_up_met_at")
        desk.start_follow_up(handoff, at)
        desk.write_pending()
        due = handoff.due.get(FOLLOW_UP)
        notes.append(f"{handoff.owner} owes a follow-up" + (f" by {said_at(due)}" if due else ""))
    _tell(desk, lead, handoff, meeting, step, at, cause, "; ".join(notes) or None)


def _tell(desk: HandoffDesk, lead: Lead, handoff: Handoff | None, meeting: Meeting, step: MeetingStep,
          at: datetime, cause: str, note: str | None) -> None:
    assert meeting.id is not None  # stored before it is told
    desk.record(EVENT_CLASSES[step](at=at, lead_id=lead.id, handoff_id=handoff.id if handoff else None, cause=cause,
                                    meeting_id=meeting.id, status=meeting.status.value, host=meeting.host,
                                    starts_at=meeting.starts_at, note=note))
    owner = handoff.owner if handoff is not None and handoff.status.owned else None
    of = f"of {said_at(meeting.starts_at)}" if meeting.starts_at else "(no time given)"
    why = {MeetingStep.BOOK: f"meeting booked for {said_at(meeting.starts_at)}" if meeting.starts_at
           else "meeting booked (no time given)",
           MeetingStep.RESCHEDULE: f"meeting moved to {said_at(meeting.starts_at)}",
           MeetingStep.HELD: f"meeting {of} held",
           MeetingStep.NO_SHOW: f"no-show at the meeting {of}",
           MeetingStep.CANCEL: f"meeting {of} canceled"}[step]
    follow_up = handoff.due.get(FOLLOW_UP) if step is MeetingStep.NO_SHOW and owner and handoff is not None else None
    desk.notice(step.event, lead, at, recipients=desk.people(owner or meeting.host), handoff=handoff,
                why=why + (f": {note}" if note else ""), actor=cause, owner=owner, host=meeting.host,
                meeting=meeting_view(meeting), follow_up_due_at=utc_iso(follow_up) if follow_up else None)


def meeting_view(meeting: Meeting) -> dict[str, Any]:
    return {"id": meeting.id, "lead_id": meeting.lead_id, "status": meeting.status.value, "host": meeting.host,
            "starts_at": utc_iso(meeting.starts_at), "booked_at": utc_iso(meeting.booked_at),
            "ended_at": utc_iso(meeting.ended_at), "reschedules": meeting.reschedules, "source": meeting.source,
            "external_id": meeting.external_id, "credited_to": meeting.credited_to, "credit": meeting.credit}


# --- use cases -----------------------------------------------------------------------------


def book(app: App, ref: str | int, *, actor: str, rep: str | None = None, host: str | None = None,
         starts_at: datetime | None = None, external_id: str | None = None, source: str = "rep",
         at: datetime | None = None) -> dict[str, Any]:
    """Book a meeting with the lead. `rep`: the acting rep, who must own the lead; `host`: the rep who
    meets the lead (default: the owner)."""
    at = when(app, at)
    if host is not None:
        found, _ = _host(app.playbook.rules.handoff.directory, host)
        if found is None:
            raise NotFound(f"no rep '{host}' in the playbook (a rep's id or email)")
        host = found
    with UnitOfWork(app) as uow:
        desk = desk_of(uow)
        lead = load_for_update(uow.conn, ref)
        assert lead.id is not None  # read from its row
        if lead.stage is None:
            raise InvalidInput(f"lead {lead.id} is an anonymous visitor: meetings are for leads LeadRelay knows")
        handoff = _handoff(uow, lead, rep, app)
        if handoff is not None:
            not_before(handoff, at)
        if starts_at is not None:
            plausible(starts_at, at, "starts_at")
        if external_id is not None and meeting_of(uow.conn, lead.id, external_id) is not None:
            raise InvalidInput(f"lead {lead.id} already has meeting {external_id!r}")
        same = next((m for m in lead_meetings(uow.conn, lead.id) if m.status is MeetingStatus.BOOKED
                     and starts_at is not None and m.starts_at == starts_at), None)
        if same is not None:
            raise InvalidInput(f"lead {lead.id} already has meeting {same.id} booked for {utc_iso(starts_at)}")
        meeting = book_meeting(desk, lead, handoff, at=at, cause=actor, source=source, host=host or rep,
                               starts_at=starts_at, external_id=external_id)
        save_lead(uow.conn, lead, uow.now)
        uow.commit()
    return meeting_view(meeting)


def change(app: App, meeting_id: int, step: MeetingStep | str, *, actor: str, rep: str | None = None,
           starts_at: datetime | None = None, at: datetime | None = None) -> dict[str, Any]:
    """Reschedule (to `starts_at`), mark held or no-show, or cancel a meeting."""
    step = MeetingStep(step)
    if step is MeetingStep.BOOK:
        raise InvalidInput("book a meeting on its lead")
    at = when(app, at)
    with UnitOfWork(app) as uow:
        meeting = find_meeting(uow.conn, meeting_id, for_update=True)
        if meeting is None:
            raise NotFound(f"no meeting {meeting_id}")
        lead = load_for_update(uow.conn, meeting.lead_id)
        handoff = _handoff(uow, lead, rep, app)
        if starts_at is not None:
            plausible(starts_at, at, "starts_at")
        advance_meeting(desk_of(uow), lead, handoff, meeting, step, at=at, cause=actor, starts_at=starts_at)
        save_lead(uow.conn, lead, uow.now)
        uow.commit()
    return meeting_view(meeting)


def _handoff(uow: UnitOfWork, lead: Lead, rep: str | None, app: App) -> Handoff | None:
    """The lead's open handoff; a rep acting must own it."""
    assert lead.id is not None  # read from its row
    if rep is not None:
        return open_handoff(uow.conn, lead, rep, app)
    return desk_of(uow).open_handoffs([lead.id]).get(lead.id)


def meetings_of(app: App, ref: str | int) -> list[dict[str, Any]]:
    """The lead's meetings, oldest booking first."""
    with app.engine.connect() as conn:
        return [meeting_view(m) for m in lead_meetings(conn, lead_id_for(conn, ref))]
