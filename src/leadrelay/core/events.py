"""Domain events: what the engine decided, in the past tense, with its cause.

An *activity* is something a lead did (what the sources send); a *domain event* is
something the engine or a person decided about it: a stage move, a handoff opened, a lead
assigned or queued, an SLA warned, breached or escalated. Each is stored in an
append-only log (`domain_events`) with its cause — the rule, person or activity behind it
— and the reports read that log. `quiet` marks events recorded while loading history:
they happened, but nobody was told.

Standard library only; time comes in as an argument.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

_BASE = {"at", "lead_id", "cause", "handoff_id"}
_OWN: dict[type, tuple[str, ...]] = {}  # event class -> its own field names


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    at: datetime  # when it happened (event time, not when it was processed)
    lead_id: int | None
    cause: str  # "rule:sla.mql_acceptance", "user:alice", "rule:stage.mql.entry", ...
    handoff_id: int | None = None

    @property
    def type(self) -> str:
        return type(self).__name__

    def data(self) -> dict[str, Any]:
        """The event's own fields, JSON-able."""
        names = _OWN.get(type(self))
        if names is None:
            names = _OWN[type(self)] = tuple(f.name for f in fields(self) if f.name not in _BASE)
        out = {}
        for name in names:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def as_dict(event: DomainEvent) -> dict[str, Any]:
    """The whole event, for tests and debugging."""
    return {"type": event.type} | asdict(event)
