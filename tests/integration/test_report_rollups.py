"""The cohort reports' rollups, on both databases: kept up to date change by change, they must say exactly what
counting every lead's journey again says, for every dimension, period and range of days.

The store is written with plain SQL here (as any writer might): the triggers must notice every change.
"""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.lead.store import move_lead_rows
from leadrelay.reports import cohorts, rollups
from leadrelay.reports.loading import load_records
from leadrelay.reports.records import tally_records
from leadrelay.storage import report_tables as r
from leadrelay.storage import tables as t

START = datetime(2026, 8, 20, tzinfo=UTC)
TEAMS = {"ann": "east", "bob": "east", "cid": "west"}
BASIS = FUNNEL
PATHS = [  # (stage, transition, days after the previous move)
    [("subscriber", "identify", 0)],
    [("subscriber", "identify", 0), ("lead", "advance", 1.5), ("mql", "advance", 3.25)],
    [("subscriber", "identify", 0), ("lead", "advance", 0.2), ("sal", "hand_raise", 0.1), ("sql", "advance", 4)],
    [("subscriber", "identify", 0), ("lead", "advance", 2), ("mql", "advance", 1), ("sal", "advance", 0.5),
     ("sql", "advance", 12.5), ("opportunity", "convert", 3), ("customer", "won", 41)],
    [("subscriber", "identify", 0), ("lead", "advance", 2), ("mql", "advance", 1), ("lead", "recycle", 9),
     ("mql", "advance", 30), ("sal", "advance", 140)],
]


def write_leads(conn, rng: random.Random, first_id: int, count: int) -> None:
    leads, moves = [], []
    for lead_id in range(first_id, first_id + count):
        at = START + timedelta(hours=rng.randrange(0, 24 * 75))
        path = rng.choice(PATHS)
        leads.append({"id": lead_id, "email": f"p{lead_id}@x.io", "traits": {}, "trait_times": {},
                      "engine_state": {}, "stage": path[-1][0], "segment": rng.choice(["new", "recycled"]),
                      "source": rng.choice(["google", "bing", None]), "campaign": rng.choice(["c1", "c2"]),
                      "country": rng.choice(["US", "DE"]), "persona": rng.choice(["buyer", None]),
                      "owner": rng.choice(["ann", "bob", "cid", "dan", None]), "version": 1,
                      "created_at": at, "updated_at": at})
        for stage, how, days in path:
            at += timedelta(days=days * rng.uniform(0.5, 1.5))
            moves.append({"lead_id": lead_id, "to_stage": stage, "at": at, "transition": how, "actor": "test"})
    conn.execute(insert(t.leads), leads)
    conn.execute(insert(t.stage_changes), moves)


def comparable(found: cohorts.Tally) -> dict:
    return {key: {metric: (cell.n, sorted((k, v) for k, v in cell.counts.items() if v))
                  for metric, cell in sorted(cells.items()) if cell.n}
            for key, cells in found.items() if any(cell.n for cell in cells.values())}


QUESTIONS = [  # by, period, first day, day after the last
    (None, None, None, None), ("source", "month", None, None), ("team", "week", None, None),
    ("rep", "quarter", date(2026, 9, 10), date(2026, 11, 3)), ("persona", None, date(2026, 9, 1), date(2026, 10, 1)),
    ("segment", "month", date(2026, 9, 5), date(2026, 9, 25)), ("country", None, None, date(2026, 10, 15)),
    ("campaign", "month", date(2026, 10, 1), None),
]


def assert_cells_count_what_the_journeys_say(engine, metrics: list[str], basis=BASIS) -> None:
    with engine.connect() as conn:
        records = list(load_records(conn, list(range(1, 1000))).values())
        for by, period, first, stop in QUESTIONS:
            bounds = tuple(None if d is None else datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (first, stop))
            want = tally_records(records, "lead", metrics, by=by, period=period, teams=TEAMS, owners=None,
                                 basis=basis, days=bounds)
            got = rollups.read_tally(conn, "lead", metrics, first, stop, by=by, period=period, teams=TEAMS)
            assert comparable(got) == comparable(want), (by, period, first, stop)


def every_metric() -> list[str]:
    names = ["start", "lk.back:", "lk.stale", "lk.stall:"]
    for here in FUNNEL:
        names += [f"in:{here.value}", f"stay:{here.value}", f"still:{here.value}", f"step:{here.value}"]
        names += [f"{kind}:{here.value}:{there.value}" for there in FUNNEL[here.rank + 1:]
                  for kind in ("any", "ord", "jump")]
    return names


def stored_cells(engine) -> dict:
    with engine.connect() as conn:
        return {(row.grain, row.dimension, row.value, row.day, row.part): row.counts
                for row in conn.execute(select(r.report_cells))}


@pytest.fixture
def engine(app):
    return app.engine


def test_rollups_kept_up_to_date_change_by_change_count_what_the_journeys_say(engine):
    rng = random.Random(4)
    metrics = every_metric()
    with engine.begin() as conn:
        write_leads(conn, rng, 1, 150)
        assert rollups.refresh(conn, BASIS) == 150  # the first refresh counts everything
    assert_cells_count_what_the_journeys_say(engine, metrics)

    with engine.begin() as conn:  # more leads, new moves, reassignments, a new persona, a merge
        write_leads(conn, rng, 151, 60)
        conn.execute(insert(t.stage_changes), [
            {"lead_id": 1, "to_stage": "lead", "at": START + timedelta(days=80), "transition": "advance",
             "actor": "test"}])
        conn.execute(update(t.leads).where(t.leads.c.id.in_([2, 3, 4])).values(owner="cid"))
        conn.execute(update(t.leads).where(t.leads.c.id == 5).values(persona="champion"))
        move_lead_rows(conn, 6, 7)
        conn.execute(update(t.leads).where(t.leads.c.id == 6).values(merged_into=7))
        assert rollups.pending(conn) > 0
        rollups.refresh(conn, BASIS)
        assert rollups.pending(conn) == 0
    assert_cells_count_what_the_journeys_say(engine, metrics)

    incremental = stored_cells(engine)
    with engine.begin() as conn:
        rollups.rebuild(conn, BASIS)
    assert stored_cells(engine) == incremental  # nothing was lost or counted twice on the way


def test_rollups_count_everything_again_when_the_funnel_stages_change(engine):
    with engine.begin() as conn:
        write_leads(conn, random.Random(7), 1, 80)
        rollups.refresh(conn, BASIS)
    without_mql = tuple(s for s in FUNNEL if s is not Stage.MQL)
    with engine.begin() as conn:
        assert rollups.refresh(conn, without_mql) == 80  # "in order" means something else now
    assert_cells_count_what_the_journeys_say(engine, every_metric(), basis=without_mql)


def test_an_unchanged_lead_is_not_counted_twice(engine):
    with engine.begin() as conn:
        write_leads(conn, random.Random(1), 1, 20)
        rollups.refresh(conn, BASIS)
    before = stored_cells(engine)
    with engine.begin() as conn:
        owner = conn.scalar(select(t.leads.c.owner).where(t.leads.c.id == 3))
        conn.execute(update(t.leads).where(t.leads.c.id == 3).values(owner="zed"))
        conn.execute(update(t.leads).where(t.leads.c.id == 3).values(owner=owner))
        assert rollups.refresh(conn, BASIS) == 1
    assert stored_cells(engine) == before
