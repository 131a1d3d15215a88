"""The funnel now: how many leads are in each stage, how many ever entered it, and conversion.

`reached` counts the leads whose history shows them entering the stage: a hand-raiser that
jumped from lead to SAL did not reach MQL, and does not inflate MQL → SAL. The conversion
to the next stage is the share of the leads that entered a stage who later entered the next
one. (`leadrelay report funnel` follows cohorts over time; this is the picture of today.)
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, select
from sqlalchemy.orm import aliased

from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.storage import tables as t


def funnel(conn: Connection) -> dict:
    """Counts per stage now, leads that ever entered each stage, and conversion from each stage to the next."""
    c, sc = t.leads.c, t.stage_changes.c
    live = c.merged_into.is_(None)
    current: dict[str | None, int] = dict(
        conn.execute(select(c.stage, func.count()).where(live).group_by(c.stage)).tuples().all())
    entered: dict[str, int] = dict(conn.execute(
        select(sc.to_stage, func.count(func.distinct(sc.lead_id))).join(t.leads, c.id == sc.lead_id)
        .where(live).group_by(sc.to_stage)).tuples().all())
    here, after = aliased(t.stage_changes), aliased(t.stage_changes)
    stages = []
    for i, stage in enumerate(FUNNEL):
        nxt = FUNNEL[i + 1] if i + 1 < len(FUNNEL) else None
        reached = entered.get(stage.value, 0)
        rate = None
        if nxt is not None and reached:
            moved_on = conn.scalar(select(func.count(func.distinct(here.c.lead_id))).select_from(here).join(
                after, and_(after.c.lead_id == here.c.lead_id, after.c.to_stage == nxt.value,
                            after.c.at >= here.c.at)).join(t.leads, c.id == here.c.lead_id)
                .where(here.c.to_stage == stage.value, live))
            assert moved_on is not None  # a count always has its row
            rate = moved_on / reached
        stages.append({
            "stage": stage.value,
            "current": current.get(stage.value, 0),
            "reached": reached,
            "conversion_to_next": round(rate, 4) if rate is not None else None,
        })
    known = sum(n for s, n in current.items() if s is not None)
    return {
        "stages": stages,
        "disqualified": current.get(Stage.DISQUALIFIED.value, 0),
        "known_leads": known,
        "anonymous_visitors": current.get(None, 0),
    }
