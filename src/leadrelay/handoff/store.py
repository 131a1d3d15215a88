"""The handoff's SQL: what the handoff desk and the SLA clockwork read and write, in one place.

`HandoffStore` is the shape the desk (`desk.py`) and the clockwork (`clocks.py`) rely on;
`SqlHandoffStore` keeps it in the database through the unit of work's connection, with
batched statements (a queue assigned at once is a handful of statements, not a row each).
Tests run the same handoff logic on an in-memory store (`tests/fakes.py`), to the second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Insert, Integer, Row, String, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.core.app import App
from leadrelay.delivery.notices import Notice
from leadrelay.handoff.directory import COUNTS_OF, account_owners, effective_directory, lock_routing, rep_loads
from leadrelay.handoff.model import OPEN_STATUSES, Handoff
from leadrelay.handoff.routing import Directory, Load
from leadrelay.handoff.rows import handoff_from_row, handoff_values
from leadrelay.handoff.sla import Timer
from leadrelay.lead.store import allocate_ids, chunks
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.bulk import insert_rows
from leadrelay.storage.tables import UTCDateTime
from leadrelay.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from leadrelay.playbook.notifications import Notifications

FEW_TIMERS = 200  # timers built as rows here, as one statement (more: an INSERT ... SELECT per timer)
TIMER_COLUMNS = ("handoff_id", "lead_id", "policy_id", "deadline", "step", "step_index", "action", "due_at", "fire_at")


class HandoffStore(Protocol):
    """Where handoffs, their timers, routing decisions, suppressions, domain events and notices live."""

    # the reps as routing sees them
    def directory(self, app: App) -> Directory: ...
    def loads(self, directory: Directory, days: dict[str, str] | None = None) -> dict[str, Load]: ...
    def daily_counts(self, days: dict[str, str]) -> dict[tuple[str, str], int]: ...
    def add_counts(self, counts: Counter) -> None: ...
    def account_owners(self, account_ids: Iterable[int], domains: Iterable[str]) -> tuple[dict[int, str],
                                                                                          dict[str, str]]: ...
    # handoffs
    def open_handoffs(self, lead_ids: Iterable[int]) -> dict[int, Handoff]: ...
    def handoffs(self, ids: Iterable[int]) -> dict[int, Handoff]: ...
    def new_handoff_id(self) -> int: ...
    def insert_handoff(self, handoff: Handoff, version: str) -> None: ...
    def update_handoffs(self, ids: Sequence[int], values: dict[str, Any]) -> None: ...
    def insert_decisions(self, rows: list[dict]) -> None: ...
    # SLA timers
    def claim_due_timers(self, now: datetime, limit: int) -> Sequence[Any]: ...
    def insert_timers(self, policy_id: str, due: dict[str, datetime], timers: Sequence[Timer],
                      handoffs: Sequence[tuple[int, int]]) -> None: ...
    def cancel_timers(self, handoff_id: int, deadline: str | None, why: str, now: datetime, *,
                      from_index: int | None = None) -> None: ...
    def ladder_started(self, handoff_id: int, clock: str) -> bool: ...
    def write_timers(self, outcomes: list[tuple[int, str, bool]], rows: list[dict], now: datetime) -> None: ...
    # suppressions
    def active_suppressions(self, lead_id: int) -> set[str]: ...
    def insert_suppressions(self, rows: list[dict]) -> None: ...
    def lift_suppressions(self, lead_id: int, why: str, now: datetime) -> list[str]: ...
    # the log and the outbox
    def insert_events(self, rows: list[dict]) -> None: ...
    def enqueue(self, notices: Sequence[Notice], notifications: Notifications, now: datetime) -> None: ...
    def withdraw_notices(self, lead_id: int, email: str, event_types: tuple[str, ...], why: str) -> int: ...
    def flush(self) -> None: ...


class SqlHandoffStore:
    """`HandoffStore` on the unit of work's connection."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def flush(self) -> None:
        """Nothing is buffered here: the desk batches, this writes at once."""

    # --- the reps as routing sees them ---------------------------------------------------

    def directory(self, app: App) -> Directory:
        lock_routing(self.conn)  # one router at a time, so caps hold across processes
        return effective_directory(self.conn, app)

    def loads(self, directory: Directory, days: dict[str, str] | None = None) -> dict[str, Load]:
        return rep_loads(self.conn, directory, days=days)

    def daily_counts(self, days: dict[str, str]) -> dict[tuple[str, str], int]:
        """Assignments per (rep, local day), for the days asked of each rep."""
        return {(rep, day): n for rep, day, n in self.conn.execute(
            COUNTS_OF, {"reps": sorted(days), "days": sorted(set(days.values()))}) if days.get(rep) == day}

    def add_counts(self, counts: Counter) -> None:
        """Add to the per-rep assignment counters (an upsert on both databases)."""
        self.conn.execute(_counts_upsert(self.conn.dialect.name), [{"rep": rep, "day": day, "assigned": n}
                                                                   for (rep, day), n in sorted(counts.items())])

    def account_owners(self, account_ids: Iterable[int], domains: Iterable[str]) -> tuple[dict[int, str],
                                                                                          dict[str, str]]:
        return account_owners(self.conn, account_ids, domains)

    # --- handoffs ------------------------------------------------------------------------

    def open_handoffs(self, lead_ids: Iterable[int]) -> dict[int, Handoff]:
        ids = sorted(set(lead_ids))
        rows: Iterable[Row[Any]] = self.conn.execute(_OPEN_HANDOFFS, {"ids": ids}) if ids else []
        return {row.lead_id: handoff_from_row(row) for row in rows}

    def handoffs(self, ids: Iterable[int]) -> dict[int, Handoff]:
        rows = self.conn.execute(select(h.handoffs).where(h.handoffs.c.id.in_(sorted(set(ids)))))
        return {row.id: handoff_from_row(row) for row in rows}

    def new_handoff_id(self) -> int:
        return allocate_ids(self.conn, h.handoffs, 1)[0]

    def insert_handoff(self, handoff: Handoff, version: str) -> None:
        self.conn.execute(_HANDOFF_INSERT, {"id": handoff.id, "playbook_version": version, **handoff_values(handoff)})

    def update_handoffs(self, ids: Sequence[int], values: dict[str, Any]) -> None:
        statement = update(h.handoffs).where(h.handoffs.c.id.in_(bindparam("ids", expanding=True))).values(values)
        for part in chunks(ids):  # the ids as one parameter: SQLAlchemy does not look at each
            self.conn.execute(statement, {"ids": list(part)})

    def insert_decisions(self, rows: list[dict]) -> None:
        insert_rows(self.conn, h.routing_decisions, rows)

    # --- SLA timers ----------------------------------------------------------------------

    def claim_due_timers(self, now: datetime, limit: int) -> Sequence[Any]:
        """Pending timers whose moment has come, oldest first; on PostgreSQL locked, skipping those
        another worker holds. The routing lock comes first: else two workers splitting one
        handoff's timers deadlock."""
        lock_routing(self.conn)
        c = h.sla_timers.c
        query = select(h.sla_timers).where(c.fired_at.is_(None), c.cancelled_at.is_(None), c.fire_at <= now) \
            .order_by(c.fire_at, c.id).limit(limit)
        if self.conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return self.conn.execute(query).all()

    def insert_timers(self, policy_id: str, due: dict[str, datetime], timers: Sequence[Timer],
                      handoffs: Sequence[tuple[int, int]]) -> None:
        """Each timer of one plan for every handoff sharing it ((handoff id, lead id) pairs), timer by timer, so
        each handoff's timers get ids in plan order. A few handoffs' timers go as one statement; a queue's, one
        INSERT ... SELECT per timer and chunk (no row built here per handoff and timer)."""
        if len(handoffs) * len(timers) <= FEW_TIMERS:
            insert_rows(self.conn, h.sla_timers, [
                {"handoff_id": handoff_id, "lead_id": lead_id, "policy_id": policy_id, "deadline": timer.deadline,
                 "step": timer.step, "step_index": timer.index, "action": timer.action,
                 "due_at": due[timer.deadline], "fire_at": timer.fire_at}
                for timer in timers for handoff_id, lead_id in sorted(handoffs)])
            return
        ids = sorted(handoff_id for handoff_id, _ in handoffs)
        for timer in timers:
            constants = {"t_policy": policy_id, "t_deadline": timer.deadline, "t_step": timer.step,
                         "t_index": timer.index, "t_action": timer.action, "t_due": due[timer.deadline],
                         "t_fire": timer.fire_at}
            for part in chunks(ids):
                self.conn.execute(_timer_insert(), {**constants, "ids": list(part)})

    def cancel_timers(self, handoff_id: int, deadline: str | None, why: str, now: datetime, *,
                      from_index: int | None = None) -> None:
        """Cancel pending timers. A deadline met late keeps its overdue timers: the breach still counts.

        `from_index`: only the clock's escalation steps from that index on (re-timed or restarted).
        """
        c = h.sla_timers.c
        query = update(h.sla_timers).where(c.handoff_id == handoff_id, c.fired_at.is_(None), c.cancelled_at.is_(None))
        if deadline is not None:
            query = query.where(c.deadline == deadline)
            query = query.where(c.step == "escalation", c.step_index >= from_index) if from_index is not None \
                else query.where(c.due_at >= now)
        self.conn.execute(query.values(cancelled_at=now, outcome=why))

    def ladder_started(self, handoff_id: int, clock: str) -> bool:
        """Whether the clock's escalation steps were planned for this handoff (its ladder runs)."""
        c = h.sla_timers.c
        return self.conn.scalar(select(c.id).where(c.handoff_id == handoff_id, c.deadline == clock,
                                                   c.step == "escalation").limit(1)) is not None

    def write_timers(self, outcomes: list[tuple[int, str, bool]], rows: list[dict], now: datetime) -> None:
        """Stored timers' outcomes ((id, outcome, fired)), and new timers (`rows`, outcome set when done)."""
        c = h.sla_timers.c
        for timer_id, outcome, fired in outcomes:
            self.conn.execute(update(h.sla_timers).where(c.id == timer_id).values(
                {c.cancelled_at: None if fired else now, c.fired_at: now if fired else None, c.outcome: outcome}))
        if rows:
            self.conn.execute(insert(h.sla_timers), rows)

    # --- suppressions --------------------------------------------------------------------

    def active_suppressions(self, lead_id: int) -> set[str]:
        return set(self.conn.scalars(_ACTIVE_SUPPRESSIONS, {"lead_id": lead_id}))

    def insert_suppressions(self, rows: list[dict]) -> None:
        self.conn.execute(insert(h.suppressions), rows)

    def lift_suppressions(self, lead_id: int, why: str, now: datetime) -> list[str]:
        """Lift the lead's suppressions that are not permanent; the channels lifted."""
        c = h.suppressions.c
        return list(self.conn.scalars(update(h.suppressions).where(
            c.lead_id == lead_id, c.permanent.is_(False), c.lifted_at.is_(None))
            .values(lifted_at=now, lifted_reason=why).returning(c.channel)))

    # --- the log and the outbox ----------------------------------------------------------

    def insert_events(self, rows: list[dict]) -> None:
        insert_rows(self.conn, h.domain_events, rows)

    def enqueue(self, notices: Sequence[Notice], notifications: Notifications, now: datetime) -> None:
        from leadrelay.delivery.outbox import enqueue

        enqueue(self.conn, notices, notifications, now)

    def withdraw_notices(self, lead_id: int, email: str, event_types: tuple[str, ...], why: str) -> int:
        from leadrelay.delivery.outbox import withdraw

        return withdraw(self.conn, lead_id, email, event_types, why)


