"""What the model may know about a lead: its traits and what it did, up to the moment it was judged.

Pure: standard library only. A lead's features are rebuilt from its stored activities up to
its `scored_at` (never its current traits, which sales may have filled in since): the traits
its `identify` calls had set by then, how many times it did each tracked event, the pages it
viewed. Which of those become model columns is decided once per
training (`choose`), from how often each is present and never from the outcome.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadrelay.predict.model import PredictRules, Seen

EVENT = "event:"  # an event count: "event:Demo Requested"
PAGES = "pages viewed"
MISSING = "missing"  # the category of a trait the lead never gave
MIN_SHARE = 0.01  # a feature present in fewer leads than this is too rare to learn from
MIN_PRESENT = 5
NUMERIC_SHARE = 0.95  # a field whose values are this much numbers is a number; the rest count as unknown
ID_LIKE_DISTINCT = 50  # a category with more values than this, nearly one per lead, names leads: not a feature


def features_of(seen: Iterable[Seen], until: datetime | None = None) -> dict[str, Any]:
    """A lead's features from its activities in time order, counting only those at or before `until`."""
    traits: dict[str, Any] = {}
    counts: Counter[str] = Counter()
    for activity in seen:
        if until is not None and activity.at > until:
            break
        if activity.type == "identify" and activity.traits:
            for name, value in activity.traits.items():
                value = _scalar(value)
                if value is None:
                    traits.pop(name, None)
                else:
                    traits[name] = value
        elif activity.type == "track" and activity.name:
            counts[EVENT + activity.name] += 1
        elif activity.type in ("page", "screen"):
            counts[PAGES] += 1
    # No "days known": for a lead judged at its outcome, time known up to then is time to the decision — the
    # outcome itself, in disguise.
    return traits | {name: float(n) for name, n in counts.items()}


def _scalar(value: Any) -> Any:
    """A trait value as a feature: text lower-cased and trimmed, yes/no for booleans, numbers as floats."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return float(value) if value == value else None
    if isinstance(value, str):
        value = value.strip().casefold()
        return value or None
    return None  # lists and objects: not a feature


@dataclass(frozen=True)
class Feature:
    """One model column: its name, kind, the value a lead without it gets, and the most typical value."""

    name: str
    kind: str  # category | number
    typical: Any

    @property
    def absent(self) -> Any:
        """What a lead that lacks this feature has: zero of a count, `missing` of a trait, or unknown."""
        if self.name.startswith(EVENT) or self.name == PAGES:
            return 0.0
        return MISSING if self.kind == "category" else None

    def value(self, features: dict[str, Any]) -> Any:
        value = features.get(self.name)
        if value is None:
            return self.absent
        if self.kind == "category":
            return value if isinstance(value, str) else _number_text(value)
        return float(value) if _is_number(value) else None  # text in a number column: unknown

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "typical": self.typical}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Choice:
    """The columns chosen, and every field left out with why."""

    features: tuple[Feature, ...]
    left_out: dict[str, str]
    notes: list[str] = field(default_factory=list)  # how a chosen column reads odd values


def choose(rows: Sequence[dict[str, Any]], rules: PredictRules) -> Choice:
    """The model's columns from the leads' features: every field present often enough, varied, and allowed."""
    present: dict[str, list[Any]] = {}
    for features in rows:
        for name, value in features.items():
            present.setdefault(name, []).append(value)
    enough = max(MIN_PRESENT, MIN_SHARE * len(rows))
    chosen, left_out, notes = [], {}, []
    for name in sorted(present):
        values = present[name]
        if rules.excluded(name):
            left_out[name] = "excluded by the playbook" if name.casefold() in rules.exclude else "identifies a person"
            continue
        if len(values) < enough:
            left_out[name] = f"known for {len(values)} of {len(rows)} leads: too rare"
            continue
        numbers = sum(1 for v in values if _is_number(v))
        numeric = numbers >= NUMERIC_SHARE * len(values)  # a stray "unknown" in a number field is unknown
        feature = Feature(name, "number" if numeric else "category", None)
        everyone = [feature.value(features) for features in rows]  # a lead without it counts as it is
        known = [v for v in everyone if v is not None]
        distinct = len(set(known))
        if numeric and numbers < len(values):
            notes.append(f"{name}: {len(values) - numbers} of {len(values)} values are not numbers (such as "
                         f"{next(v for v in values if not _is_number(v))!r}): read as unknown")
        if distinct <= 1:
            left_out[name] = "the same for every lead"
            continue
        if not numeric and distinct > ID_LIKE_DISTINCT and distinct > 0.5 * len(values):
            left_out[name] = f"{distinct} different values in {len(values)} leads: names leads, not kinds of lead"
            continue
        typical = statistics.median(known) if numeric else Counter(everyone).most_common(1)[0][0]
        chosen.append(Feature(name, feature.kind, typical))
    return Choice(tuple(chosen), left_out, notes)
