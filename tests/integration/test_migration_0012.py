"""Upgrading a store written before meetings: a touch with the outcome `meeting_booked` becomes a booked
meeting, so the SQL gate still sees it, and open handoffs get an empty follow-up clock."""

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from leadrelay.sales.sql_gate import meeting_booked
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config, upgrade

WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_an_older_stores_meeting_booked_touches_become_booked_meetings_the_gate_sees(empty_database_url):
    engine = connect(empty_database_url)
    naive = WHEN.replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0011")
        with engine.begin() as conn:
            for lead_id in (1, 2):
                conn.execute(text("INSERT INTO leads (id, stage, segment, fit_score, engagement_score, version, "
                                  "traits, trait_times, engine_state, created_at, updated_at) VALUES "
                                  "(:id, 'sal', 'new', 0, 0, 0, '{}', '{}', '{}', :t, :t)"),
                             {"id": lead_id, "t": naive})
                conn.execute(text(
                    "INSERT INTO handoffs (id, lead_id, kind, from_function, to_function, owner, status, opened_at, "
                    "touches) VALUES (:id, :id, 'mql', 'marketing', 'sdr', 'ann', 'working', :o, 1)"),
                    {"id": lead_id, "o": naive})
            for touch_id, lead_id, outcome in ((1, 1, "meeting_booked"), (2, 2, "voicemail")):
                conn.execute(text("INSERT INTO touches (id, lead_id, handoff_id, rep, kind, outcome, at) VALUES "
                                  "(:id, :lead, :lead, 'ann', 'call', :outcome, :at)"),
                             {"id": touch_id, "lead": lead_id, "outcome": outcome, "at": naive})
        upgrade(engine)
        with engine.connect() as conn:
            meetings = conn.execute(select(h.meetings.c.lead_id, h.meetings.c.status, h.meetings.c.host,
                                           h.meetings.c.booked_at, h.meetings.c.starts_at)).all()
            assert [tuple(m) for m in meetings] == [(1, "booked", "ann", WHEN, None)]
            assert meeting_booked(conn, 1) and not meeting_booked(conn, 2)
            assert conn.scalar(select(h.handoffs.c.follow_up_due_at).where(h.handoffs.c.id == 1)) is None
    finally:
        engine.dispose()
