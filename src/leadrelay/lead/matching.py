"""Which engagement rules an activity matches, remembered by the values their conditions read.

Most activities are alike: the same page views and the same track events, over and over.
A rule's condition is a pure function of the fields it reads (the playbook compiler says
which: `EngagementRule.reads`), so the rules an activity of one type and event matches
depend only on those values. The first activity with a combination of them is judged rule
by rule; every later one costs reading the values and one dictionary lookup. Standard
library only.

Values are remembered only when they are text, numbers or nothing: a list or a mapping
cannot be a dictionary key, and `True` would find what was found for `1` (equal in a
dictionary, not to a numeric comparison). An activity reading any other value, or a rule
whose reads are not known, is judged rule by rule, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadrelay.core.fields import Reader
from leadrelay.core.fields import getter as read
from leadrelay.lead.rules import EngagementRule, Rules

_PLAIN = frozenset({str, int, float, type(None), object})  # `object`: MISSING
_FIXED = frozenset({"type", "event"})  # the same for every activity of one (type, event)
REMEMBERED = 4096  # value combinations kept per (type, event); values come from outside: bound them
MATCHERS = 10_000  # (type, event) pairs kept per playbook, as `Rules.engagement_candidates` does



class Matcher:
    """The engagement rules that can match activities of one type and event, and which of them did, by the
    values their conditions read."""

    __slots__ = ("candidates", "readers", "seen")

    def __init__(self, candidates: tuple[EngagementRule, ...]):
        self.candidates = candidates
        self.seen: dict[Any, tuple[EngagementRule, ...]] = {}
        paths: dict[str, None] = {}
        for rule in candidates:
            if rule.reads is None:
                self.readers: tuple[Reader, ...] | None = None
                return
            paths.update(dict.fromkeys(path for path in rule.reads if path not in _FIXED))
        self.readers = tuple(read(path) for path in paths)

    def __call__(self, fields: Mapping[str, Any]) -> tuple[EngagementRule, ...]:
        """The candidates whose condition holds for `fields`, in playbook order."""
        readers = self.readers
        if readers is None:
            return self.judge(fields)
        if len(readers) == 1:  # the common case (a page's path, a track's one property): no tuple
            key = readers[0](fields)
            if type(key) not in _PLAIN:
                return self.judge(fields)
        else:
            key = tuple([get(fields) for get in readers])
            for value in key:
                if type(value) not in _PLAIN:
                    return self.judge(fields)
        found = self.seen.get(key)
        if found is None:
            found = self.judge(fields)
            if len(self.seen) < REMEMBERED:
                self.seen[key] = found
        return found

    def judge(self, fields: Mapping[str, Any]) -> tuple[EngagementRule, ...]:
        return tuple(rule for rule in self.candidates if rule.when(fields))


def engagement_matches(rules: Rules, fields: Mapping[str, Any]) -> tuple[EngagementRule, ...]:
    """The engagement rules that hold for an activity's fields (`engine.activity_fields`), in playbook order."""
    kind, event = fields["type"], fields["event"]
    matcher = rules._matchers.get((kind, event))
    if matcher is None:
        matcher = Matcher(rules.engagement_candidates(kind, event))
        if len(rules._matchers) < MATCHERS:
            rules._matchers[(kind, event)] = matcher
    return matcher(fields)
