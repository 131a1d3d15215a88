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
- **Upgrading.** When a release changes what some leads count for (`FACTS`), the first
  refresh after it marks those leads (`_CHANGED`) and counts them again with the others.
- **Reading** (`read_tally`): whole months from the month cells, the days at either end
  from the day cells; ISO weeks from the day cells.

Each fact counts in the cell of every dimension: `all` (value ''), `source`, `campaign`,
`persona`, `segment`, `country` and `rep` (the owner). Teams are reps added up with the
playbook's teams when read, so a team change needs no rebuild.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date

from sqlalchemy import Connection, delete, func, insert, select, text, tuple_

from leadrelay.lead.stages import Stage, Transition
from leadrelay.reports.cohorts import period_of
from leadrelay.reports.leakage import SLA_ACTOR
from leadrelay.reports.loading import load_records
from leadrelay.reports.records import FAMILIES, WITHOUT_ALL, lead_facts
from leadrelay.reports.sketch import Cell, Tally, encode, wanted
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import report_tables as r
from leadrelay.storage import tables as t

_CHUNK = 2_000
_KEYS_PER_STATEMENT = 400
_LOCK = 0x4C52_5250  # "LRRP": the advisory lock that serializes refreshes on PostgreSQL
_CELLS = {family: ((() if family in WITHOUT_ALL else ("all",)) + tuple(dims.values()))
          for family, dims in FAMILIES.items()}

Key = tuple[str, str, date]  # dimension, value, day

# The version of what a lead counts for, kept in `report_state` (a store without it: 1). Each later version
# names the leads whose facts it changed: a refresh in a store counted with an older version marks them.
FACTS = 3
_CHANGED = {
    2: lambda: select(h.handoffs.c.lead_id).where(h.handoffs.c.policy_id.is_not(None)).distinct(),  # closed before due
    3: lambda: select(t.stage_changes.c.lead_id).where(  # leakage: an SLA return counted apart from rejections
        t.stage_changes.c.transition == Transition.REJECT.value,
        t.stage_changes.c.actor.startswith(SLA_ACTOR)).distinct(),
}
Stored = list  # [[family, [cell values], [[metric, day ordinal, bucket], ...]], ...]: what a lead counted for


def refresh(conn: Connection, basis: Sequence[Stage]) -> int:
    """Apply the marked leads to the cells, in the caller's transaction; returns how many leads were counted
    again. `basis`: the funnel's stages; when they differ from the ones the cells were counted with, every
    lead is counted again."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    wanted = ",".join(stage.value for stage in basis)
    state = dict(conn.execute(select(r.report_state.c.key, r.report_state.c.value)).tuples().all())
    if state.get("basis") != wanted:
        return rebuild(conn, basis)
    counted_with = int(state.get("facts", 1))
    if counted_with < FACTS:
        for version in range(counted_with + 1, FACTS + 1):
            conn.execute(insert(r.report_dirty).from_select(["lead_id"], _CHANGED[version]()))
        conn.execute(delete(r.report_state).where(r.report_state.c.key == "facts"))
        conn.execute(insert(r.report_state), [{"key": "facts", "value": str(FACTS)}])
    marked = sorted(set(conn.scalars(delete(r.report_dirty).returning(r.report_dirty.c.lead_id))))
    deltas: Counter = Counter()
    for i in range(0, len(marked), _CHUNK):
        _count_again(conn, marked[i:i + _CHUNK], basis, deltas)
    _apply(conn, deltas, fresh=False)
    return len(marked)


def rebuild(conn: Connection, basis: Sequence[Stage]) -> int:
    """Count every lead again, in the caller's transaction; returns how many leads."""
    for table in (r.report_cells, r.report_leads, r.report_dirty, r.report_state):
        conn.execute(delete(table))
    conn.execute(insert(r.report_state), [{"key": "basis", "value": ",".join(stage.value for stage in basis)},
                                          {"key": "facts", "value": str(FACTS)}])
    lc = t.leads.c
    ids = list(conn.scalars(select(lc.id).where(lc.merged_into.is_(None), lc.stage.is_not(None)).order_by(lc.id)))
    deltas: Counter = Counter()
    for i in range(0, len(ids), _CHUNK):
        _count_again(conn, ids[i:i + _CHUNK], basis, deltas, known=False)
    _apply(conn, deltas, fresh=True)
    return len(ids)


