"""Routing: which team and which rep get a lead, and why — every candidate and why it was skipped.

Ordered rules, first match wins (each handoff only considers rules whose team serves the
function receiving it). Within a team: weighted round robin (the eligible rep with the
fewest assignments per unit of weight) or least loaded (fewest open leads). Inactive, away,
full or over-quota reps are skipped. Nobody eligible: the lead waits in the team's queue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from leadrelay.handoff.calendar import BusinessCalendar
from leadrelay.lead.rules import Predicate


@dataclass(frozen=True, slots=True)
class Rep:
    id: str
    name: str
    email: str
    team: str
    calendar: BusinessCalendar
    manager_name: str | None = None
    manager_email: str | None = None
    active: bool = True
    capacity: int | None = None
    daily_quota: int | None = None
    weight: float = 1.0
    away: tuple[tuple[date, date], ...] = ()

    def away_on(self, day: date) -> date | None:
        """The last day of the away period covering `day`, if any."""
        return next((end for start, end in self.away if start <= day <= end), None)


@dataclass(frozen=True, slots=True)
class TeamInfo:
    id: str
    function: str
    strategy: str = "round_robin"
    working_hours_only: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    id: str
    when: Predicate | None
    team: str | None = None
    rep: str | None = None


@dataclass(slots=True)
class Load:
    """What routing must know about a rep right now."""

    open: int = 0  # open handoffs the rep owns
    today: int = 0  # leads assigned since the start of the rep's day
    total: int = 0  # leads ever assigned (round robin fairness)


NO_LOAD = Load()  # a rep nobody counted: read, never changed

@dataclass(slots=True)
class Candidate:
    rep: str
    skipped: str | None = None  # why not, or None when eligible


@dataclass(slots=True)
class Decision:
    """A routing decision, stored as it is: the rule, the team, every candidate, the choice."""

    rule: str | None
    team: str | None
    owner: str | None
    reason: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        return self.owner is None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "team": self.team, "owner": self.owner, "reason": self.reason,
                "queued": self.queued,
                "candidates": [{"rep": c.rep, "skipped": c.skipped} for c in self.candidates]}


@dataclass(frozen=True)
class Directory:
    """Teams, reps and routing rules from the playbook (with CLI overrides applied to reps).

    Each team's members and the rules serving each function are worked out once per directory
    (a queue routes thousands of leads through the same one), not once per lead.
    """

    teams: Mapping[str, TeamInfo]
    reps: Mapping[str, Rep]  # in playbook order
    routes: Sequence[Route]
    account_owner_first: bool = True

    def members(self, team: str) -> list[Rep]:
        return list(self._members.get(team, ()))

    def function_of(self, route: Route) -> str | None:
        team = route.team or (self.reps[route.rep].team if route.rep is not None and route.rep in self.reps else None)
        return self.teams[team].function if team is not None and team in self.teams else None

    def routes_for(self, function: str) -> tuple[Route, ...]:
        """The rules that route leads handed to `function`, in order."""
        found = self._routes_for.get(function)
        if found is None:
            found = self._routes_for[function] = tuple(r for r in self.routes if self.function_of(r) == function)
        return found

    @cached_property
    def _members(self) -> dict[str, tuple[Rep, ...]]:
        """Each team's reps, in playbook order."""
        out: dict[str, list[Rep]] = {}
        for rep in self.reps.values():
            out.setdefault(rep.team, []).append(rep)
        return {team: tuple(reps) for team, reps in out.items()}

    @cached_property
    def _routes_for(self) -> dict[str, tuple[Route, ...]]:
        return {}


def why_not(rep: Rep, load: Load, now: datetime, team: TeamInfo | None) -> str | None:
    """Why a rep cannot take a lead now, or None."""
    if not rep.active:
        return "inactive"
    back = rep.away_on(now.astimezone(ZoneInfo(rep.calendar.timezone)).date()) if rep.away else None
    if back is not None:
        return f"out of office until {back.isoformat()}"
    if rep.capacity is not None and load.open >= rep.capacity:
        return f"at capacity ({load.open}/{rep.capacity} open leads)"
    if rep.daily_quota is not None and load.today >= rep.daily_quota:
        return f"daily quota reached ({load.today}/{rep.daily_quota})"
    if team is not None and team.working_hours_only and not rep.calendar.is_working(now):
        return "outside working hours"
    return None


Exclusions = Mapping[str, str]  # rep -> why they may not have this lead ("current owner", ...)


def _excluded(exclude: Exclusions | frozenset[str]) -> Exclusions:
    return exclude if isinstance(exclude, dict) else {rep: "current owner" for rep in exclude}


def choose_rep(team: TeamInfo, members: Sequence[Rep], loads: Mapping[str, Load], now: datetime,
               exclude: Exclusions | frozenset[str] = frozenset()) -> tuple[str | None, list[Candidate]]:
    """The rep the team's strategy picks among those eligible, with every candidate's verdict."""
    exclude = _excluded(exclude)
    least_loaded = team.strategy == "least_loaded"
    candidates: list[Candidate] = []
    chosen, best = None, None  # the eligible rep first in the strategy's order, and that order
    for position, rep in enumerate(members):
        load = loads.get(rep.id) or NO_LOAD
        reason = exclude[rep.id] if rep.id in exclude else why_not(rep, load, now, team)
        candidates.append(Candidate(rep.id, reason))
        if reason is None:
            share = load.total / rep.weight
            order = (load.open, share, position) if least_loaded else (share, load.open, position)
            if best is None or order < best:
                chosen, best = rep.id, order
    return chosen, candidates


SALES_FUNCTIONS = frozenset({"sdr", "ae"})


