"""Upgrading a store written before the report rollups: the first report counts what was already there."""

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import insert

from leadrelay.bootstrap import bootstrap
from leadrelay.playbook.loader import starter_playbook
from leadrelay.reports.catalog import report_request, run_report
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config

WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_an_older_store_is_counted_into_the_rollups_by_the_first_report(empty_database_url):
    engine = connect(empty_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0008")
            conn.execute(insert(t.leads), [
                {"id": n, "stage": stage, "segment": "new", "source": "ads", "traits": {}, "trait_times": {},
                 "engine_state": {}, "version": 0, "created_at": WHEN, "updated_at": WHEN}
                for n, stage in ((1, "mql"), (2, "lead"), (3, "mql"))])
            conn.execute(insert(t.stage_changes), [
                {"lead_id": n, "to_stage": stage, "at": WHEN + timedelta(days=day), "transition": "advance",
                 "actor": "test"}
                for n, stage, day in ((1, "lead", 0), (1, "mql", 2), (2, "lead", 1), (3, "lead", 1), (3, "mql", 5))])
    finally:
        engine.dispose()
    app = bootstrap(Settings(database_url=empty_database_url), playbook=starter_playbook())  # migrates to the head
    try:
        [row] = run_report(app, report_request("conversion", from_stage="lead", to_stage="mql", by="source"))["rows"]
        assert (row["group"], row["entered"], row["converted"], row["median_days"]) == ("ads", 3, 2, 2.0)
    finally:
        app.close()
