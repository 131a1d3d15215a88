"""The playbook as the engine sees it: compiled, immutable rules holding plain functions.

The playbook package builds a `Rules` from the YAML file; the domain only ever reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadrelay.lead.stages import Stage, Transition

Predicate = Callable[[Mapping[str, Any]], bool]


def may_match(types: frozenset[str] | None, events: frozenset[str] | None, kind: str, event: str | None) -> bool:
    """Whether a rule pinned to these activity types and event names could match this activity."""
    return (types is None or kind in types) and (events is None or (event is not None and event.casefold() in events))


@dataclass(frozen=True, slots=True)
class FitRule:
    id: str
    when: Predicate
    points: float
    description: str | None = None
    reads: tuple[str, ...] = ()  # the field paths its condition reads (progressive profiling asks for them)


@dataclass(frozen=True, slots=True)
class EngagementRule:
    id: str
    when: Predicate
    points: float
    per_day: float | None = None
    lifetime: float | None = None
    description: str | None = None
    types: frozenset[str] | None = None  # activity types the rule can match (None: any)
    events: frozenset[str] | None = None  # case-folded track event names it can match (None: any)
    reads: tuple[str, ...] | None = None  # the field paths its condition reads (None: not known; see lead.matching)

    def may_match(self, kind: str, event: str | None) -> bool:
        return may_match(self.types, self.events, kind, event)


@dataclass(frozen=True, slots=True)
class Disqualifier:
    """A test over the lead's fit fields; `reason` says in words why the lead is out."""

    id: str
    test: Predicate
    reason: str
    reads: tuple[str, ...] = ()  # the field paths its test reads


@dataclass(frozen=True, slots=True)
class Persona:
    id: str
    titles: tuple[re.Pattern[str], ...]


@dataclass(frozen=True, slots=True)
class StageEntry:
    stage: Stage
    when: Predicate
    reads_predicted: bool = False  # the reason of a move names the probability it read


@dataclass(frozen=True, slots=True)
class HandRaiser:
    id: str
    when: Predicate
    to: Stage


@dataclass(frozen=True, slots=True)
class Sequence:
    """A nurture sequence: which email events belong to it, and how many emails it has (`lead.sequences`)."""

    id: str
    match: Predicate
    emails: int


@dataclass(frozen=True, slots=True)
class Followup:
    """An absence timer: `after` starts it, `unless` before it is due cancels it (`leadrelay.lead.followups`)."""

    id: str
    after: Predicate
    unless: Predicate
    within_seconds: float
    description: str | None = None
    channels: tuple[str, ...] | None = None  # webhook and Slack ids; None: those subscribed to followup.due
    within_text: str = ""
    types: frozenset[str] | None = None  # activity types `after` or `unless` can match (None: any)
    events: frozenset[str] | None = None  # case-folded track events they can match (None: any)

    def may_match(self, kind: str, event: str | None) -> bool:
        return may_match(self.types, self.events, kind, event)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """Tell people when `when` holds for a lead (see `leadrelay.lead.alerts`)."""

    id: str
    when: Predicate
    rearm: str = "once"  # once | crossing | every
    every_seconds: float | None = None  # rearm "every": at most once per this long
    description: str | None = None
    channels: tuple[str, ...] | None = None  # webhook and Slack channel ids; None: those subscribed to alert.fired
    email: tuple[str, ...] | None = None  # roles (owner, manager) or addresses; None: the email section's
    rearm_text: str = "once"  # as the playbook says it: once, crossing, 7d
    types: frozenset[str] | None = None  # activity types `when` can hold for (None: any)
    events: frozenset[str] | None = None  # case-folded track events it can hold for (None: any)

    def may_hold(self, kind: str, event: str | None) -> bool:
        """False when the condition cannot hold for this activity. A `crossing` rule is always judged: a
        condition found false re-arms it."""
        return self.rearm == "crossing" or may_match(self.types, self.events, kind, event)


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything the engine needs to score, qualify and stage leads."""

    version: str
    fit_rules: tuple[FitRule, ...] = ()
    fit_min: float | None = None
    fit_max: float | None = None
    engagement_rules: tuple[EngagementRule, ...] = ()
    half_life_seconds: float | None = None
    engagement_min: float | None = None
    engagement_max: float | None = None
    personas: tuple[Persona, ...] = ()
    disqualifiers: tuple[Disqualifier, ...] = ()
    auto_reopen: bool = True
    stage_entries: tuple[StageEntry, ...] = ()  # in funnel order
    hand_raisers: tuple[HandRaiser, ...] = ()
    alerts: tuple[AlertRule, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    followups: tuple[Followup, ...] = ()
    spike_windows: tuple[tuple[str, float], ...] = ()  # (name, seconds) of every `engagement_rise.W` alerts read
    hand_raiser_window_seconds: float = 30 * 86400  # a hand raised before identifying counts this long
    stage_owners: Mapping[Stage, str] = field(default_factory=dict)
    reasons: Mapping[Transition, frozenset[str]] = field(default_factory=dict)
    is_webmail: Callable[[str], bool] = lambda domain: False
    normalise_country: Callable[[Any], str | None] = lambda value: None
    numeric_reads: tuple[tuple[str, str], ...] = ()  # (path, which rule): what fit rules and disqualifiers compare
    handoff: Any = None  # HandoffRules (domain.handoff), kept untyped here to avoid an import cycle
    sales: Any = None  # SalesRules (domain.sales_rules): frameworks, SQL gate, PQL, deals, expansion
    predict: Any = None  # PredictRules (predict.model): what the predictive score may read and when
    _candidates: dict = field(default_factory=dict, compare=False, repr=False)
    _matchers: dict = field(default_factory=dict, compare=False, repr=False)  # (type, event) -> lead.matching.Matcher

    def engagement_candidates(self, kind: str, event: str | None) -> tuple[EngagementRule, ...]:
        """The engagement rules that can match an activity of this type and event name, in order."""
        key = (kind, event)
        found = self._candidates.get(key)
        if found is None:
            found = tuple(rule for rule in self.engagement_rules if rule.may_match(kind, event))
            if len(self._candidates) < 10_000:  # event names come from outside: bound the cache
                self._candidates[key] = found
        return found