def _count_again(conn: Connection, lead_ids: list[int], basis: Sequence[Stage], deltas: Counter, *,
                 known: bool = True) -> None:
    """Add to `deltas` what the leads count for now, minus what they counted for before; remember the new."""
    rl = r.report_leads.c
    before: dict[int, Stored] = {}
    if known:
        before = dict(conn.execute(select(rl.lead_id, rl.facts).where(rl.lead_id.in_(lead_ids))).tuples().all())
    records = load_records(conn, lead_ids)
    remembered = []
    for lead_id in lead_ids:
        old = before.get(lead_id)
        record = records.get(lead_id)
        new = _stored(lead_facts(record, basis)) if record is not None else None
        if new:
            remembered.append({"lead_id": lead_id, "facts": new})
        if old == new:
            continue
        if old:
            deltas.subtract(_keys(old))
        if new:
            deltas.update(_keys(new))
    if known:
        conn.execute(delete(r.report_leads).where(rl.lead_id.in_(lead_ids)))
    if remembered:
        conn.execute(insert(r.report_leads), remembered)


def _stored(groups) -> Stored:
    return [[family, ["" if dims.get(name) is None else dims[name] for name in FAMILIES[family]],
             [[metric, day.toordinal(), tenths] for metric, day, tenths in facts]]
            for family, dims, facts in groups]


def _keys(stored: Stored) -> Iterator[tuple[str, str, int, str, int | None]]:
    """Each fact once per cell it counts in: (dimension, value, day ordinal, metric, bucket)."""
    for family, values, facts in stored:
        for dimension, value in zip(_CELLS[family], values if family in WITHOUT_ALL else ("", *values), strict=True):
            for metric, ordinal, tenths in facts:
                yield dimension, value, ordinal, metric, tenths


def _apply(conn: Connection, deltas: Counter, *, fresh: bool) -> None:
    """Add the counted facts to the stored rows of their days and months."""
    rows: dict[tuple[str, str, str, date], dict[str, Cell]] = {}
    days: dict[int, tuple[date, date]] = {}
    sums: dict[str, bool] = {}
    for (dimension, value, ordinal, metric, tenths), count in deltas.items():
        if not count:
            continue
        when = days.get(ordinal)
        if when is None:
            day = date.fromordinal(ordinal)
            when = days[ordinal] = (day, day.replace(day=1))
        is_sum = sums.get(metric)
        if is_sum is None:
            is_sum = sums[metric] = metric.startswith("sum:")
        for key in (("d", dimension, value, when[0]), ("m", dimension, value, when[1])):
            cells = rows.get(key)
            if cells is None:
                cells = rows[key] = {}
            cell = cells.get(metric)
            if cell is None:
                cell = cells[metric] = Cell()
            if is_sum:
                cell.n += (tenths or 0) * count
            else:
                cell.n += count
                if tenths is not None:
                    counts = cell.counts
                    counts[tenths] = counts.get(tenths, 0) + count
    c = r.report_cells.c
    columns = tuple_(c.grain, c.dimension, c.value, c.day)
    keys = list(rows)
    for i in range(0, len(keys), _KEYS_PER_STATEMENT):
        chunk = keys[i:i + _KEYS_PER_STATEMENT]
        if not fresh:
            found = conn.execute(select(c.grain, c.dimension, c.value, c.day, c.counts).where(
                columns.in_(chunk))).all()
            for grain, dimension, value, day, stored in found:
                cells = rows[(grain, dimension, value, day)]
                for metric, flat in stored.items():
                    _merge(cells, metric, flat[0], flat[1:])
            if found:
                conn.execute(delete(r.report_cells).where(columns.in_(chunk)))
        out = []
        for key in chunk:
            parts: dict[str, dict[str, list[int]]] = {}
            for metric, cell in rows[key].items():
                flat = [cell.n, *encode(cell.counts)]
                if flat != [0]:
                    parts.setdefault(part_of(metric), {})[metric] = flat
            out += [{"grain": key[0], "dimension": key[1], "value": key[2], "day": key[3], "part": part,
                     "counts": counts} for part, counts in parts.items()]
        if out:
            conn.execute(insert(r.report_cells), out)


def _merge(cells: dict[str, Cell], metric: str, n: int, flat: list[int]) -> None:
    cell = cells.get(metric)
    if cell is None:
        cell = cells[metric] = Cell()
    cell.merge(n, flat)


