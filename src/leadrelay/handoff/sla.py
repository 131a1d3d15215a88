"""SLA policies: the deadlines a handoff gets, and the timers that warn, breach and escalate.

A policy gives deadlines — clocks — (accept, first touch, N touches, and the follow-up a
meeting no-show starts) measured on the owner's business calendar or on the wall clock.
Each clock becomes stored timer rows: a warning before it, the breach at it, then the clock's
own escalation ladder after it. Meeting the deadline cancels its timers; a worker fires the
ones that come due.

Each clock has its own ladder, and a ladder runs to its end: a `reassign` step gives the
lead to someone else and hands them the remaining steps (re-timed on their calendar), so
a later `return_to_marketing` still happens. Only a reassign marked `restart_clock`
starts the clock afresh for the new owner (the whole ladder again), and then the policy's
`max_reassignments` caps how often: past the cap the reassign is skipped and the steps
after it run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadrelay.core.time import said_at
from leadrelay.handoff.calendar import BusinessCalendar, deadline

ACCEPT, FIRST_TOUCH, TOUCHES, FOLLOW_UP = "accept", "first_touch", "touches", "follow_up"
CLOCKS = (ACCEPT, FIRST_TOUCH, TOUCHES)  # started when a rep gets the lead
ALL_CLOCKS = (*CLOCKS, FOLLOW_UP)  # the follow-up clock starts at a meeting no-show
WARNING, BREACH, ESCALATION = "warning", "breach", "escalation"
NOTIFY_REP, NOTIFY_MANAGER, REASSIGN, RETURN_TO_MARKETING = (
    "notify_rep", "notify_manager", "reassign", "return_to_marketing")
MOVES_THE_LEAD = frozenset({REASSIGN, RETURN_TO_MARKETING})


@dataclass(frozen=True, slots=True)
class Rung:
    """One escalation step: `action` this long after the clock's deadline."""

    after: timedelta
    action: str  # notify_rep | notify_manager | reassign | return_to_marketing
    restart_clock: bool = False  # reassign only: the new owner gets a fresh deadline and the whole ladder
    to_same_rep: bool = False  # reassign only: the rep who missed the deadline may get it back


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    kind: str  # which handoffs: mql, hand_raise, sal, sql, expansion
    business: bool  # business calendar (True) or wall clock
    accept: timedelta | None = None
    first_touch: timedelta | None = None
    touches: tuple[int, timedelta] | None = None  # (count, within)
    warn_before: timedelta | None = None
    ladders: dict[str, tuple[Rung, ...]] = field(default_factory=dict)  # clock -> its escalation ladder
    max_reassignments: int | None = None  # SLA reassignments per handoff (None: no cap)
    shared_ladder: bool = False  # one ladder for the accept and first-touch clocks: it runs once per handoff
    follow_up: timedelta | None = None  # after a meeting no-show: touch the lead or book again within this long

    def window(self, clock: str) -> timedelta | None:
        """How long the clock runs: accept_within, first_touch_within or the touches' `within` (None: not at all)."""
        return {ACCEPT: self.accept, FIRST_TOUCH: self.first_touch, FOLLOW_UP: self.follow_up,
                TOUCHES: self.touches[1] if self.touches else None}[clock]

    def rung(self, clock: str, index: int) -> Rung | None:
        """Step `index` (from 1) of the clock's ladder."""
        ladder = self.ladders.get(clock, ())
        return ladder[index - 1] if 0 < index <= len(ladder) else None


@dataclass(frozen=True, slots=True)
class Timer:
    """One stored moment at which the worker acts on a deadline."""

    deadline: str  # accept | first_touch | touches | follow_up
    step: str  # warning | breach | escalation
    index: int  # escalation step number (0 for warning and breach)
    fire_at: datetime
    action: str | None = None  # the escalation action


