"""Upgrading a store written before the handoff model: statuses split, counters filled, nothing lost."""

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from leadrelay.storage import handoff_tables as h
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config, upgrade

WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def test_an_older_store_upgrades_open_handoffs_to_how_far_they_got_and_counts_past_assignments(empty_database_url):
    engine = connect(empty_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0005")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO leads (id, stage, segment, fit_score, engagement_score, version, traits, "
                              "trait_times, engine_state, created_at, updated_at) VALUES "
                              "(1, 'sal', 'new', 0, 0, 0, '{}', '{}', '{}', :t, :t)"), {"t": WHEN.replace(tzinfo=None)})
            rows = [(1, None, 0, "open"), (2, WHEN, 0, "open"), (3, WHEN, 2, "open"), (4, None, 0, "queued"),
                    (5, None, 0, "closed")]
            for handoff_id, accepted, touches, status in rows:
                conn.execute(text(
                    "INSERT INTO handoffs (id, lead_id, kind, from_function, to_function, owner, status, opened_at, "
                    "accepted_at, touches) VALUES (:id, 1, 'mql', 'marketing', 'sdr', 'ann', :s, :o, :a, :n)"),
                    {"id": handoff_id, "s": status, "o": WHEN.replace(tzinfo=None),
                     "a": accepted.replace(tzinfo=None) if accepted else None, "n": touches})
            for decision_id, owner in enumerate(["ann", "ann", "bob", None], start=1):
                conn.execute(text(
                    "INSERT INTO routing_decisions (id, lead_id, handoff_id, at, owner, reason, candidates, actor) "
                    "VALUES (:id, 1, 1, :at, :owner, 'r', '[]', 'rule:routing')"),
                    {"id": decision_id, "at": WHEN.replace(tzinfo=None), "owner": owner})
        upgrade(engine)
        with engine.connect() as conn:
            statuses = dict(conn.execute(select(h.handoffs.c.id, h.handoffs.c.status)).all())
            counters = {(r, d): n for r, d, n in conn.execute(select(h.rep_assignment_counts))}
        assert statuses == {1: "assigned", 2: "accepted", 3: "working", 4: "queued", 5: "closed"}
        assert counters == {("ann", ""): 2, ("bob", ""): 1}
    finally:
        engine.dispose()
