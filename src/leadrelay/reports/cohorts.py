"""Cohort reports over the stage history: the funnel and stage-to-stage conversion.

Definitions (the README's reports section says the same):

- A lead **entered** a stage at the first moment its history shows it moving into that
  stage. The cohort of a period is the leads that entered the cohort's stage in it; a
  lead belongs to the period of that first entry, whatever happened later, so a past
  month's numbers do not change when its leads move on.
- A lead **reached** a later stage when its history shows it moving into that stage at or
  after it entered the cohort's stage.
- **In order** (the funnel's default): a lead reached a stage only if it also moved through
  every stage between, in order. A hand-raiser that jumped from lead to SAL did not go
  through MQL: it is counted on its own path (`via_hand_raise`), never as converted
  through a stage it skipped. **Any order** counts it as reached wherever it went.
- **Days** between two stages are the first entries' difference, in days (p50 and p90,
  nearest rank, kept to three significant figures: see `reports.sketch`).
- **Velocity** is per stage entered in the period: how many are still there, how long the
  others stayed before their next move, and how long they took from entering the previous
  funnel stage.

A lead's journey becomes *facts* (`journey_facts`): "entered MQL on Oct 3", "reached SQL
in order 12.5 days after entering MQL"... Each fact is a metric, the day it counts on (the
day the lead entered the cohort's stage) and, for a duration, its bucket. Facts add up,
so the same facts serve two ways: tallied from journeys here, or from the rollups per day
and dimension that `reports.rollups` keeps. Standard library only: plain data in and out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.reports.sketch import Cell, Fact, Tally, add_fact, bucket

PERIODS = ("month", "week", "quarter")
MODES = ("in_order", "any_order")
HAND_RAISE = "hand_raise"


@dataclass(frozen=True, slots=True)
class Journey:
    """One lead's moves in time order, and the values of the report's dimensions."""

    lead_id: int
    moves: tuple[tuple[Stage, datetime, str], ...]  # (stage entered, when, transition)
    dims: Mapping[str, str | None]

    def first_entries(self) -> dict[Stage, datetime]:
        first: dict[Stage, datetime] = {}
        for stage, at, _ in self.moves:
            first.setdefault(stage, at)
        return first


def period_of(moment: date, period: str | None) -> str | None:
    """`2026-10` (month), `2026-W40` (ISO week), `2026-Q4` (quarter); None without a period."""
    if period is None:
        return None
    if period == "month":
        return f"{moment.year:04d}-{moment.month:02d}"
    if period == "quarter":
        return f"{moment.year:04d}-Q{(moment.month - 1) // 3 + 1}"
    year, week, _ = moment.isocalendar()
    return f"{year:04d}-W{week:02d}"


def quantile_days(days: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q` quantile of `days`, rounded to a tenth of a day; None when empty."""
    if not days:
        return None
    ordered = sorted(days)
    return round(ordered[max(math.ceil(q * len(ordered)) - 1, 0)], 1)


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400




def stages_for(cohort: Stage, basis: Sequence[Stage]) -> tuple[Stage, ...]:
    """The funnel's stages seen from `cohort`: the basis, with the cohort's own stage in it."""
    return tuple(s for s in FUNNEL if s in basis or s is cohort)


def journey_facts(moves: Sequence[tuple[Stage, datetime, str]], basis: Sequence[Stage] = FUNNEL) -> list[Fact]:
    """What one lead's moves count for, in every cohort report.

    `basis`: the funnel's stages (see `catalog.funnel_stages`), which decide what "in order"
    and "the previous stage" mean. Metrics, each on the day the lead entered stage S:
    `in:S`; `any:S:T` and `ord:S:T` (reached T, any order / in order; days); `jump:S:T`
    (reached T on a hand-raiser's shortened path); `stay:S` (days in S before the next
    move) or `still:S`; `step:S` (days from entering the previous basis stage). And `start`,
    on the day of the lead's first move. "After" is the history's order (time, then record).

    Which facts a journey makes depends only on its stages and transitions, so that part is
    worked out once per shape (`_plan`); here only the days are filled in.
    """
    if not moves:
        return []
    plan = _plan(tuple((stage, how) for stage, _, how in moves), tuple(basis))
    days = [at.date() for _, at, _ in moves]
    return [(metric, days[on], None if since < 0 else bucket(_days(moves[since][1], moves[until][1])))
            for metric, on, since, until in plan]


