"""What the handoff decided: opened, assigned, queued, accepted, touched, warned, breached,
escalated, stale, closed; suppressions set and lifted. See `leadrelay.core.events`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadrelay.core.events import DomainEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffOpened(DomainEvent):
    kind: str
    from_function: str
    to_function: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadAssigned(DomainEvent):
    owner: str
    team: str | None
    rule: str | None
    reason: str
    previous_owner: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadQueued(DomainEvent):
    team: str | None
    reason: str
    previous_owner: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffAccepted(DomainEvent):
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TouchLogged(DomainEvent):
    owner: str
    kind: str
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaWarned(DomainEvent):
    clock: str
    due_at: datetime
    owner: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaBreached(DomainEvent):
    clock: str
    due_at: datetime
    owner: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Escalated(DomainEvent):
    clock: str
    step: int
    action: str
    result: str  # what the step did: "notified", "reassigned to ben", "queued", "skipped: cap reached", ...
    owner: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffStale(DomainEvent):
    owner: str | None
    last_touch_at: datetime
    recycled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffClosed(DomainEvent):
    outcome: str
    reason: str | None
    owner: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppressed(DomainEvent):
    channel: str
    reason: str
    permanent: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SuppressionLifted(DomainEvent):
    channels: list[str]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingChanged(DomainEvent):
    """A meeting's step; the subclass names it (reports read `MeetingNoShow`)."""

    meeting_id: int
    status: str
    host: str | None
    starts_at: datetime | None
    note: str | None = None  # what the step did beyond the meeting (a touch, the follow-up task, credit)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingBooked(MeetingChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingRescheduled(MeetingChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingHeld(MeetingChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingNoShow(MeetingChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingCanceled(MeetingChanged):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingCorrected(DomainEvent):
    """A scheduler's event that corrected a meeting rather than moving it on (a booking that arrived late)."""

    event: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingIgnored(DomainEvent):
    """A scheduler's meeting event that could not apply (a step the meeting is past), with why."""

    event: str
    reason: str
