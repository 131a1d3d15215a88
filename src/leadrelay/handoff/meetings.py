"""Meetings: booked, rescheduled, held, no-show or canceled — and what each does to the handoff.

A `Meeting` is one call on a calendar between a lead and a rep (its host). It comes from
a rep or the API, or from a scheduler's Segment tracks (`Meeting Booked`, ...). One table
(`TRANSITIONS`) says which step may follow which:

    booked ──reschedule──▶ booked (new time)
    booked ──held──▶ held        booked ──no_show──▶ no_show        booked ──cancel──▶ canceled
    no_show ──reschedule──▶ booked (the lead books the missed meeting again)

What each step means is the playbook's (`MeetingRules`):

- a booked or held meeting in the current sales cycle counts as "meeting booked" for the
  SQL gate; a no-show or a cancellation does not;
- a held meeting is a touch: it meets the first-touch clock;
- a no-show opens the follow-up task, a clock of the SLA policy (`follow_up_within`) that a
  touch or a new booking meets;
- a booked meeting credits its host in round robin (`credit.booked` assignments' worth),
  taken back on a no-show or a cancellation when the playbook says so, and moved to the
  new owner when the lead is reassigned before the meeting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from leadrelay.core.errors import InvalidInput, InvalidTransition
from leadrelay.core.time import utc_iso


class MeetingStatus(str, Enum):
    BOOKED = "booked"
    HELD = "held"
    NO_SHOW = "no_show"
    CANCELED = "canceled"

    @property
    def counts_as_booked(self) -> bool:
        """For the SQL gate's "meeting booked"."""
        return self in (MeetingStatus.BOOKED, MeetingStatus.HELD)


class MeetingStep(str, Enum):
    BOOK = "book"
    RESCHEDULE = "reschedule"
    HELD = "held"
    NO_SHOW = "no_show"
    CANCEL = "cancel"

    @property
    def doing(self) -> str:
        """What the step does to a meeting, in words: "reschedule it", "mark it held", ..."""
        return {"book": "book it", "reschedule": "reschedule it", "held": "mark it held",
                "no_show": "mark it a no-show", "cancel": "cancel it"}[self.value]

    @property
    def event(self) -> str:
        """The notice type it sends: meeting.booked, meeting.rescheduled, meeting.held, ..."""
        return "meeting." + {"book": "booked", "reschedule": "rescheduled", "cancel": "canceled"}.get(
            self.value, self.value)


_B = MeetingStatus.BOOKED
TRANSITIONS: Mapping[tuple[MeetingStatus, MeetingStep], MeetingStatus] = {
    (_B, MeetingStep.RESCHEDULE): _B,
    (MeetingStatus.NO_SHOW, MeetingStep.RESCHEDULE): _B,
    (_B, MeetingStep.HELD): MeetingStatus.HELD,
    (_B, MeetingStep.NO_SHOW): MeetingStatus.NO_SHOW,
    (_B, MeetingStep.CANCEL): MeetingStatus.CANCELED,
}
STEPS = tuple(step.value for step in MeetingStep)


@dataclass(slots=True)
class Meeting:
    id: int | None
    lead_id: int
    host: str | None  # the rep who meets the lead
    booked_at: datetime
    starts_at: datetime | None  # None: booked without a time (a rep's "meeting booked" touch)
    status: MeetingStatus = MeetingStatus.BOOKED
    source: str = "rep"  # rep | api | segment
    external_id: str | None = None  # the scheduler's id for it
    handoff_id: int | None = None
    reschedules: int = 0
    credited_to: str | None = None  # the rep round robin credits for it
    credit: int = 0
    ended_at: datetime | None = None  # held, no-show or canceled at

    def _step(self, step: MeetingStep, at: datetime) -> MeetingStatus:
        after = TRANSITIONS.get((self.status, step))
        if after is None:
            raise InvalidTransition(f"meeting {self.id} is {self.status.value.replace('_', '-')}: "
                                    f"cannot {step.doing}")
        if at < self.booked_at:
            raise InvalidInput(f"meeting {self.id} was booked at {utc_iso(self.booked_at)}: cannot {step.doing} "
                               f"at {utc_iso(at)}, before that")
        return after

    def reschedule(self, starts_at: datetime, at: datetime) -> None:
        """A new time; a missed meeting booked again is booked once more."""
        self.status = self._step(MeetingStep.RESCHEDULE, at)
        self.starts_at, self.reschedules, self.ended_at = starts_at, self.reschedules + 1, None

    def end(self, step: MeetingStep, at: datetime) -> None:
        """Held, no-show or canceled at `at`. A meeting is only held or missed once its time has come."""
        after = self._step(step, at)
        if step in (MeetingStep.HELD, MeetingStep.NO_SHOW) and self.starts_at is not None and at < self.starts_at:
            raise InvalidInput(f"meeting {self.id} starts at {utc_iso(self.starts_at)}: it cannot be "
                               f"{after.value.replace('_', '-')} at {utc_iso(at)}")
        self.status, self.ended_at = after, at


@dataclass(frozen=True, slots=True)
class Credit:
    """Round-robin credit for booked meetings (in assignments)."""

    booked: int = 0  # what a booked meeting adds to its host's round-robin count (0: meetings do not count)
    no_show: str = "refund"  # keep | refund
    canceled: str = "refund"  # keep | refund
    reassigned: str = "move"  # move | keep: a meeting still to come when the lead is reassigned

    def refunds(self, step: MeetingStep) -> bool:
        return (step is MeetingStep.NO_SHOW and self.no_show == "refund") or \
            (step is MeetingStep.CANCEL and self.canceled == "refund")


DEFAULT_EVENTS: Mapping[str, tuple[str, ...]] = {
    "book": ("Meeting Booked", "Meeting Scheduled"),
    "reschedule": ("Meeting Rescheduled",),
    "held": ("Meeting Held", "Meeting Completed"),
    "no_show": ("Meeting No Show", "Meeting No-Show", "Meeting Missed"),
    "cancel": ("Meeting Canceled", "Meeting Cancelled"),
}


@dataclass(frozen=True)
class MeetingRules:
    """The playbook's `meetings:`: the Segment tracks that mean each step, and round-robin credit."""

    events: Mapping[str, MeetingStep] = field(default_factory=lambda: {
        name.casefold(): MeetingStep(step) for step, names in DEFAULT_EVENTS.items() for name in names})
    credit: Credit = Credit()

    def step_of(self, event: str | None) -> MeetingStep | None:
        """The meeting step a track event means (case-insensitive), if any."""
        return self.events.get(event.casefold()) if event else None
