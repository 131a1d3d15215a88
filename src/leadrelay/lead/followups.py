"""Absence timers: "did X but not Y within N". A lead who opened the demo form and did not send it within 30
minutes gets a follow-up; a trial started with no key feature used within 7 days, the same.

A playbook follow-up names what starts its timer (`after`), what cancels it (`unless`) and
how long to wait (`within`). The engine starts a timer when a known lead does X and none is
running, and cancels it when the lead does Y before it is due; the worker fires the timers
that came due (`followup.due` through the outbox, once). Only activities decided now start
or cancel timers, never replayed history. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadrelay.lead.model import Lead
from leadrelay.lead.rules import Followup


@dataclass(frozen=True, slots=True)
class FollowupStarted:
    lead: Lead
    rule: Followup
    at: datetime
    due_at: datetime
    activity: Any = None


@dataclass(frozen=True, slots=True)
class FollowupCancelled:
    lead: Lead
    rule: Followup
    at: datetime
    activity: Any = None


def check_followups(lead: Lead, rules: tuple[Followup, ...], fields: Mapping[str, Any], at: datetime,
                    activity: Any, out: list[FollowupStarted | FollowupCancelled], *, start: bool = True) -> None:
    """Cancel the running timers this activity answers; start those it sets off (one per follow-up at a time).

    `start=False`: answer only. A replayed activity that comes after a late one in time (a demo request stored
    before the form view that arrived after it) answers the wait the late one started; it starts none itself.
    """
    ts = at.timestamp()
    for rule in rules:
        timer = lead.followups.get(rule.id)
        if _running(timer, ts) and rule.unless(fields):
            del lead.followups[rule.id]
            out.append(FollowupCancelled(lead, rule, at, activity))
        elif start and (timer is None or ts >= timer[1]) and rule.after(fields) and not rule.unless(fields):
            due = ts + rule.within_seconds
            lead.followups[rule.id] = [ts, due]
            out.append(FollowupStarted(lead, rule, at, datetime.fromtimestamp(due, UTC), activity))


def drop_followups(lead: Lead, rules: tuple[Followup, ...], at: datetime, activity: Any,
                   out: list[FollowupStarted | FollowupCancelled]) -> None:
    """Cancel every running timer: the lead was disqualified (nobody follows up a competitor)."""
    ts = at.timestamp()
    for rule in rules:
        if _running(lead.followups.get(rule.id), ts):
            del lead.followups[rule.id]
            out.append(FollowupCancelled(lead, rule, at, activity))


def _running(timer: list[float] | None, ts: float) -> bool:
    """Whether a lead's timer ([started, due], epoch seconds) is waiting at `ts`."""
    return timer is not None and timer[0] <= ts < timer[1]
