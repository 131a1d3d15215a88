"""Reading the stage history into journeys: the leads that entered a stage between two moments.

Each journey is one lead's moves in time order and the values of its dimensions. The
dimensions are the lead's: `source` and `campaign` (first touch), `persona`, `segment`
(new or recycled), `country`, `rep` (its owner) and `team` (the owner's team in the
playbook). Merged-away leads are left out: the survivor carries the history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, and_, func, select

from leadrelay.lead.stages import Stage
from leadrelay.reports.cohorts import Journey
from leadrelay.storage import tables as t

DIMENSIONS = ("source", "campaign", "persona", "segment", "country", "team", "rep")
_LEAD_COLUMNS = ("source", "campaign", "persona", "segment", "country", "owner")
_CHUNK = 5_000


def within(query: Select, value: Any, start: datetime | None, end: datetime | None, *,
           having: bool = False) -> Select:
    """`query` narrowed to start <= value < end (either bound may be None); `having` when `value` aggregates."""
    narrow = query.having if having else query.where
    if start is not None:
        query = narrow(value >= start)
        narrow = query.having if having else query.where
    if end is not None:
        query = narrow(value < end)
    return query


def journeys(conn: Connection, stage: Stage | None, start: datetime | None, end: datetime | None, *,
             teams: dict[str, str], owners: Iterable[str] | None = None) -> list[Journey]:
    """Journeys of the leads whose first entry into `stage` (None: first move) falls in [start, end).

    `teams`: rep -> team, for the `team` dimension. `owners`: only leads these reps own
    (what a rep or a manager may see); None for everyone.
    """
    s, lc = t.stage_changes.c, t.leads.c
    entered = select(s.lead_id).group_by(s.lead_id)
    if stage is not None:
        entered = entered.where(s.to_stage == stage.value)
    entered = within(entered, func.min(s.at), start, end, having=True)
    leads = select(lc.id, *(lc[name] for name in _LEAD_COLUMNS)).where(
        lc.id.in_(entered.scalar_subquery()), lc.merged_into.is_(None))
    if owners is not None:
        leads = leads.where(lc.owner.in_(sorted(owners)))
    dims: dict[int, dict[str, Any]] = {}
    for row in conn.execute(leads):
        dims[row.id] = {"source": row.source, "campaign": row.campaign, "persona": row.persona,
                        "segment": row.segment, "country": row.country, "rep": row.owner,
                        "team": teams.get(row.owner) if row.owner else None}
    moves: dict[int, list[tuple[Stage, datetime, str]]] = {lead_id: [] for lead_id in dims}
    ids = sorted(dims)
    for i in range(0, len(ids), _CHUNK):
        part = ids[i:i + _CHUNK]
        query = select(s.lead_id, s.to_stage, s.at, s.transition).where(
            and_(s.lead_id.in_(part))).order_by(s.lead_id, s.at, s.id)
        for lead_id, to_stage, at, transition in conn.execute(query):
            moves[lead_id].append((Stage(to_stage), at, transition))
    return [Journey(lead_id, tuple(moves[lead_id]), dims[lead_id]) for lead_id in ids]
