"""How routing shares the work: assignments per rep against their weight, time in the queue, the
catch-all rule's share and how often leads were reassigned.

Definitions (the README says the same):

- Every routing decision in the range counts, per team (the team it routed to). A rep's
  `share` is their part of the team's assignments; `expected_share` their weight's part of
  the team's weights. `fairness` is Jain's index over assignments ÷ weight: 1 when every rep
  got work in proportion to their weight, 1/n when one rep got it all.
- `catch_all_share`: the decisions made by a rule without conditions (the fallback).
- Time in queue: for handoffs whose first decision queued them, from opening to assignment
  (p50, p90 minutes); `still_queued` those never assigned.
- `reassigned`: handoffs given to another rep after their first owner (by an SLA step or a
  person); `reassignment_rate` their share of the team's handoffs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, select

from leadrelay.handoff.routing import Directory
from leadrelay.reports.cohorts import period_of, quantile_days
from leadrelay.reports.history import within
from leadrelay.storage import handoff_tables as h

DIMENSIONS = ("team",)


def routing(conn: Connection, directory: Directory, start: datetime | None, end: datetime | None, *,
            by: str | None = "team", period: str | None = None, owners: Iterable[str] | None = None) -> list[dict]:
    d, c = h.routing_decisions.c, h.handoffs.c
    query = select(d.handoff_id, d.at, d.rule_id, d.team, d.owner).order_by(d.handoff_id, d.at, d.id)
    query = within(query, d.at, start, end)
    decisions = conn.execute(query).all()
    owners = set(owners) if owners is not None else None
    catch_all = {route.id for route in directory.routes if route.when is None}
    handoff_ids = sorted({row.handoff_id for row in decisions if row.handoff_id is not None})
    opened: dict[int, tuple[datetime, datetime | None]] = {}
    for i in range(0, len(handoff_ids), 5_000):
        for handoff_id, opened_at, assigned_at in conn.execute(select(c.id, c.opened_at, c.assigned_at).where(
                c.id.in_(handoff_ids[i:i + 5_000]))):
            opened[handoff_id] = (opened_at, assigned_at)
    groups: dict[tuple[str | None, str], list] = {}
    for row in decisions:
        if owners is not None and row.owner not in owners:
            continue
        group = (row.team or "(none)") if by else "all"
        groups.setdefault((period_of(row.at, period), group), []).append(row)
    out = []
    for (bucket, group), rows in sorted(groups.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        assigned = Counter(row.owner for row in rows if row.owner is not None)
        reps = [rep for rep in directory.reps.values() if (rep.team == group if by else True)
                and (owners is None or rep.id in owners)]
        weights = {rep.id: rep.weight for rep in reps}
        total, weight_sum = sum(assigned.values()), sum(weights.values())
        first: dict[int, object] = {}
        owners_of: dict[int, set[str]] = {}
        for row in rows:
            if row.handoff_id is None:
                continue
            first.setdefault(row.handoff_id, row)
            if row.owner is not None:
                owners_of.setdefault(row.handoff_id, set()).add(row.owner)
        waits, still = [], 0
        for handoff_id, row in first.items():
            if row.owner is None and handoff_id in opened:
                opened_at, assigned_at = opened[handoff_id]
                if assigned_at is None:
                    still += 1
                else:
                    waits.append((assigned_at - opened_at).total_seconds() / 60)
        reassigned = sum(1 for names in owners_of.values() if len(names) > 1)
        ratios = [assigned[rep] / weight for rep, weight in weights.items() if weight > 0]
        out.append({
            "group": group, "period": bucket, "decisions": len(rows), "assignments": total,
            "reps": [{"rep": rep, "assigned": assigned[rep], "weight": weight,
                      "share": round(assigned[rep] / total, 4) if total else None,
                      "expected_share": round(weight / weight_sum, 4) if weight_sum else None}
                     for rep, weight in weights.items()],
            "fairness": _jain(ratios),
            "catch_all_share": round(sum(1 for row in rows if row.rule_id in catch_all) / len(rows), 4),
            "queued_first": len(waits) + still, "queue_p50_min": quantile_days(waits, 0.5),
            "queue_p90_min": quantile_days(waits, 0.9), "still_queued": still,
            "handoffs": len(first), "reassigned": reassigned,
            "reassignment_rate": round(reassigned / len(first), 4) if first else None,
        })
    return out


def _jain(values: list[float]) -> float | None:
    """Jain's fairness index: (Σx)² / (n·Σx²); None without values or work."""
    squares = sum(x * x for x in values)
    return round(sum(values) ** 2 / (len(values) * squares), 4) if values and squares else None
