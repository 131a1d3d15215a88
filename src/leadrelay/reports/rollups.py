"""The cohort reports' rollups: facts counted per day, month and dimension, kept up to date incrementally.

A report then reads a few cells per group and period instead of every lead's history, so
its cost grows with the number of groups and days, not with the number of leads.

- **Marking.** Database triggers (migration 0009) put a lead in `report_dirty` whenever
  its stage history or one of its dimensions changes, whatever wrote it.
- **Refreshing** (`refresh`: every report does it first, and so does each worker sweep)
  takes the marks, takes back what each marked lead was counted as before (remembered in
  `report_leads`) and adds what it counts as now: the cells only ever change by the
  difference. Refreshes are serialized (one transaction at a time holds the marks).
- **Rebuilding** (`rebuild`, `leadrelay report rebuild`) counts everything again; a
  refresh does it by itself when the funnel's stages (from the playbook) changed, since
  "in order" depends on them.
- **Reading** (`read_tally`): whole months from the month cells, the days at either end
  from the day cells; ISO weeks from the day cells.

Each fact counts in the cell of every dimension: `all` (value ''), `source`, `campaign`,
`persona`, `segment`, `country` and `rep` (the owner). Teams are reps added up with the
playbook's teams when read, so a team change needs no rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, tuple_

from leadrelay.lead.stages import Stage
from leadrelay.reports.cohorts import Tally, journey_facts, period_of
from leadrelay.reports.sketch import Cell, encode
from leadrelay.storage import report_tables as r
from leadrelay.storage import tables as t

DIMENSIONS = ("source", "campaign", "persona", "segment", "country", "rep")
_CELL_DIMENSIONS = ("all", *DIMENSIONS)
_LEAD_COLUMNS = ("source", "campaign", "persona", "segment", "country", "owner")
_CHUNK = 5_000
_KEYS_PER_STATEMENT = 400
_LOCK = 0x4C52_5250  # "LRRP": the advisory lock that serializes refreshes on PostgreSQL

Key = tuple[str, str, date]  # dimension, value, day


def refresh(conn: Connection, basis: Sequence[Stage]) -> int:
    """Apply the marked leads to the cells, in the caller's transaction; returns how many leads were counted
    again. `basis`: the funnel's stages; when they differ from the ones the cells were counted with, every
    lead is counted again."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    wanted = ",".join(stage.value for stage in basis)
    if conn.scalar(select(r.report_state.c.value).where(r.report_state.c.key == "basis")) != wanted:
        return rebuild(conn, basis)
    marked = sorted(set(conn.scalars(delete(r.report_dirty).returning(r.report_dirty.c.lead_id))))
    deltas: dict[Key, dict[str, Cell]] = {}
    for i in range(0, len(marked), _CHUNK):
        _count_again(conn, marked[i:i + _CHUNK], basis, deltas)
    _apply(conn, deltas, fresh=False)
    return len(marked)


def rebuild(conn: Connection, basis: Sequence[Stage]) -> int:
    """Count every lead again from its stage history, in the caller's transaction; returns how many leads."""
    for table in (r.report_cells, r.report_leads, r.report_dirty, r.report_state):
        conn.execute(delete(table))
    conn.execute(insert(r.report_state), [{"key": "basis", "value": ",".join(stage.value for stage in basis)}])
    ids = list(conn.scalars(select(t.stage_changes.c.lead_id).distinct().order_by(t.stage_changes.c.lead_id)))
    deltas: dict[Key, dict[str, Cell]] = {}
    for i in range(0, len(ids), _CHUNK):
        _count_again(conn, ids[i:i + _CHUNK], basis, deltas, known=False)
    _apply(conn, deltas, fresh=True)
    return len(ids)


def _count_again(conn: Connection, lead_ids: list[int], basis: Sequence[Stage], deltas: dict[Key, dict[str, Cell]], *,
                 known: bool = True) -> None:
    """Add to `deltas` what the leads count as now, minus what they were counted as; remember the new."""
    lc, s, rl = t.leads.c, t.stage_changes.c, r.report_leads.c
    before: dict[int, tuple[list, list]] = {}
    if known:
        before = {row.lead_id: (row.dims, row.moves)
                  for row in conn.execute(select(rl.lead_id, rl.dims, rl.moves).where(rl.lead_id.in_(lead_ids)))}
    dims: dict[int, list[str]] = {
        row.id: ["" if v is None else v for v in row[1:]]
        for row in conn.execute(select(lc.id, *(lc[c] for c in _LEAD_COLUMNS)).where(
            lc.id.in_(lead_ids), lc.merged_into.is_(None)))}
    moves: dict[int, list[list[Any]]] = {}
    for lead_id, to_stage, at, transition in conn.execute(
            select(s.lead_id, s.to_stage, s.at, s.transition).where(s.lead_id.in_(lead_ids)).order_by(
                s.lead_id, s.at, s.id)):
        if lead_id in dims:
            moves.setdefault(lead_id, []).append([to_stage, at.timestamp(), transition])
    remembered = []
    for lead_id in lead_ids:
        old = before.get(lead_id)
        new = (dims[lead_id], moves[lead_id]) if lead_id in moves else None
        if new is not None:
            remembered.append({"lead_id": lead_id, "dims": new[0], "moves": new[1]})
        if old == new:
            continue
        if old is not None:
            _add(deltas, *old, basis, -1)
        if new is not None:
            _add(deltas, *new, basis, 1)
    if known:
        conn.execute(delete(r.report_leads).where(rl.lead_id.in_(lead_ids)))
    if remembered:
        conn.execute(insert(r.report_leads), remembered)


