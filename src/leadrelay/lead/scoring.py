"""Fit and engagement scoring: pure functions over a lead's state and one activity.

Engagement decays with a half-life, so its value is stored with the moment it is valid
at. Because applying an activity is `value * decay(dt) + delta`, the score at any time
is the sum of every recorded delta decayed from its own time — which is how a lead's
per-rule breakdown always adds up to its score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadrelay.lead.matching import engagement_matches
from leadrelay.lead.model import Lead, ScoringState
from leadrelay.lead.rules import Rules

FIT = "fit"
ENGAGEMENT = "engagement"
CAP_RULE = "(total cap)"
_DAY = 86400.0


@dataclass(slots=True)
class ScoreChange:
    """One change of one score by one rule, caused by one activity (None for a rescore)."""

    lead: Lead
    kind: str
    rule_id: str
    delta: float
    at: float  # epoch seconds
    activity: Any = None


def decay_factor(seconds: float, half_life_seconds: float | None) -> float:
    """How much of a score is left after `seconds`; 1.0 without a half-life."""
    if half_life_seconds is None or seconds <= 0:
        return 1.0
    return 0.5 ** (seconds / half_life_seconds)


def decayed(value: float, as_of: float | None, ts: float, half_life_seconds: float | None) -> float:
    """A score stored as `value` at `as_of` (epoch seconds), decayed to `ts` (never decays backwards)."""
    return value if as_of is None else value * decay_factor(ts - as_of, half_life_seconds)


def engagement_at(state: ScoringState, ts: float, half_life_seconds: float | None) -> float:
    """The engagement score at epoch time `ts` (never before `state.as_of`)."""
    if state.as_of is None:
        return 0.0
    return state.engagement * decay_factor(ts - state.as_of, half_life_seconds)


def clamp(value: float, low: float | None, high: float | None) -> float:
    """`value` kept within [low, high] (either may be None: no bound)."""
    if high is not None and value > high:
        return high
    if low is not None and value < low:
        return low
    return value


def apply_engagement(
    lead: Lead, fields: Mapping[str, Any], ts: float, rules: Rules, activity: Any, out: list[ScoreChange]
) -> None:
    """Add the points every matching engagement rule gives for one activity at `ts`."""
    state = lead.scoring
    value = engagement_at(state, ts, rules.half_life_seconds)
    day = ts // _DAY
    for rule in engagement_matches(rules, fields):
        points = rule.points
        if rule.per_day is not None or rule.lifetime is not None:
            points = _capped(state.caps.setdefault(rule.id, [0.0, day, 0.0]), points, day, rule.per_day, rule.lifetime)
        raw = value + points
        new_value = clamp(raw, rules.engagement_min, rules.engagement_max)
        delta = points if new_value == raw else new_value - value
        if delta:
            value = new_value
            out.append(ScoreChange(lead, ENGAGEMENT, rule.id, delta, ts, activity))
    state.engagement = value
    state.as_of = ts


def _capped(cap: list[float], points: float, day: float, per_day: float | None, lifetime: float | None) -> float:
    """Points a capped rule may still add; updates `cap` = [total, day, that day's total] in place."""
    if cap[1] != day:
        cap[1], cap[2] = day, 0.0
    allowed = abs(points)
    if lifetime is not None:
        allowed = min(allowed, lifetime - cap[0])
    if per_day is not None:
        allowed = min(allowed, per_day - cap[2])
    allowed = max(allowed, 0.0)
    cap[0] += allowed
    cap[2] += allowed
    return allowed if points >= 0 else -allowed


def refresh_fit(lead: Lead, fields: Mapping[str, Any], ts: float, rules: Rules, activity: Any,
                out: list[ScoreChange]) -> None:
    """Recompute the fit score after traits changed; record one change per rule that flipped."""
    state = lead.scoring
    old_points = state.fit_points
    new_points = {rule.id: rule.points for rule in rules.fit_rules if rule.when(fields)}
    if new_points == old_points:
        return
    for rule in rules.fit_rules:
        delta = new_points.get(rule.id, 0.0) - old_points.get(rule.id, 0.0)
        if delta:
            out.append(ScoreChange(lead, FIT, rule.id, delta, ts, activity))
    old_raw, new_raw = sum(old_points.values()), sum(new_points.values())
    new_fit = clamp(new_raw, rules.fit_min, rules.fit_max)
    # The total cap shows up as its own row so the breakdown still adds up to the score.
    cap_delta = (new_fit - new_raw) - (state.fit - old_raw)
    if abs(cap_delta) > 1e-9:
        out.append(ScoreChange(lead, FIT, CAP_RULE, cap_delta, ts, activity))
    state.fit_points = new_points
    state.fit = new_fit
