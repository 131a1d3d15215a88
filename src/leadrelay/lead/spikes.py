"""Spikes: how much a lead's engagement rose over a recent window ("engagement rose by 20 within 48 hours").

An alert may read `engagement_rise.48h`: the engagement now minus the engagement 48 hours
earlier (what it was then, decayed to then). It is a pure function of the activities, like
the scores: the engine keeps a short trail of (moment, engagement) after each activity, as
long as the playbook's longest window, and a replay rebuilds it. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadrelay.lead.model import Lead
from leadrelay.lead.scoring import decay_factor

FIELD = "engagement_rise"


def remember(lead: Lead, ts: float, value: float, keep_seconds: float) -> None:
    """Add the engagement after an activity at `ts` to the trail; drop what no window can reach any more (the
    newest sample older than the longest window stays: it is the value at that window's start)."""
    trail = lead.trail
    if trail and trail[-1][0] == ts:
        trail[-1] = [ts, value]
    else:
        trail.append([ts, value])
    horizon = ts - keep_seconds
    while len(trail) > 1 and trail[1][0] <= horizon:
        trail.pop(0)


def rise(lead: Lead, now: float, value_now: float, window_seconds: float, half_life: float | None) -> float:
    """Engagement now minus engagement `window_seconds` before `now`."""
    start = now - window_seconds
    before = [sample for sample in lead.trail if sample[0] <= start]
    if not before:
        return value_now  # nothing before the window: it all came within it
    ts, value = before[-1]
    return value_now - value * decay_factor(start - ts, half_life)


def rises(lead: Lead, now: float, value_now: float, windows: Iterable[tuple[str, float]],
          half_life: float | None) -> dict[str, float]:
    """`{"48h": 22.5, ...}`: the rise over each window the playbook reads, by its name."""
    return {name: rise(lead, now, value_now, seconds, half_life) for name, seconds in windows}
