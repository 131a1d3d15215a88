"""Handoffs: when a stage move passes a lead to another team, and what the playbook says happens then.

A `Handoff` is one attempt to pass a lead to another team. Its status says how far the
attempt got, and one table (`TRANSITIONS`) says which step may follow which:

    queued ──assign──▶ assigned ──accept──▶ accepted ──touch──▶ working
       ▲                  │  ▲                 │                   │
       └────unassign──────┘  └────reassign─────┴───────────────────┘
    any open status ──close(outcome)──▶ closed

Reassigning never gives the lead back to a rep it was taken from for missing a deadline
(`excluded`), unless the playbook says so for that step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from leadrelay.core.errors import InvalidTransition
from leadrelay.core.time import utc_iso
from leadrelay.handoff.meetings import MeetingRules
from leadrelay.handoff.routing import Directory
from leadrelay.handoff.sla import Policy
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.rules import Predicate, may_match
from leadrelay.lead.stages import Stage, Transition

MARKETING = "marketing"


class HandoffStatus(str, Enum):
    QUEUED = "queued"  # waiting in a team's queue for a rep who can take it
    ASSIGNED = "assigned"  # a rep has it and has not accepted it yet
    ACCEPTED = "accepted"  # the rep accepted it, no touch yet
    WORKING = "working"  # at least one touch logged
    CLOSED = "closed"  # ended, with an outcome

    @property
    def is_open(self) -> bool:
        return self is not HandoffStatus.CLOSED

    @property
    def owned(self) -> bool:
        """A rep holds the lead (it counts toward the rep's open leads)."""
        return self in OWNED


OWNED = frozenset({HandoffStatus.ASSIGNED, HandoffStatus.ACCEPTED, HandoffStatus.WORKING})
OPEN = frozenset(OWNED | {HandoffStatus.QUEUED})
OWNED_STATUSES = tuple(sorted(status.value for status in OWNED))  # for queries
OPEN_STATUSES = tuple(sorted(status.value for status in OPEN))


class HandoffOutcome(str, Enum):
    ADVANCED = "advanced"  # the lead moved on to the next team's stage
    REJECTED = "rejected"  # sales refused it (a person, or an SLA's return to marketing)
    RECYCLED = "recycled"  # back to nurture
    DISQUALIFIED = "disqualified"
    RETURNED = "returned"  # the record of a lead handed back to marketing
    CONVERTED = "converted"  # an expansion became a deal
    MERGED = "merged"  # its lead merged into another that had an open handoff of its own: that one carries on
    ERASED = "erased"  # the person was erased on request: nobody works a lead with nothing left to reach


class Step(str, Enum):
    """What can happen to a handoff; `TRANSITIONS` says from which status, and to which."""

    ASSIGN = "assign"
    UNASSIGN = "unassign"
    ACCEPT = "accept"
    TOUCH = "touch"
    CLOSE = "close"


_Q, _A, _C, _W = HandoffStatus.QUEUED, HandoffStatus.ASSIGNED, HandoffStatus.ACCEPTED, HandoffStatus.WORKING
TRANSITIONS: Mapping[tuple[HandoffStatus, Step], HandoffStatus | None] = {
    # None: the status follows from the handoff's progress (a reassigned lead keeps what was done on it)
    (_Q, Step.ASSIGN): None, (_A, Step.ASSIGN): None, (_C, Step.ASSIGN): None, (_W, Step.ASSIGN): None,
    (_A, Step.UNASSIGN): _Q, (_C, Step.UNASSIGN): _Q, (_W, Step.UNASSIGN): _Q,
    (_A, Step.ACCEPT): _C, (_W, Step.ACCEPT): _W,  # a rep may call first and accept after
    (_A, Step.TOUCH): _W, (_C, Step.TOUCH): _W, (_W, Step.TOUCH): _W,
    **{(status, Step.CLOSE): HandoffStatus.CLOSED for status in OPEN},
}


@dataclass(slots=True)
class Handoff:
    """One attempt to pass a lead to another team: who has it, how far it got, and its deadlines."""

    id: int
    lead_id: int
    kind: str  # mql | hand_raise | sal | sql | customer | expansion | recycle | reject
    from_function: str
    to_function: str
    opened_at: datetime
    status: HandoffStatus = HandoffStatus.QUEUED
    team: str | None = None
    owner: str | None = None
    outcome: HandoffOutcome | None = None
    reason: str | None = None
    policy_id: str | None = None
    assigned_at: datetime | None = None
    accepted_at: datetime | None = None
    first_touch_at: datetime | None = None
    last_touch_at: datetime | None = None
    touches: int = 0
    touches_required: int | None = None
    due: dict[str, datetime] = field(default_factory=dict)  # clock name -> deadline
    closed_at: datetime | None = None
    reassignments: int = 0  # by SLA rules
    excluded: tuple[str, ...] = ()  # reps it must not go back to
    quiet_until: datetime | None = None  # loaded history: deadlines up to here are recorded, never alerted
    follow_up_from: datetime | None = None  # a meeting no-show opened the follow-up task then
    follow_up_met_at: datetime | None = None  # the owner followed up (a touch or a new booking)

    def _step(self, step: Step) -> HandoffStatus | None:
        if (self.status, step) not in TRANSITIONS:
            raise InvalidTransition(f"handoff {self.id} is {self.status.value}: cannot {step.value} it")
        return TRANSITIONS[(self.status, step)]

    def _to(self, step: Step) -> HandoffStatus:
        """The status `step` leads to (every step but assign names one in `TRANSITIONS`)."""
        status = self._step(step)
        assert status is not None, f"{step.value} names no status"
        return status

    def _progress(self) -> HandoffStatus:
        if self.touches:
            return HandoffStatus.WORKING
        return HandoffStatus.ACCEPTED if self.accepted_at is not None else HandoffStatus.ASSIGNED

    def assign(self, owner: str, team: str | None, at: datetime) -> None:
        """Give the handoff to `owner` (from the queue, or from another rep)."""
        self._step(Step.ASSIGN)
        self.owner, self.team, self.assigned_at = owner, team, at
        self.status = self._progress()

    def unassign(self, team: str | None) -> None:
        """Back into the team's queue: nobody can take it now."""
        self.status = self._to(Step.UNASSIGN)
        self.owner, self.team = None, team

    def queue(self, team: str | None) -> None:
        """Wait in the team's queue (a new handoff nobody can take, or one taken from its owner)."""
        if self.status.owned:
            self.unassign(team)
        elif self.status is HandoffStatus.QUEUED:
            self.team = team
        else:
            self._step(Step.UNASSIGN)

    def accept(self, at: datetime) -> None:
        if self.accepted_at is not None:
            raise InvalidTransition(f"lead {self.lead_id} was already accepted at {utc_iso(self.accepted_at)}")
        self.status = self._to(Step.ACCEPT)
        self.accepted_at = at

    def touch(self, at: datetime) -> None:
        """A call, email or meeting by the owner."""
        self.status = self._to(Step.TOUCH)
        self.touches += 1
        self.first_touch_at = min(self.first_touch_at or at, at)
        self.last_touch_at = max(self.last_touch_at or at, at)

    def open_follow_up(self, at: datetime) -> None:
        """A meeting no-show: the owner owes the lead a follow-up (a touch or a new booking)."""
        self.follow_up_from, self.follow_up_met_at = at, None

    def follow_up_done(self, at: datetime) -> bool:
        """A touch or a booking at `at`: it meets an open follow-up task made before it. True if it did."""
        if self.follow_up_from is None or self.follow_up_met_at is not None or at < self.follow_up_from:
            return False
        self.follow_up_met_at = at
        return True

    def close(self, outcome: HandoffOutcome, reason: str | None, at: datetime) -> None:
        self.status = self._to(Step.CLOSE)
        self.outcome, self.reason, self.closed_at = outcome, reason, at

    def exclude(self, rep: str) -> None:
        """Never route this handoff back to `rep` (they missed its deadline)."""
        if rep not in self.excluded:
            self.excluded = (*self.excluded, rep)

    def met_at(self, clock: str) -> datetime | None:
        """When the owner met the deadline of `clock` (accept, first_touch, touches, follow_up), if they did."""
        if clock == "accept":
            return self.accepted_at
        if clock == "first_touch":
            return self.first_touch_at
        if clock == "follow_up":
            return self.follow_up_met_at
        return self.last_touch_at if self.touches >= (self.touches_required or 0) else None

    def quiet_at(self, moment: datetime) -> bool:
        """True for a moment inside loaded history: record what happens then, tell nobody."""
        return self.quiet_until is not None and moment <= self.quiet_until


@dataclass(frozen=True, slots=True)
class PermanentSuppression:
    id: str
    when: Predicate
    channel: str
    reason: str
    types: frozenset[str] | None = None  # activity types it can match (None: any)
    events: frozenset[str] | None = None  # case-folded track events it can match (None: any)

    def may_match(self, kind: str, event: str | None) -> bool:
        return may_match(self.types, self.events, kind, event)


@dataclass(frozen=True)
class HandoffRules:
    """The handoff half of the playbook, compiled."""

    directory: Directory
    policies: Mapping[str, Policy] = field(default_factory=dict)  # handoff kind -> policy
    mqls_per_month: int | None = None
    stale_after: timedelta | None = None
    stale_recycle: bool = False
    stale_reason: str = "no_response"
    suppress_while_sales: tuple[str, ...] = ("email",)
    permanent: tuple[PermanentSuppression, ...] = ()
    meetings: MeetingRules = field(default_factory=MeetingRules)


@dataclass(frozen=True, slots=True)
class HandoffNeed:
    """What a stage move means for handoffs."""

    kind: str | None  # the handoff to open (None: none)
    close: HandoffOutcome | None  # the outcome to close the open handoff with (None: keep it open)
    to_function: str
    from_function: str


def handoff_need(change: StageChange, owners: Mapping[Stage, str]) -> HandoffNeed:
    """Open, close or keep: decided from the stage owners before and after the move."""
    before = owners.get(change.from_stage, MARKETING) if change.from_stage else MARKETING
    if change.to_stage is Stage.DISQUALIFIED:
        return HandoffNeed(None, HandoffOutcome.DISQUALIFIED, MARKETING, before)
    after = owners.get(change.to_stage, MARKETING)
    if change.transition in (Transition.RECYCLE, Transition.REJECT):
        outcome = HandoffOutcome.RECYCLED if change.transition is Transition.RECYCLE else HandoffOutcome.REJECTED
        return HandoffNeed(change.transition.value, outcome, MARKETING, before)
    if change.transition is Transition.HAND_RAISE:
        # A hand-raiser always gets the hand-raiser clock, even if sales already has the lead.
        return HandoffNeed("hand_raise", None if before == after else HandoffOutcome.ADVANCED, after, before)
    if before == after:
        return HandoffNeed(None, None, after, before)
    kind = change.to_stage.value
    return HandoffNeed(kind, HandoffOutcome.ADVANCED if before != MARKETING else None, after, before)