def _add(deltas: dict[Key, dict[str, Cell]], dims: Sequence[str], moves: Sequence[Sequence[Any]],
         basis: Sequence[Stage], sign: int) -> None:
    journey = [(Stage(stage), datetime.fromtimestamp(at, UTC), how) for stage, at, how in moves]
    values = tuple(zip(_CELL_DIMENSIONS, ("", *dims), strict=True))
    rows: dict[date, list[dict[str, Cell]]] = {}
    for metric, day, tenths in journey_facts(journey, basis):
        found = rows.get(day)
        if found is None:
            found = rows[day] = [deltas.setdefault((dimension, value, day), {}) for dimension, value in values]
        for cells in found:
            cell = cells.get(metric)
            if cell is None:
                cell = cells[metric] = Cell()
            cell.n += sign
            if tenths is not None:
                counts = cell.counts
                counts[tenths] = counts.get(tenths, 0) + sign


def _apply(conn: Connection, deltas: Mapping[Key, dict[str, Cell]], *, fresh: bool) -> None:
    """Add the day deltas, and the month deltas made from them, to the stored rows."""
    months: dict[Key, dict[str, Cell]] = {}
    for (dimension, value, day), cells in deltas.items():
        month = months.setdefault((dimension, value, day.replace(day=1)), {})
        for metric, cell in cells.items():
            total = month.get(metric)
            if total is None:
                total = month[metric] = Cell()
            total.absorb(cell)
    c = r.report_cells.c
    columns = tuple_(c.grain, c.dimension, c.value, c.day)
    for grain, rows in (("d", deltas), ("m", months)):
        keys = list(rows)
        for i in range(0, len(keys), _KEYS_PER_STATEMENT):
            part = [(grain, *key) for key in keys[i:i + _KEYS_PER_STATEMENT]]
            if not fresh:
                found = conn.execute(select(c.dimension, c.value, c.day, c.counts).where(columns.in_(part))).all()
                for dimension, value, day, stored in found:
                    cells = rows[(dimension, value, day)]
                    for metric, flat in stored.items():
                        _merge(cells, metric, flat[0], flat[1:])
                if found:
                    conn.execute(delete(r.report_cells).where(columns.in_(part)))
            out = []
            for key in part:
                counts = {metric: flat for metric, cell in rows[key[1:]].items()
                          if (flat := [cell.n, *encode(cell.counts)]) != [0]}
                if counts:
                    out.append({"grain": grain, "dimension": key[1], "value": key[2], "day": key[3],
                                "counts": counts})
            if out:
                conn.execute(insert(r.report_cells), out)


def _merge(cells: dict[str, Cell], metric: str, n: int, flat: Sequence[int]) -> None:
    cell = cells.get(metric)
    if cell is None:
        cell = cells[metric] = Cell()
    cell.merge(n, flat)


def read_tally(conn: Connection, metrics: Iterable[str], start: date | None, end: date | None, *,
               by: str | None, period: str | None, teams: Mapping[str, str],
               owners: Iterable[str] | None = None) -> Tally | None:
    """The cells of `metrics` for days in [start, end), added up per period and group.

    None when the cells cannot answer: a view limited to some reps' leads (`owners`) split
    by anything but rep or team (the caller counts those leads' journeys instead).
    """
    if owners is not None and by not in (None, "rep", "team"):
        return None
    dimension = "rep" if by == "team" or owners is not None else by or "all"
    wanted_metrics = set(metrics)
    c = r.report_cells.c
    wanted = select(c.value, c.day, c.counts).where(c.dimension == dimension)
    if owners is not None:
        wanted = wanted.where(c.value.in_(sorted(owners)))
    out: Tally = {}
    for grain, low, high in _spans(start, end, weekly=period == "week"):
        query = wanted.where(c.grain == grain)
        if low is not None:
            query = query.where(c.day >= low)
        if high is not None:
            query = query.where(c.day < high)
        for value, day, stored in conn.execute(query):
            group = "all" if by is None else (teams.get(value) if by == "team" else value) or "(none)"
            cells = out.setdefault((period_of(day, period), group), {})
            for metric in wanted_metrics.intersection(stored):
                flat = stored[metric]
                _merge(cells, metric, flat[0], flat[1:])
    return out


def _spans(start: date | None, end: date | None, *, weekly: bool) -> list[tuple[str, date | None, date | None]]:
    """Which cells cover [start, end): (grain, from, to) — whole months from month cells, the rest from days."""
    if weekly:
        return [("d", start, end)]
    first = None if start is None else start if start.day == 1 else _next_month(start)
    last = None if end is None else end.replace(day=1)
    if first is not None and last is not None and first >= last:
        return [("d", start, end)]
    spans = [("m", first, last)]
    if start is not None and first != start:
        spans.append(("d", start, first))
    if end is not None and last != end:
        spans.append(("d", last, end))
    return spans


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def pending(conn: Connection) -> int:
    """How many marks wait for a refresh."""
    return conn.scalar(select(func.count()).select_from(r.report_dirty)) or 0

