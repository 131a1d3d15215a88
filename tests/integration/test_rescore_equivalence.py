"""A rescore made fast (issue 14) leaves exactly what the plain replay of every lead leaves, on both backends.

Two stores get the same demo stream; the playbook changes (new MQLs, a new disqualifier, a
cleared one); one store is rescored by `rescore` (on PostgreSQL in worker processes, several
partitions each), the other by the replay as it was written before it was made fast: leads
and activities read and written through the lead store (SQLAlchemy Core), every engagement
rule judged on every activity. Every table must then hold the same rows (score changes but
for their row ids, and the reports' marks of leads to count again but for their order: a
parallel rescore writes both in another order).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadrelay.activity import rescore_store, rescore_workers
from leadrelay.activity.rescore import rescore
from leadrelay.activity.rescore_workers import RescoreWorkerFailed
from leadrelay.activity.service import ingest, record_playbook
from leadrelay.bootstrap import bootstrap
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.handoff.desk import desk_of
from leadrelay.lead import store as lead_store
from leadrelay.lead.engine import Outcome, process, reset_derived, sort_key
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.lifecycle import advance, qualify
from leadrelay.lead.scoring import engagement_at
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.settings import Settings
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import report_tables as rt
from leadrelay.storage import tables as t
from leadrelay.storage.tables import metadata
from leadrelay.storage.unit_of_work import UnitOfWork
from tests.conftest import _templates, postgres_database_url

START = datetime(2026, 9, 1, tzinfo=UTC)
NOW = START + timedelta(days=31)
CHANGES = (  # more points for pricing, a lower MQL bar, no size floor (reopens), students' titles disqualify more
    ("points: 10\n        cap: {per_day: 10, lifetime: 40}", "points: 12\n        cap: {per_day: 12, lifetime: 48}"),
    ('entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}',
     'entry: {all: [{fit: {">=": 40}}, {engagement: {">=": 20}}]}'),
    ("company_size: {min: 5}", "company_size: {min: 1}"),
    ("titles: ['\\bstudent\\b', '\\bintern\\b']", "titles: ['\\bstudent\\b', '\\bintern\\b', '\\banalyst\\b']"),
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def twin_urls(request, tmp_path):
    """Two fresh, migrated databases on one backend."""
    if request.param == "sqlite":
        urls = []
        for name in ("a.db", "b.db"):
            shutil.copyfile(_templates.sqlite(), tmp_path / name)
            urls.append(f"sqlite:///{tmp_path / name}")
        yield urls
        return
    first, second = postgres_database_url(), postgres_database_url()
    yield [next(first), next(second)]
    for made in (first, second):
        made.close()


def changed_playbook():
    text = starter_text()
    for old, new in CHANGES:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_playbook(text, "changed.yaml")


def stored(url: str):
    """The demo stream ingested with the starter playbook; the app, closed."""
    app = bootstrap(Settings(database_url=url), playbook=parse_playbook(starter_text(), "starter.yaml"),
                    clock=lambda: NOW)
    messages = generate_demo_stream(seed=7, visitors=250, start=START, days=30)
    ingest(app, [(str(i), m) for i, m in enumerate(messages)], source="demo", live=False)
    app.close()


def replay_every_lead(app, now):
    """The rescore as it was before it was made fast: 500 leads per transaction through the lead store, every
    engagement rule judged on every activity (no rules remembered by what they read)."""
    rules = app.playbook.rules
    rules = replace(rules, engagement_rules=tuple(replace(r, reads=None) for r in rules.engagement_rules),
                    _candidates={}, _matchers={})
    last_id = 0
    while True:
        with UnitOfWork(app, now) as uow:
            conn = uow.conn
            record_playbook(conn, app.playbook, now)
            ids = list(conn.scalars(
                select(t.leads.c.id).where(t.leads.c.merged_into.is_(None),
                                           t.leads.c.id.not_in(select(pt.erasures.c.lead_id)), t.leads.c.id > last_id)
                .order_by(t.leads.c.id).limit(500)))
            if not ids:
                return
            last_id = ids[-1]
            leads = lead_store.load_leads(conn, ids, for_update=True)
            activities = lead_store.lead_activities(conn, ids)
            outcome = Outcome()
            for lead_id in ids:
                lead, acts = leads[lead_id], sorted(activities[lead_id], key=sort_key)
                reset_derived(lead)
                process(lead, acts, rules, outcome, decide=False)
                moves = len(outcome.stage_changes)
                qualify(lead, rules, now, None, outcome.stage_changes)
                engagement = engagement_at(lead.scoring, max(now.timestamp(), lead.scoring.as_of or 0.0),
                                           rules.half_life_seconds)
                advance(lead, rules, engagement, now, None, outcome.stage_changes)
                for change in outcome.stage_changes[moves:]:
                    change.actor = change.actor + " (rescore)"
            lead_store.delete_score_changes(conn, ids)
            lead_store.insert_score_changes(conn, outcome.score_changes, rules.version)
            lead_store.insert_stage_changes(conn, outcome.stage_changes, rules.version)
            uow.publish(StagesMoved(outcome.stage_changes))
            desk_of(uow)
            lead_store.update_leads(conn, leads.values(), now)
            uow.commit()


def everything(app) -> dict:
    """Every table's rows, in order; score changes in each lead's order, without their row ids, and the marks of
    leads the reports must count again as how many each lead got (workers in parallel mark them in another order)."""
    out: dict = {}
    with app.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table is t.score_changes:
                c = table.c
                out[table.name] = conn.execute(select(*(col for col in table.c if col.name != "id"))
                                               .order_by(c.lead_id, c.id)).all()
            elif table is rt.report_dirty:
                out[table.name] = Counter(conn.scalars(select(table.c.lead_id)))
            else:
                out[table.name] = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
    return out


def test_a_rescore_leaves_what_replaying_every_lead_in_order_leaves(twin_urls, monkeypatch):
    for url in twin_urls:
        stored(url)
    playbook = changed_playbook()
    reference = bootstrap(Settings(database_url=twin_urls[0]), playbook=playbook, clock=lambda: NOW)
    fast = bootstrap(Settings(database_url=twin_urls[1]), playbook=playbook, clock=lambda: NOW)
    monkeypatch.setattr(rescore_workers, "LEADS_PER_TRANSACTION", 200)  # several partitions for the workers
    try:
        replay_every_lead(reference, NOW)
        report = rescore(fast, processes=2)
        assert report.processes == (2 if "postgresql" in twin_urls[1] else 1)
        assert set(report.moves) >= {"mql", "disqualified", "subscriber"}  # new MQLs, new and cleared disqualifiers
        assert report.handoffs_opened > 0
        expected, got = everything(reference), everything(fast)
        assert expected["score_changes"] and expected["stage_changes"]
        for table in expected:
            assert got[table] == expected[table], table
    finally:
        reference.close()
        fast.close()


def test_the_rescore_reads_every_activity_as_the_lead_store_does(database_url):
    stored(database_url)
    app = bootstrap(Settings(database_url=database_url), playbook=changed_playbook(), clock=lambda: NOW)
    try:
        with app.engine.connect() as conn:
            ids = list(conn.scalars(select(t.leads.c.id).order_by(t.leads.c.id)))
            expected = {lead_id: sorted(acts, key=sort_key)
                        for lead_id, acts in lead_store.lead_activities(conn, ids).items()}
            got = rescore_store.load_activities(conn, ids)
        assert sum(map(len, expected.values())) > 2000
        assert got == expected
    finally:
        app.close()


@pytest.fixture
def postgres_url():
    yield from postgres_database_url()


@pytest.mark.postgres
def test_a_failing_worker_stops_the_parallel_rescore_with_its_error(postgres_url, monkeypatch):
    stored(postgres_url)
    app = bootstrap(Settings(database_url=postgres_url), playbook=changed_playbook(), clock=lambda: NOW)

    def failing(*args, **kwargs):
        raise ValueError("the disk is on fire")

    monkeypatch.setattr(rescore_workers, "LEADS_PER_TRANSACTION", 200)
    monkeypatch.setattr(rescore_workers, "rescore_batch", failing)  # forked workers inherit it
    try:
        with pytest.raises(RescoreWorkerFailed, match="the disk is on fire"):
            rescore(app, processes=2)
    finally:
        app.close()
