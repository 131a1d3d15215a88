"""Handoffs: when a stage move passes a lead to another team, and what the playbook says happens then."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from leadrelay.domain.lifecycle import StageChange
from leadrelay.domain.routing import Directory
from leadrelay.domain.rules import Predicate, may_match
from leadrelay.domain.sla import Policy
from leadrelay.domain.stages import Stage, Transition

MARKETING = "marketing"


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


@dataclass(frozen=True, slots=True)
class HandoffNeed:
    """What a stage move means for handoffs."""

    kind: str | None  # the handoff to open (None: none)
    close: str | None  # the outcome to close the open handoff with (None: keep it open)
    to_function: str
    from_function: str


def handoff_need(change: StageChange, owners: Mapping[Stage, str]) -> HandoffNeed:
    """Open, close or keep: decided from the stage owners before and after the move."""
    before = owners.get(change.from_stage, MARKETING) if change.from_stage else MARKETING
    if change.to_stage is Stage.DISQUALIFIED:
        return HandoffNeed(None, "disqualified", MARKETING, before)
    after = owners.get(change.to_stage, MARKETING)
    if change.transition in (Transition.RECYCLE, Transition.REJECT):
        outcome = "recycled" if change.transition is Transition.RECYCLE else "rejected"
        return HandoffNeed(change.transition.value, outcome, MARKETING, before)
    if change.transition is Transition.HAND_RAISE:
        # A hand-raiser always gets the hand-raiser clock, even if sales already has the lead.
        return HandoffNeed("hand_raise", None if before == after else "advanced", after, before)
    if before == after:
        return HandoffNeed(None, None, after, before)
    kind = change.to_stage.value
    return HandoffNeed(kind, "advanced" if before != MARKETING else None, after, before)
