"""SLA policies: the deadlines a handoff gets, and the timers that warn, breach and escalate.

A policy gives deadlines (accept, first touch, N touches) measured on the owner's
business calendar or on the wall clock. Each deadline becomes stored timer rows: a
warning before it, the breach at it, then the escalation ladder after it. Meeting the
deadline cancels its timers; a worker fires the ones that come due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from leadrelay.domain.calendar import BusinessCalendar, deadline

ACCEPT, FIRST_TOUCH, TOUCHES = "accept", "first_touch", "touches"
WARNING, BREACH, ESCALATION = "warning", "breach", "escalation"


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    kind: str  # which handoffs: mql, hand_raise, sal, sql, expansion
    business: bool  # business calendar (True) or wall clock
    accept: timedelta | None = None
    first_touch: timedelta | None = None
    touches: tuple[int, timedelta] | None = None  # (count, within)
    warn_before: timedelta | None = None
    escalation: tuple[tuple[timedelta, str], ...] = ()  # (after the breach, action)


@dataclass(frozen=True, slots=True)
class Timer:
    """One stored moment at which the worker acts on a deadline."""

    deadline: str  # accept | first_touch | touches
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


def escalation_timers(policy: Policy, name: str, due: datetime, calendar: BusinessCalendar | None) -> list[Timer]:
    """Each escalation step after a breached deadline, on the policy's clock."""
    clock = calendar if policy.business else None
    return [Timer(name, ESCALATION, index, deadline(due, after, clock) if after else due, action)
            for index, (after, action) in enumerate(policy.escalation, start=1)]


def plan(policy: Policy, start: datetime, calendar: BusinessCalendar | None) -> tuple[dict[str, datetime], list[Timer]]:
    """Deadlines, with their warning and breach timers, for a handoff starting at `start`."""
    due = deadlines(policy, start, calendar)
    return due, [timer for name, at in due.items() for timer in timers_for(policy, name, at, start, calendar)]