def read_tally(conn: Connection, family: str, metrics: Iterable[str], start: date | None, end: date | None, *,
               by: str | None, period: str | None, teams: Mapping[str, str],
               owners: Iterable[str] | None = None) -> Tally | None:
    """The cells of `metrics` (of one family's facts) for days in [start, end), added up per period and group.

    None when the cells cannot answer: a view limited to some reps' work (`owners`) split by
    anything but rep (or, for leads, team): the caller counts those leads' facts instead.
    """
    dims = FAMILIES[family]
    by_team = family == "lead" and by == "team"  # a lead's team is its owner's
    if owners is not None:
        if "rep" not in dims or by not in (None, "rep") and not by_team:
            return None
        dimension = dims["rep"]
    else:
        dimension = "all" if by is None else dims["rep"] if by_team else dims[by]
    out: Tally = {}
    for grain, low, high in _spans(start, end, weekly=period == "week"):
        for value, day, cells in _rows(conn, dimension, owners, grain, low, high, metrics):
            group = "all" if by is None else (teams.get(value) if by_team else value) or "(none)"
            _absorb(out.setdefault((period_of(day, period), group), {}), cells)
    return out


def read_days(conn: Connection, family: str, metrics: Iterable[str], grain: str, start: date | None,
              end: date | None, *, owners: Iterable[str] | None = None) -> dict[date, dict[str, Cell]]:
    """The cells of `metrics` per day (grain `d`) or month (`m`, dated its first day) in [start, end), for
    everyone or for the reps in `owners`."""
    dimension = "all" if owners is None else FAMILIES[family]["rep"]
    out: dict[date, dict[str, Cell]] = {}
    for _, day, cells in _rows(conn, dimension, owners, grain, start, end, metrics):
        _absorb(out.setdefault(day, {}), cells)
    return out


def _absorb(into: dict[str, Cell], cells: Mapping[str, Cell]) -> None:
    for metric, cell in cells.items():
        total = into.get(metric)
        if total is None:
            into[metric] = cell
        else:
            total.absorb(cell)


def _rows(conn: Connection, dimension: str, values: Iterable[str] | None, grain: str, low: date | None,
          high: date | None, metrics: Iterable[str]):
    """(value, day, {metric: cell}) of the stored rows; a metric ending in ':' stands for every metric it starts."""
    c = r.report_cells.c
    query = select(c.value, c.day, c.counts).where(c.grain == grain, c.dimension == dimension,
                                                   c.part.in_(sorted({part_of(m) for m in metrics})))
    if values is not None:
        query = query.where(c.value.in_(sorted(values)))
    if low is not None:
        query = query.where(c.day >= low)
    if high is not None:
        query = query.where(c.day < high)
    asked = wanted(metrics)
    for value, day, stored in conn.execute(query):
        cells = {}
        for metric, flat in stored.items():
            if asked(metric):
                cell = cells[metric] = Cell()
                cell.merge(flat[0], flat[1:])
        if cells:
            yield value, day, cells


def _spans(start: date | None, end: date | None, *, weekly: bool) -> list[tuple[str, date | None, date | None]]:
    """Which cells cover [start, end): (grain, from, to) — whole months from month cells, the rest from days."""
    if weekly:
        return [("d", start, end)]
    first = None if start is None else start if start.day == 1 else next_month(start)
    last = None if end is None else end.replace(day=1)
    if first is not None and last is not None and first >= last:
        return [("d", start, end)]
    spans = [("m", first, last)]
    if start is not None and first != start:
        spans.append(("d", start, first))
    if end is not None and last != end:
        spans.append(("d", last, end))
    return spans


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def part_of(metric: str) -> str:
    """Which part of a row holds `metric` (a report reads only the parts it needs): a funnel cohort's metrics
    (`c.STAGE`), velocity's (`v`), or the family named before the first dot (`lk`, `st`, `ps`, `sla`, `r`, `s`)."""
    name = metric[4:] if metric.startswith("sum:") else metric
    kind, _, rest = name.partition(":")
    if kind in ("in", "any", "ord", "jump"):
        return "c." + rest.partition(":")[0]
    if kind in ("start", "stay", "still", "step"):
        return "v"
    return name.partition(".")[0]


def pending(conn: Connection) -> int:
    """How many marks wait for a refresh."""
    return conn.scalar(select(func.count()).select_from(r.report_dirty)) or 0

