"""Routing, simulated: who a playbook's teams, reps and rules would give each lead to, with rep loads that build
up as the simulation assigns. Nothing is stored; the decisions explain themselves as `route-explain` does.

Handoffs must be routed in time order (a simulated lead frees its rep `hold` later). A simulated assignment keeps
the rep busy (counts toward `capacity`) for `hold` — the playbook's stale window,
or two weeks — since a simulation cannot know when the rep would have closed it; it counts toward the rep's
`daily_quota` on the rep's local day, and toward round robin for good. Standard library only.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.handoff.routing import Decision, Directory, Load, route

HOLD = timedelta(days=14)


@dataclass
class SimulatedLoads:
    directory: Directory
    hold: timedelta = HOLD
    start: Mapping[str, Load] = field(default_factory=dict)  # loads to start from (the store's, now)
    _busy: dict[str, list[datetime]] = field(default_factory=dict)  # rep -> when its simulated leads free up
    _days: Counter = field(default_factory=Counter)  # (rep, local day) -> assignments
    _total: Counter = field(default_factory=Counter)

    def at(self, moment: datetime) -> dict[str, Load]:
        loads = {}
        for rep in self.directory.reps.values():
            busy = self._busy.get(rep.id, [])
            while busy and busy[0] <= moment:
                heapq.heappop(busy)
            base = self.start.get(rep.id) or Load()
            loads[rep.id] = Load(open=base.open + len(busy), today=base.today + self._days[(rep.id, _day(rep, moment))],
                                 total=base.total + self._total[rep.id])
        return loads

    def assign(self, rep_id: str, moment: datetime) -> None:
        heapq.heappush(self._busy.setdefault(rep_id, []), moment + self.hold)
        self._days[(rep_id, _day(self.directory.reps[rep_id], moment))] += 1
        self._total[rep_id] += 1


def _day(rep, moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(rep.calendar.timezone)).date().isoformat()


OwnerHistory = tuple[Mapping[int, tuple[str, datetime]], Mapping[str, tuple[str, datetime]]]


def owner_at(history: OwnerHistory, account_id: int | None, domain: str | None, at: datetime) -> str | None:
    """The company's account owner at `at`: an owner named later did not own it then."""
    by_account, by_domain = history
    for found in (by_account.get(account_id) if account_id is not None else None,
                  by_domain.get(domain) if domain else None):
        if found is not None and found[1] <= at:
            return found[0]
    return None


def simulate_route(directory: Directory, loads: SimulatedLoads, fields: Mapping[str, Any], function: str,
                   at: datetime, *, account_owner: str | None = None) -> Decision:
    """Route one lead handed to `function` at `at`, and count the assignment into `loads`."""
    decision = route(fields, function, directory, loads.at(at), at, account_owner=account_owner)
    if decision.owner is not None:
        loads.assign(decision.owner, at)
    return decision
