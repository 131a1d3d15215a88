"""The predictive score's domain: what the playbook allows it, the outcomes it learns from, and the rows it reads.

Pure: standard library only. A lead's *outcome* is whether it converted; its *scored_at* is
the moment it was judged — when it first became an MQL or went to sales, or the outcome
itself when it never did — and its features are only what was known then (`predict.features`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Traits that name or reach a person rather than describe a buyer: never features.
IDENTITY_TRAITS = frozenset({
    "email", "name", "first_name", "firstname", "last_name", "lastname", "phone", "mobile", "address", "street",
    "username", "user_id", "userid", "id", "avatar", "birthday", "website", "linkedin", "twitter",
})

# The least a playbook may ask for: below this, cross-validation has too few of a class in a fold to mean anything.
FLOOR_PER_CLASS = 20


@dataclass(frozen=True)
class PredictRules:
    """The playbook's `predict:` section, compiled."""

    exclude: frozenset[str] = frozenset()  # traits filled in during sales follow-up (they leak the outcome)
    min_outcomes: int = 500
    min_per_class: int = 100
    retrain_every_seconds: float | None = None
    horizon_seconds: float | None = None  # judged this long ago and nothing yet: counts as not converted
    in_conditions: bool = False  # conditions may read `predicted`

    def excluded(self, trait: str) -> bool:
        low = trait.casefold()
        return low in IDENTITY_TRAITS or low in self.exclude

    def shortfall(self, outcomes: int, converted: int) -> str | None:
        """Why this many outcomes are not enough to train on, or None when they are."""
        others = outcomes - converted
        if outcomes >= self.min_outcomes and min(converted, others) >= self.min_per_class:
            return None
        return (f"needs at least {self.min_outcomes} leads with a known outcome and {self.min_per_class} of each "
                f"kind (converted and not); the store has {outcomes} ({converted} converted, {others} not). "
                f"Outcomes come from won and lost deals, customers, leads sales rejected or recycled after "
                f"working them, `leadrelay import --outcome COLUMN`, and `predict.horizon`; `predict.min_outcomes` and "
                f"`predict.min_per_class` in the playbook set the bar")


@dataclass(frozen=True)
class Outcome:
    """Whether a lead converted, what said so, and when it was decided and judged."""

    lead_id: int
    converted: bool
    because: str  # import | won | customer | lost | rejected | recycled | horizon
    decided_at: datetime
    scored_at: datetime  # features are what was known up to here


@dataclass(frozen=True)
class Seen:
    """One stored activity as the features read it."""

    type: str
    name: str | None
    at: datetime
    traits: dict[str, Any] | None = None  # an identify's traits


@dataclass
class Example:
    """A lead as the model sees it: its features, and for training its outcome and the rule scores then."""

    lead_id: int
    features: dict[str, Any]
    outcome: Outcome | None = None
    fit: float = 0.0
    engagement: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def known_outcome(self) -> Outcome:
        """The outcome of an example to learn from (one made to score a lead has none)."""
        assert self.outcome is not None, f"lead {self.lead_id}: no outcome to learn from"
        return self.outcome