def deadlines(policy: Policy, start: datetime, calendar: BusinessCalendar | None) -> dict[str, datetime]:
    """When each of the policy's deadlines falls for a handoff opened (or reassigned) at `start`."""
    clock = calendar if policy.business else None
    due: dict[str, datetime] = {}
    if policy.accept is not None:
        due[ACCEPT] = deadline(start, policy.accept, clock)
    if policy.first_touch is not None:
        due[FIRST_TOUCH] = deadline(start, policy.first_touch, clock)
    if policy.touches is not None:
        # "3 touches in the first week" counts calendar days, whatever the policy's clock.
        due[TOUCHES] = deadline(start, policy.touches[1], None)
    return due


def timers_for(policy: Policy, name: str, due: datetime, start: datetime,
               calendar: BusinessCalendar | None) -> list[Timer]:
    """The warning (if the policy warns and there is time to) and the breach of one deadline.

    The escalation ladder is planned when the breach fires (`escalation_timers`): most
    deadlines are met, and their ladders would only be rows to cancel.
    """
    clock = calendar if policy.business else None
    out = []
    if policy.warn_before is not None:
        warn_at = clock.subtract(due, policy.warn_before) if clock else due - policy.warn_before
        if warn_at > start:
            out.append(Timer(name, WARNING, 0, warn_at))
    out.append(Timer(name, BREACH, 0, due))
    return out


def escalation_timers(policy: Policy, name: str, due: datetime, calendar: BusinessCalendar | None, *,
                      after_index: int = 0) -> list[Timer]:
    """The steps of clock `name`'s ladder after a breached deadline (those after `after_index`),
    on the policy's clock and `calendar` (the owner's)."""
    clock = calendar if policy.business else None
    return [Timer(name, ESCALATION, index, deadline(due, rung.after, clock) if rung.after else due, rung.action)
            for index, rung in enumerate(policy.ladders.get(name, ()), start=1) if index > after_index]


@dataclass(frozen=True, slots=True)
class Fired:
    """One step a worker applied, as catching up judges whether to tell anyone about it."""

    fire_at: datetime
    step: str  # warning | breach | escalation
    deadline: str
    action: str | None = None
    moved: bool = False  # it took the lead from its owner (reassigned, returned)


def not_news(fired: list[Fired]) -> dict[int, str]:
    """Which of the steps applied in one catch-up (in the order applied) nobody should hear about, and why.

    A step is old news when a strictly later step, also applied now, moved the lead: the rep
    who got it at 10:15 needs no email about a lead that went back to marketing at 10:35. A
    warning is old news when its deadline's breach was applied too.
    """
    moves = [n for n, step in enumerate(fired) if step.moved]
    breached = {step.deadline for step in fired if step.step == BREACH}
    out: dict[int, str] = {}
    for n, step in enumerate(fired):
        later = [m for m in moves if m > n and fired[m].fire_at > step.fire_at]
        if later:
            last = fired[later[-1]]
            out[n] = f"overtaken by {last.action} at {said_at(last.fire_at)}"
        elif step.step == WARNING and step.deadline in breached:
            out[n] = "the breach is due too"
    return out


def restart(policy: Policy, name: str, start: datetime,
            calendar: BusinessCalendar | None) -> tuple[datetime, list[Timer]]:
    """A fresh deadline for clock `name` from `start` (a reassign that restarts the clock), with its timers."""
    window = policy.window(name)
    assert window is not None, f"policy {policy.id} runs no {name} clock"  # callers restart only clocks it runs
    due = deadline(start, window, (calendar if policy.business else None) if name != TOUCHES else None)
    return due, timers_for(policy, name, due, start, calendar)


def plan(policy: Policy, start: datetime, calendar: BusinessCalendar | None) -> tuple[dict[str, datetime], list[Timer]]:
    """Deadlines, with their warning and breach timers, for a handoff starting at `start`."""
    due = deadlines(policy, start, calendar)
    return due, [timer for name, at in due.items() for timer in timers_for(policy, name, at, start, calendar)]
