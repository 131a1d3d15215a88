"""A hand-raiser costs a bounded number of statements: on PostgreSQL each is a round trip (issue 14).

A demo request from a known lead is checked for a duplicate, found, stored, moved to SAL, handed
over, routed and timed, all in one transaction. Traced statement by statement, it took 28 round
trips on PostgreSQL (25 statements on SQLite, with its BEGIN); the identity locks are now one
statement, a rep's loads come with the day's counters, and a handoff's few SLA timers are
inserted together. This holds the count: a change that adds round trips to the hottest path
must say so here.
"""

from sqlalchemy import event, select

from leadrelay.activity.service import ingest
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from tests.conftest import T0
from tests.messages import identify, numbered, page, track

MOST = {"sqlite": 23, "postgresql": 25}  # SQLite: its BEGIN IMMEDIATE, no advisory locks


def test_a_hand_raiser_is_moved_routed_and_timed_within_its_statement_budget(app, database_url):
    ingest(app, numbered([identify(user="u1", email="ana@acme.io", when=T0, company="Acme", title="VP Marketing"),
                          page("/pricing", user="u1", when=T0),
                          identify(user="u0", email="bo@globex.io", when=T0, company="Globex", title="CMO")]))
    # what a process asks once (is its playbook stored, a table's id sequence) is asked by this one first
    ingest(app, [("the first hand-raiser", track("Demo Requested", user="u0", when=T0))])
    seen: list[str] = []

    def remember(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split())[:100])

    event.listen(app.engine, "before_cursor_execute", remember)
    try:
        ingest(app, [("hand-raiser", track("Demo Requested", user="u1", when=T0))])
    finally:
        event.remove(app.engine, "before_cursor_execute", remember)
    with app.engine.connect() as conn:
        lead_id, stage = conn.execute(select(t.leads.c.id, t.leads.c.stage).where(t.leads.c.user_id == "u1")).one()
        assert stage == "sal"
        assert conn.scalar(select(h.handoffs.c.owner).where(h.handoffs.c.status == "assigned",
                                                            h.handoffs.c.lead_id == lead_id)) is not None
    assert len(seen) <= MOST[app.engine.dialect.name], "\n".join(seen)
