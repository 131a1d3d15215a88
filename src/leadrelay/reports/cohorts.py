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
  nearest rank).

Standard library only: the rows come in, plain data goes out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from leadrelay.lead.stages import FUNNEL, Stage

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


def period_of(moment: datetime, period: str | None) -> str | None:
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


def _groups(journeys: Iterable[Journey], stage: Stage, by: str | None, period: str | None):
    """Journeys that entered `stage`, by (period, group): each with its entry time into `stage`."""
    out: dict[tuple[str | None, str], list[tuple[Journey, dict[Stage, datetime]]]] = {}
    for journey in journeys:
        first = journey.first_entries()
        entered = first.get(stage)
        if entered is None:
            continue
        group = (journey.dims.get(by) or "(none)") if by else "all"
        out.setdefault((period_of(entered, period), group), []).append((journey, first))
    return sorted(out.items(), key=lambda item: (item[0][0] or "", item[0][1]))


def conversion(journeys: Iterable[Journey], from_stage: Stage, to_stage: Stage, *, by: str | None = None,
               period: str | None = None) -> list[dict]:
    """Per group: how many entered `from_stage`, how many of those reached `to_stage` (any order), the rate,
    and the median and p90 days between."""
    rows = []
    for (bucket, group), members in _groups(journeys, from_stage, by, period):
        days = []
        for _, first in members:
            entered, reached = first[from_stage], _reached_after(first, to_stage, first[from_stage])
            if reached is not None:
                days.append(_days(entered, reached))
        entered_n = len(members)
        rows.append({"group": group, "period": bucket, "entered": entered_n, "converted": len(days),
                     "rate": round(len(days) / entered_n, 4) if entered_n else None,
                     "median_days": quantile_days(days, 0.5), "p90_days": quantile_days(days, 0.9)})
    return rows


def _reached_after(first: Mapping[Stage, datetime], stage: Stage, since: datetime) -> datetime | None:
    at = first.get(stage)
    return at if at is not None and at >= since else None


def funnel(journeys: Iterable[Journey], stage: Stage, *, mode: str = "in_order", by: str | None = None,
           period: str | None = None, stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """Per group: of the leads that entered `stage`, how many reached each later stage of `stages`, and when.

    `stages`: the funnel's stages in order (a playbook without entry criteria for `lead`
    never puts anyone there: moving past it is not skipping it)."""
    later = [s for s in stages if s.rank > stage.rank]
    rows = []
    for (bucket, group), members in _groups(journeys, stage, by, period):
        reached_rows = []
        for target in later:
            reached, via_hand_raise, days = 0, 0, []
            for journey, first in members:
                at = (_in_order(journey, stage, target, stages) if mode == "in_order"
                      else _reached_after(first, target, first[stage]))
                if at is not None:
                    reached += 1
                    days.append(_days(first[stage], at))
                elif mode == "in_order" and _jumped_to(journey, stage, target):
                    via_hand_raise += 1
            reached_rows.append({"stage": target.value, "reached": reached,
                           "rate": round(reached / len(members), 4) if members else None,
                           "median_days": quantile_days(days, 0.5), "p90_days": quantile_days(days, 0.9)}
                          | ({"via_hand_raise": via_hand_raise} if mode == "in_order" else {}))
        rows.append({"group": group, "period": bucket, "stage": stage.value, "entered": len(members),
                     "mode": mode, "stages": reached_rows})
    return rows


def _in_order(journey: Journey, start: Stage, target: Stage, stages: Sequence[Stage]) -> datetime | None:
    """When the lead reached `target` having moved through every funnel stage from `start` to it, one by one."""
    expected = [s for s in stages if start.rank < s.rank <= target.rank]
    started = False
    position = 0
    for stage, at, _ in journey.moves:
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
                return at
        elif stage.rank > expected[position].rank:
            return None  # skipped a stage: not in order
    return None


def _jumped_to(journey: Journey, start: Stage, target: Stage) -> bool:
    """Whether the lead reached `target` after entering `start` on a path a hand-raiser shortened."""
    started = jumped = False
    for stage, _, transition in journey.moves:
        if not started:
            started = stage is start
            continue
        jumped = jumped or transition == HAND_RAISE
        if stage is target:
            return jumped
    return False


def velocity(journeys: Iterable[Journey], *, by: str | None = None, period: str | None = None,
             stages: Sequence[Stage] = FUNNEL) -> list[dict]:
    """Per group: how long leads stay in each stage (first entry to the next move; p50, p90 days, and how many
    are still there), and the days from one stage to the next (first entries, any order).

    A lead belongs to the period of its first move."""
    out: dict[tuple[str | None, str], list[Journey]] = {}
    for journey in journeys:
        if not journey.moves:
            continue
        group = (journey.dims.get(by) or "(none)") if by else "all"
        out.setdefault((period_of(journey.moves[0][1], period), group), []).append(journey)
    rows = []
    for (bucket, group), members in sorted(out.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        stay: dict[Stage, list[float]] = {s: [] for s in stages}
        still: dict[Stage, int] = {s: 0 for s in stages}
        step: dict[Stage, list[float]] = {s: [] for s in stages}
        for journey in members:
            first = journey.first_entries()
            seen: set[Stage] = set()
            for index, (stage, at, _) in enumerate(journey.moves):
                if stage in seen or stage not in stay:
                    continue
                seen.add(stage)
                if index + 1 < len(journey.moves):
                    stay[stage].append(_days(at, journey.moves[index + 1][1]))
                else:
                    still[stage] += 1
            for here, nxt in zip(stages, stages[1:]):
                if here in first and (reached := _reached_after(first, nxt, first[here])) is not None:
                    step[nxt].append(_days(first[here], reached))
        rows.append({"group": group, "period": bucket, "leads": len(members), "stages": [
            {"stage": s.value, "entered": len(stay[s]) + still[s], "still_in": still[s],
             "p50_days_in_stage": quantile_days(stay[s], 0.5), "p90_days_in_stage": quantile_days(stay[s], 0.9)}
            | ({"p50_days_from_previous": quantile_days(step[s], 0.5),
                "p90_days_from_previous": quantile_days(step[s], 0.9)} if s is not stages[0] else {})
            for s in stages]})
    return rows
