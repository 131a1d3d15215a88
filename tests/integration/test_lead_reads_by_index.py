"""Showing a lead reads what it shows by index: no statement of `leads show` goes through a whole table.

bench/scale.py found `leads show` twice as slow in a store five times larger: the leads merged
into the one shown were found by reading every lead (no index on `merged_into`), and its alerts
through the index on the events' (type, time), every alert of every lead. Each statement the read
runs is planned here by SQLite (`EXPLAIN QUERY PLAN`): a plan that scans one of the store's big
tables fails the test, whatever the data (the planner's choice depends on the indexes only:
SQLite keeps no statistics here).
"""

from pathlib import Path

import pytest
from sqlalchemy import event

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.lead.queries import explain_lead
from leadrelay.settings import Settings
from tests.conftest import T0
from tests.messages import identify, numbered, page, track

BIG = ("leads", "activities", "identities", "score_changes", "stage_changes", "domain_events", "handoffs",
       "routing_decisions", "sla_timers", "outbox", "touches", "meetings", "suppressions")


@pytest.fixture
def app(tmp_path: Path, playbook, clock):
    application = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'show.db'}"), playbook=playbook,
                            clock=clock)
    yield application
    application.close()


def statements_of(app, call) -> list[tuple[str, object]]:
    """The SELECTs `call` runs, with their parameters."""
    seen: list[tuple[str, object]] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(app.engine, "before_cursor_execute", remember)
    try:
        call()
    finally:
        event.remove(app.engine, "before_cursor_execute", remember)
    return seen


def test_showing_a_lead_scans_no_table_whole(app):
    ingest(app, numbered([
        identify(user="u1", email="ana@acme.io", when=T0, company="Acme", title="VP Marketing"),
        page("/pricing", user="u1", when=T0),
        track("Demo Requested", user="u1", when=T0),
        identify(user="u2", email="bo@acme.io", when=T0),
    ]))
    statements = statements_of(app, lambda: explain_lead(app, "ana@acme.io"))
    assert len(statements) > 10  # the whole read was seen
    scans = []
    with app.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters in statements:
            for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters or ()):
                detail = row[-1]
                whole = any(detail == f"SCAN {table}" or detail.startswith(f"SCAN {table} ") for table in BIG)
                # one lead's events, found among every event of their type
                every_of_type = "domain_events.lead_id =" in statement and "ix_domain_events_type_at" in detail
                if whole or every_of_type:
                    scans.append(f"{detail}: {' '.join(statement.split())[:160]}")
    assert scans == []