def _serves(team: TeamInfo | None, function: str) -> bool:
    """Can a rep of `team` take a lead handed to `function`? Sales reps cover each other's leads of
    their accounts; customer success (and any other function) only its own."""
    if team is None:
        return False
    return team.function == function or (team.function in SALES_FUNCTIONS and function in SALES_FUNCTIONS)


def route(
    fields: Mapping[str, Any],
    function: str,
    directory: Directory,
    loads: Mapping[str, Load],
    now: datetime,
    *,
    account_owner: str | None = None,
    exclude: Exclusions | frozenset[str] = frozenset(),
) -> Decision:
    """Decide who gets a lead handed to `function` (sdr, ae, ...); reps in `exclude` never do."""
    return _route(fields, function, directory, loads, now, account_owner, _excluded(exclude), choose_rep)


Chooser = Callable[[TeamInfo, Sequence[Rep], Mapping[str, Load], datetime, Exclusions],
                   tuple[str | None, list[Candidate]]]


def _route(fields: Mapping[str, Any], function: str, directory: Directory, loads: Mapping[str, Load], now: datetime,
           account_owner: str | None, exclude: Exclusions, choose: Chooser) -> Decision:
    if directory.account_owner_first and account_owner and account_owner not in exclude:
        rep = directory.reps.get(account_owner)
        if rep is not None and _serves(directory.teams.get(rep.team), function):
            reason = why_not(rep, loads.get(rep.id) or NO_LOAD, now, directory.teams.get(rep.team))
            if reason is None:
                return Decision("account_owner", rep.team, rep.id, "the company's account owner",
                                [Candidate(rep.id)])
    for rule in directory.routes_for(function):
        if rule.when is not None and not rule.when(fields):
            continue
        if rule.rep is not None:
            rep = directory.reps[rule.rep]
            skip = exclude[rep.id] if rep.id in exclude else why_not(
                rep, loads.get(rep.id) or NO_LOAD, now, directory.teams.get(rep.team))
            owner = None if skip else rep.id
            reason = f"rule '{rule.id}' names {rep.id}" + (f", who is unavailable ({skip}): queued" if skip else "")
            return Decision(rule.id, rep.team, owner, reason, [Candidate(rep.id, skip)])
        assert rule.team is not None  # a rule naming no rep serves `function` through its team
        team = directory.teams[rule.team]
        owner, candidates = choose(team, directory._members.get(team.id, ()), loads, now, exclude)
        how = "least loaded" if team.strategy == "least_loaded" else "round robin"
        reason = (f"rule '{rule.id}' → team {team.id}, {how}" if owner else
                  f"rule '{rule.id}' → team {team.id}: nobody can take it now, queued")
        return Decision(rule.id, team.id, owner, reason, candidates)
    return Decision(None, None, None, f"no routing rule for {function} leads: unassigned")


class Router:
    """`route` for many leads in one transaction (a queue assigned at once), deciding exactly as `route` does.

    A team's verdicts are kept from one lead to the next at the same moment: a rep's is worked
    out again only when their load changed, and the team's candidates stay one list (shared by the
    decisions, never changed) while no verdict changes. Made per transaction: it shares nothing.
    """

    def __init__(self, directory: Directory):
        self.directory = directory
        self._at: datetime | None = None
        self._teams: dict[str, _TeamVerdicts] = {}

    def route(self, fields: Mapping[str, Any], function: str, loads: Mapping[str, Load], now: datetime, *,
              account_owner: str | None = None, exclude: Exclusions | frozenset[str] = frozenset()) -> Decision:
        return _route(fields, function, self.directory, loads, now, account_owner, _excluded(exclude), self._choose)

    def _choose(self, team: TeamInfo, members: Sequence[Rep], loads: Mapping[str, Load], now: datetime,
                exclude: Exclusions) -> tuple[str | None, list[Candidate]]:
        if exclude:  # this lead's own exclusions: its verdicts are its own
            return choose_rep(team, members, loads, now, exclude)
        if now != self._at:  # away and working hours depend on the moment
            self._at, self._teams = now, {}
        verdicts = self._teams.get(team.id)
        if verdicts is None:
            verdicts = self._teams[team.id] = _TeamVerdicts(team, members)
        return verdicts.choose(loads, now)


class _TeamVerdicts:
    """A team's candidates at one moment, with the (open, today) each rep's verdict was worked out from."""

    def __init__(self, team: TeamInfo, members: Sequence[Rep]):
        self.team, self.members = team, members
        self.seen: list[tuple[int, int] | None] = [None] * len(members)
        self.reasons: list[str | None] = [None] * len(members)
        self.candidates: list[Candidate] | None = None

    def choose(self, loads: Mapping[str, Load], now: datetime) -> tuple[str | None, list[Candidate]]:
        """As `choose_rep` without exclusions."""
        least_loaded = self.team.strategy == "least_loaded"
        changed = self.candidates is None
        chosen, best = None, None
        for position, rep in enumerate(self.members):
            load = loads.get(rep.id) or NO_LOAD
            seen = (load.open, load.today)  # all that a verdict reads of the load
            if self.seen[position] != seen:
                self.seen[position] = seen
                reason = why_not(rep, load, now, self.team)
                if reason != self.reasons[position]:
                    self.reasons[position], changed = reason, True
            if self.reasons[position] is None:
                share = load.total / rep.weight
                order = (load.open, share, position) if least_loaded else (share, load.open, position)
                if best is None or order < best:
                    chosen, best = rep.id, order
        if changed or self.candidates is None:
            self.candidates = [Candidate(rep.id, reason) for rep, reason in zip(self.members, self.reasons,
                                                                                 strict=True)]
        return chosen, self.candidates
