"""How routing shares the work: assignments per rep against their weight, time in the queue, the
catch-all rule's share and how often leads were reassigned.

Definitions (the README says the same):

- Every routing decision in the range counts, per team (the team it routed to), on its day. A rep's
  `share` is their part of the team's assignments; `expected_share` their weight's part of
  the team's weights. `fairness` is Jain's index over assignments ÷ weight: 1 when every rep
  got work in proportion to their weight, 1/n when one rep got it all.
- `catch_all_share`: the decisions made by a rule without conditions (the fallback).
- A handoff counts once, on the day and for the team of its first decision: `handoffs`;
  time in queue, for handoffs whose first decision queued them, from opening to assignment
  (p50, p90 minutes; `still_queued` those never assigned); `reassigned`, handoffs given to
  another rep after their first owner (by an SLA step or a person), and
  `reassignment_rate`, their share of the team's handoffs.

Standard library only: facts in (`routing_facts`), rows out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from leadrelay.handoff.routing import Directory
from leadrelay.reports.cohorts import _EMPTY, _ordered
from leadrelay.reports.sketch import Fact, Tally, bucket

DIMENSIONS = ("team",)
Decision = tuple[datetime, str | None, str | None, str | None]  # at, rule, team, owner (None: queued)


def routing_facts(opened_at: datetime, assigned_at: datetime | None, owner: str | None,
                  decisions: Sequence[Decision]) -> list[tuple[dict[str, str | None], list[Fact]]]:
    """One handoff's routing facts, each with its dimensions (`team`, and `rep` for views limited to some reps).

    Per decision, on its day: `r.d`, `r.rule:RULE`, `r.a:REP` (assigned to REP). Per handoff,
    on its first decision's day: `r.h`, `r.queued` (queued first) with `r.wait` (minutes to
    assignment) or `r.still`, `r.re` (reassigned: more than one owner).
    """
    if not decisions:
        return []
    out = []
    for at, rule, team, rep in decisions:
        day = at.date()
        facts: list[Fact] = [("r.d", day, None)]
        if rule is not None:
            facts.append((f"r.rule:{rule}", day, None))
        if rep is not None:
            facts.append((f"r.a:{rep}", day, None))
        out.append(({"team": team, "rep": rep}, facts))
    first_at, _, first_team, first_rep = decisions[0]
    day = first_at.date()
    facts = [("r.h", day, None)]
    if first_rep is None:
        facts.append(("r.queued", day, None))
        facts.append(("r.wait", day, bucket((assigned_at - opened_at).total_seconds() / 60))
                     if assigned_at is not None else ("r.still", day, None))
    if len({rep for _, _, _, rep in decisions if rep is not None}) > 1:
        facts.append(("r.re", day, None))
    out.append(({"team": first_team, "rep": owner}, facts))
    return out


def routing_rows(found: Tally, directory: Directory, *, by: str | None = "team",
                 owners: Iterable[str] | None = None) -> list[dict]:
    """Per team (or all): each rep's assignments against their weight, fairness, the catch-all share, time in
    queue and reassignments."""
    owners = set(owners) if owners is not None else None
    catch_all = {route.id for route in directory.routes if route.when is None}
    out = []
    for (period, group), cells in _ordered(found):
        decisions = cells.get("r.d", _EMPTY).n
        if decisions <= 0:
            continue
        assigned = {metric[4:]: cell.n for metric, cell in cells.items() if metric.startswith("r.a:")}
        reps = [rep for rep in directory.reps.values() if (rep.team == group if by else True)
                and (owners is None or rep.id in owners)]
        weights = {rep.id: rep.weight for rep in reps}
        total, weight_sum = sum(assigned.values()), sum(weights.values())
        waits = cells.get("r.wait", _EMPTY)
        handoffs, reassigned = cells.get("r.h", _EMPTY).n, cells.get("r.re", _EMPTY).n
        ratios = [assigned.get(rep, 0) / weight for rep, weight in weights.items() if weight > 0]
        out.append({
            "group": group, "period": period, "decisions": decisions, "assignments": total,
            "reps": [{"rep": rep, "assigned": assigned.get(rep, 0), "weight": weight,
                      "share": round(assigned.get(rep, 0) / total, 4) if total else None,
                      "expected_share": round(weight / weight_sum, 4) if weight_sum else None}
                     for rep, weight in weights.items()],
            "fairness": _jain(ratios),
            "catch_all_share": round(sum(cells.get(f"r.rule:{rule}", _EMPTY).n for rule in catch_all) / decisions, 4),
            "queued_first": cells.get("r.queued", _EMPTY).n, "queue_p50_min": waits.quantile(0.5),
            "queue_p90_min": waits.quantile(0.9), "still_queued": cells.get("r.still", _EMPTY).n,
            "handoffs": handoffs, "reassigned": reassigned,
            "reassignment_rate": round(reassigned / handoffs, 4) if handoffs else None,
        })
    return out


def _jain(values: list[float]) -> float | None:
    """Jain's fairness index: (Σx)² / (n·Σx²); None without values or work."""
    squares = sum(x * x for x in values)
    return round(sum(values) ** 2 / (len(values) * squares), 4) if values and squares else None
