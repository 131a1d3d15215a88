"""`storage.bulk.insert_rows` stores rows exactly as `conn.execute(insert(table), rows)` does, on both databases:
the same text for moments (whatever their zone, shared or not) on SQLite, the same JSON, booleans and NULLs."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from leadrelay.bootstrap import bootstrap
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.bulk import FEW, insert_rows

AT = datetime(2026, 10, 6, 14, 0, 0, 250_000, tzinfo=UTC)


def events(cause: str) -> list[dict]:
    """Rows as the desk writes them: most share one moment, some are in another zone, some JSON is awkward."""
    out = []
    for n in range(FEW + 10):  # enough for PostgreSQL's COPY (fewer go as one INSERT)
        at = AT if n % 4 else (AT + timedelta(minutes=n)).astimezone(timezone(timedelta(hours=-5)))
        out.append({"type": "LeadAssigned", "at": at, "recorded_at": AT, "lead_id": None, "handoff_id": n,
                    "cause": cause, "data": {"owner": f"rep{n}", "previous_owner": None, "reason": "ü → ß",
                                             "n": [n, 1.5, True, None]} if n % 5 else [],
                    "quiet": n % 2 == 0, "playbook_version": None if n % 3 else "v1"})
    return out


def stored(conn, cause: str, raw: bool) -> list[tuple]:
    c = h.domain_events.c
    columns = [column for column in h.domain_events.columns if column.name != "id"]
    if raw:  # what the database holds, before SQLAlchemy reads it back
        names = ", ".join(column.name for column in columns)
        return conn.exec_driver_sql(f"SELECT {names} FROM domain_events WHERE cause = '{cause}' ORDER BY id").all()
    return [tuple(row) for row in conn.execute(select(*columns).where(c.cause == cause).order_by(c.id))]


def test_bulk_inserted_rows_are_stored_as_sqlalchemy_stores_them(database_url):
    app = bootstrap(Settings(database_url=database_url))
    try:
        with app.engine.begin() as conn:
            conn.execute(insert(h.domain_events), events("core"))
            insert_rows(conn, h.domain_events, events("bulk"))
        with app.engine.connect() as conn:
            for raw in (True, False):
                core, bulk = stored(conn, "core", raw), stored(conn, "bulk", raw)
                assert len(bulk) == FEW + 10
                assert [row[:5] + row[6:] for row in bulk] == [row[:5] + row[6:] for row in core]  # but the cause
    finally:
        app.close()


def test_a_bulk_insert_without_a_column_sqlalchemy_would_default_is_refused(database_url):
    app = bootstrap(Settings(database_url=database_url))
    try:
        rows = [{key: value for key, value in row.items() if key != "quiet"} for row in events("bulk")]
        with app.engine.begin() as conn, pytest.raises(ValueError, match="without quiet"):
            insert_rows(conn, h.domain_events, rows)
    finally:
        app.close()


def test_a_bulk_insert_that_collides_raises_sqlalchemys_integrity_error(database_url):
    """A batch retried on a collision catches `IntegrityError` whether its rows went by COPY or by INSERT."""
    from sqlalchemy.exc import IntegrityError

    app = bootstrap(Settings(database_url=database_url))
    try:
        rows = events("collide")
        with app.engine.begin() as conn:
            first = conn.execute(insert(h.domain_events).returning(h.domain_events.c.id), rows[:1]).scalar_one()
        many = [row | {"id": first + 100 + n} for n, row in enumerate(rows[1:])] + [rows[1] | {"id": first}]
        for batch in ([rows[1] | {"id": first}], many):  # one INSERT, then (on PostgreSQL) a COPY
            with app.engine.connect() as conn, pytest.raises(IntegrityError):
                with conn.begin():
                    insert_rows(conn, h.domain_events, batch)
        with app.engine.connect() as conn:  # the failed transactions left nothing behind
            assert len(stored(conn, "collide", raw=False)) == 1
    finally:
        app.close()
