"""Which leads a write marks for the rollups' next refresh (`report_dirty`), the same on both databases.

SQLite marks them with a trigger per row (migration 0009); PostgreSQL with a trigger per statement
that inserts the distinct leads its rows touched (migration 0021, issue 14: the row triggers cost
assigning a queue more than the assignments). Both must mark exactly: a lead whose row changed in
a column the reports read (not another column); the lead of every stage change, handoff, domain
event, touch and routing decision inserted (not a row without a lead); an outbox row's lead when
it is sent (not on another update); both leads when stage history moves from one to the other.
"""

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update

from leadrelay.storage import handoff_tables as h
from leadrelay.storage import report_tables as r
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox

AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def marked(conn) -> list[int]:
    """The leads marked since the last call (and forget them), in order, as often as marked per statement."""
    found = sorted(set(conn.scalars(select(r.report_dirty.c.lead_id))))
    conn.execute(delete(r.report_dirty))
    return found


def lead(lead_id: int) -> dict:
    return {"id": lead_id, "email": f"p{lead_id}@x.io", "traits": {}, "trait_times": {}, "engine_state": {},
            "stage": "lead", "version": 1, "created_at": AT, "updated_at": AT}


def test_a_write_marks_exactly_the_leads_whose_reported_facts_it_changed(app):
    with app.engine.begin() as conn:
        conn.execute(insert(t.leads), [lead(n) for n in (1, 2, 3)])
        marked(conn)  # inserting a lead marks nothing: its first stage change does

        conn.execute(update(t.leads).where(t.leads.c.id.in_([1, 2])).values(fit_score=50.0, version=2))
        assert marked(conn) == []  # not a column the reports read
        conn.execute(update(t.leads).values(owner="ann"))
        assert marked(conn) == [1, 2, 3]
        conn.execute(update(t.leads).values(owner="ann", stage="lead"))
        assert marked(conn) == []  # written, but unchanged
        conn.execute(update(t.leads).where(t.leads.c.id == 2).values(stage="mql", fit_score=10.0))
        assert marked(conn) == [2]

        conn.execute(insert(t.stage_changes), [
            {"lead_id": n, "to_stage": "lead", "at": AT, "transition": "advance", "actor": "test"} for n in (1, 1, 3)])
        assert marked(conn) == [1, 3]
        conn.execute(update(t.stage_changes).where(t.stage_changes.c.lead_id == 3).values(lead_id=2))
        assert marked(conn) == [2, 3]  # history moved by a merge: the lead it left, and the lead it joined

        events = [{"type": "LeadAssigned", "at": AT, "recorded_at": AT, "lead_id": n, "handoff_id": None,
                   "cause": "test", "data": {}, "quiet": False} for n in (3, None, 3)]
        conn.execute(insert(h.domain_events), events)
        assert marked(conn) == [3]  # an event about no lead marks nobody

        conn.execute(insert(outbox), [
            {"message_id": f"msg_{n}", "event_type": "lead.assigned", "channel": "webhook", "target": "crm",
             "lead_id": n, "payload": {}, "status": "pending", "attempts": 0, "next_attempt_at": AT,
             "created_at": AT} for n in (1, 2)])
        assert marked(conn) == []  # a notice is counted once sent
        conn.execute(update(outbox).values(attempts=1))
        assert marked(conn) == []
        conn.execute(update(outbox).where(outbox.c.lead_id == 2).values(status="sent", sent_at=AT))
        assert marked(conn) == [2]