@lru_cache(maxsize=4096)
def _plan(shape: tuple[tuple[Stage, str], ...], basis: tuple[Stage, ...]) -> tuple[tuple[str, int, int, int], ...]:
    """The facts of a journey of this shape: (metric, move it counts on, from move, to move); -1: a count."""
    first: dict[Stage, int] = {}
    for index, (stage, _) in enumerate(shape):
        first.setdefault(stage, index)
    plan: list[tuple[str, int, int, int]] = [("start", 0, -1, -1)]
    for here in FUNNEL:
        entered = first.get(here)
        if entered is None:
            continue
        plan.append((f"in:{here.value}", entered, -1, -1))
        for target in FUNNEL[here.rank + 1:]:
            reached = first.get(target)
            if reached is not None and reached > entered:
                plan.append((f"any:{here.value}:{target.value}", entered, entered, reached))
        path = stages_for(here, basis)
        for target in path[path.index(here) + 1:]:
            reached = _in_order(shape, here, target, path)
            if reached is not None:
                plan.append((f"ord:{here.value}:{target.value}", entered, entered, reached))
            elif _jumped_to(shape, here, target):
                plan.append((f"jump:{here.value}:{target.value}", entered, -1, -1))
    for index, here in enumerate(basis):
        entered = first.get(here)
        if entered is None:
            continue
        plan.append((f"stay:{here.value}", entered, entered, entered + 1) if entered + 1 < len(shape)
                    else (f"still:{here.value}", entered, -1, -1))
        before = first.get(basis[index - 1]) if index else None
        if before is not None and before < entered:
            plan.append((f"step:{here.value}", entered, before, entered))
    return tuple(plan)


def tally(journeys: Iterable[Journey], *, by: str | None, period: str | None, basis: Sequence[Stage] = FUNNEL,
          days: tuple[datetime | None, datetime | None] = (None, None)) -> Tally:
    """The journeys' facts added up per period and group (the dimension `by`, or "all"); `days`: only the
    facts that count on a day in [start, end)."""
    return tally_facts(((journey.dims, journey_facts(journey.moves, basis)) for journey in journeys),
                       by=by, period=period, days=days)


def tally_facts(groups: Iterable[tuple[Mapping[str, str | None], Iterable[Fact]]], *, by: str | None,
                period: str | None, days: tuple[datetime | None, datetime | None] = (None, None)) -> Tally:
    """Facts added up per period and group: each comes with the values of its dimensions (`by` names one)."""
    low, high = (None if moment is None else moment.date() for moment in days)
    out: Tally = {}
    for dims, facts in groups:
        group = (dims.get(by) or "(none)") if by else "all"
        for metric, day, tenths in facts:
            if (low is not None and day < low) or (high is not None and day >= high):
                continue
            add_fact(out.setdefault((period_of(day, period), group), {}), metric, tenths)
    return out


_EMPTY = Cell()


def _ordered(found: Tally):
    return sorted(found.items(), key=lambda item: (item[0][0] or "", item[0][1]))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def conversion_rows(found: Tally, from_stage: Stage, to_stage: Stage) -> list[dict]:
    """Per group: how many entered `from_stage`, how many of those reached `to_stage` (any order), the rate,
    and the median and p90 days between."""
    rows = []
    for (bucket_, group), cells in _ordered(found):
        entered = cells.get(f"in:{from_stage.value}", _EMPTY).n
        if entered <= 0:
            continue
        reached = cells.get(f"any:{from_stage.value}:{to_stage.value}", _EMPTY)
        rows.append({"group": group, "period": bucket_, "entered": entered, "converted": reached.n,
                     "rate": _rate(reached.n, entered), "median_days": reached.quantile(0.5),
                     "p90_days": reached.quantile(0.9)})
    return rows


