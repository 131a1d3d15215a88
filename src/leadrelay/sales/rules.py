"""The sales half of the playbook as the engine sees it: framework, SQL gate, PQL and expansion signals, deals."""

from __future__ import annotations

from dataclasses import dataclass

from leadrelay.lead.rules import Predicate, may_match
from leadrelay.sales.frameworks import Framework, Gate
from leadrelay.sales.model import DealRules


@dataclass(frozen=True, slots=True)
class Signal:
    """An activity condition (a product signal, a buying signal) with its rule id."""

    id: str
    when: Predicate
    types: frozenset[str] | None = None  # activity types it can match (None: any): a cheap pre-filter
    events: frozenset[str] | None = None  # case-folded track names it can match (None: any)

    def may_match(self, kind: str, event: str | None) -> bool:
        return may_match(self.types, self.events, kind, event)


@dataclass(frozen=True)
class SalesRules:
    framework: Framework
    gate: Gate
    deals: DealRules
    pql_signals: tuple[Signal, ...] = ()
    pql_require: str = "all"  # all | any of the signals, each seen at least once
    expansion_signals: tuple[Signal, ...] = ()
    expansion_cooldown_days: float | None = None

    @property
    def watches_activities(self) -> bool:
        """Whether ingestion has anything to check for sales (PQL or expansion signals)."""
        return bool(self.pql_signals or self.expansion_signals)