def sql_handoff_store(uow: UnitOfWork) -> SqlHandoffStore:
    return SqlHandoffStore(uow.conn)


def handoff_store(uow: UnitOfWork) -> HandoffStore:
    """The unit of work's handoff store (its SQL one; a fake unit of work registers its own)."""
    return uow.part(sql_handoff_store)


# Statements built once: building a Core statement costs more than SQLite takes to run it (a hand-raiser runs
# some twenty), so the hot ones take their values as parameters.
_HANDOFF_INSERT = insert(h.handoffs)
_OPEN_HANDOFFS = select(h.handoffs).where(h.handoffs.c.lead_id.in_(bindparam("ids", expanding=True)),
                                          h.handoffs.c.status.in_(OPEN_STATUSES))
_ACTIVE_SUPPRESSIONS = select(h.suppressions.c.channel).where(h.suppressions.c.lead_id == bindparam("lead_id"),
                                                              h.suppressions.c.lifted_at.is_(None))


@cache
def _timer_insert() -> Insert:
    """One timer of a plan for many handoffs: INSERT ... SELECT over the handoffs' ids (parameter `ids`)."""
    c = h.handoffs.c
    constants = (bindparam("t_policy", type_=String), bindparam("t_deadline", type_=String),
                 bindparam("t_step", type_=String), bindparam("t_index", type_=Integer),
                 bindparam("t_action", type_=String), bindparam("t_due", type_=UTCDateTime),
                 bindparam("t_fire", type_=UTCDateTime))
    return insert(h.sla_timers).from_select(TIMER_COLUMNS, select(c.id, c.lead_id, *constants)
                                            .where(c.id.in_(bindparam("ids", expanding=True))).order_by(c.id))


@cache
def _counts_upsert(dialect_name: str) -> Insert:
    """Add to the (rep, day) counters: an upsert in the store's dialect."""
    table = h.rep_assignment_counts
    statement = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    return statement.on_conflict_do_update(index_elements=["rep", "day"],
                                           set_={"assigned": table.c.assigned + statement.excluded.assigned})
