"""The funnel: how many leads are in each stage now, how many ever reached it, and conversion."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.storage import tables as t


def funnel(conn: Connection) -> dict:
    """Counts per stage and conversion from each stage to the next.

    `reached` counts leads whose furthest stage is at or beyond the stage (a lead that
    jumped from subscriber to SAL reached lead and MQL too); conversion to the next
    stage is reached(next) / reached(stage).
    """
    c = t.leads.c
    live = c.merged_into.is_(None)
    current = dict(conn.execute(select(c.stage, func.count()).where(live).group_by(c.stage)).all())
    furthest = dict(conn.execute(
        select(c.furthest_stage, func.count()).where(live, c.furthest_stage.is_not(None)).group_by(c.furthest_stage)
    ).all())
    reached = {}
    running = 0
    for stage in reversed(FUNNEL):
        running += furthest.get(stage.value, 0)
        reached[stage] = running
    stages = []
    for i, stage in enumerate(FUNNEL):
        nxt = FUNNEL[i + 1] if i + 1 < len(FUNNEL) else None
        rate = reached[nxt] / reached[stage] if nxt and reached[stage] else None
        stages.append({
            "stage": stage.value,
            "current": current.get(stage.value, 0),
            "reached": reached[stage],
            "conversion_to_next": round(rate, 4) if rate is not None else None,
        })
    known = sum(n for s, n in current.items() if s is not None)
    return {
        "stages": stages,
        "disqualified": current.get(Stage.DISQUALIFIED.value, 0),
        "known_leads": known,
        "anonymous_visitors": current.get(None, 0),
    }
