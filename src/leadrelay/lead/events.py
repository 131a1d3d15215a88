"""What happens to a lead itself: its stage moved (a domain event, see `leadrelay.core.events`),
and the two messages the lead publishes on the bus (see `leadrelay.core.bus`) so that the
other concepts can react without the lead importing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leadrelay.core.events import DomainEvent
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage, Transition


@dataclass(frozen=True, slots=True, kw_only=True)
class StageChanged(DomainEvent):
    from_stage: str | None
    to_stage: str
    transition: str
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRaised(DomainEvent):
    """An alert rule held for the lead: people were told (see `leadrelay.lead.alerts`)."""

    alert: str
    why: str


@dataclass(frozen=True, slots=True)
class StageMoveProposed:
    """Published before a lead is moved by `move_lead`: a handler that raises refuses the move.

    (The SQL gate is one: no way into SQL without the playbook's bar.)"""

    lead: Lead  # as it stands before the move
    kind: Transition
    target: Stage
    at: datetime
    history: bool = False  # recorded history (an import of deals won long ago), not a live decision


@dataclass(frozen=True, slots=True)
class StagesMoved:
    """Published once stage moves are stored: the handoff opens, closes or retargets, suppresses, notifies."""

    changes: Sequence[StageChange]