def funnel_rows(found: Tally, stage: Stage, *, mode: str = "in_order", stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """Per group: of the leads that entered `stage`, how many reached each later stage of `stages`, and when."""
    later = [s for s in stages if s.rank > stage.rank]
    kind = "ord" if mode == "in_order" else "any"
    rows = []
    for (bucket_, group), cells in _ordered(found):
        entered = cells.get(f"in:{stage.value}", _EMPTY).n
        if entered <= 0:
            continue
        reached_rows = []
        for target in later:
            reached = cells.get(f"{kind}:{stage.value}:{target.value}", _EMPTY)
            reached_rows.append({"stage": target.value, "reached": reached.n, "rate": _rate(reached.n, entered),
                                 "median_days": reached.quantile(0.5), "p90_days": reached.quantile(0.9)}
                                | ({"via_hand_raise": cells.get(f"jump:{stage.value}:{target.value}", _EMPTY).n}
                                   if mode == "in_order" else {}))
        rows.append({"group": group, "period": bucket_, "stage": stage.value, "entered": entered,
                     "mode": mode, "stages": reached_rows})
    return rows


def velocity_rows(found: Tally, stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """Per group: for each stage, the leads that entered it in the period, how many are still there, how long the
    others stayed (p50, p90 days) and how long they took from the previous stage; `leads`: first moves."""
    rows = []
    for (bucket_, group), cells in _ordered(found):
        if not any(cell.n > 0 for cell in cells.values()):
            continue
        out = []
        for s in stages:
            stay, step = cells.get(f"stay:{s.value}", _EMPTY), cells.get(f"step:{s.value}", _EMPTY)
            still = cells.get(f"still:{s.value}", _EMPTY).n
            out.append({"stage": s.value, "entered": stay.n + still, "still_in": still,
                        "p50_days_in_stage": stay.quantile(0.5), "p90_days_in_stage": stay.quantile(0.9)}
                       | ({"p50_days_from_previous": step.quantile(0.5),
                           "p90_days_from_previous": step.quantile(0.9)} if s is not stages[0] else {}))
        rows.append({"group": group, "period": bucket_, "leads": cells.get("start", _EMPTY).n, "stages": out})
    return rows


def conversion(journeys: Iterable[Journey], from_stage: Stage, to_stage: Stage, *, by: str | None = None,
               period: str | None = None) -> list[dict]:
    """`conversion_rows` of the journeys."""
    return conversion_rows(tally(journeys, by=by, period=period), from_stage, to_stage)


def funnel(journeys: Iterable[Journey], stage: Stage, *, mode: str = "in_order", by: str | None = None,
           period: str | None = None, stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """`funnel_rows` of the journeys; `stages`: the funnel's stages in order (a playbook without entry criteria
    for `lead` never puts anyone there: moving past it is not skipping it)."""
    return funnel_rows(tally(journeys, by=by, period=period, basis=stages), stage, mode=mode,
                       stages=stages_for(stage, stages))


def velocity(journeys: Iterable[Journey], *, by: str | None = None, period: str | None = None,
             stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """`velocity_rows` of the journeys."""
    return velocity_rows(tally(journeys, by=by, period=period, basis=stages), stages)


def _in_order(shape: Sequence[tuple[Stage, str]], start: Stage, target: Stage, stages: Sequence[Stage]) -> int | None:
    """The move at which the lead reached `target` having moved through every funnel stage from `start` to it,
    one by one."""
    expected = [s for s in stages if start.rank < s.rank <= target.rank]
    started = False
    position = 0
    for index, (stage, _) in enumerate(shape):
        if not started:
            started = stage is start
            continue
        if stage.rank < start.rank:
            continue  # sent back (recycled, rejected): it may come round again
        if stage not in expected and stage.rank < target.rank:
            continue  # a stage this funnel does not count
        if stage is expected[position]:
            position += 1
            if position == len(expected):
                return index
        elif stage.rank > expected[position].rank:
            return None  # skipped a stage: not in order
    return None


def _jumped_to(shape: Sequence[tuple[Stage, str]], start: Stage, target: Stage) -> bool:
    """Whether the lead reached `target` after entering `start` on a path a hand-raiser shortened."""
    started = jumped = False
    for stage, transition in shape:
        if not started:
            started = stage is start
            continue
        jumped = jumped or transition == HAND_RAISE
        if stage is target:
            return jumped
    return False
