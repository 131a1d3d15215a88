"""The unit of work: one transaction, and everything the engine decided inside it.

Every write that can move a lead goes through one: ingest, rescore, CSV import, rep
actions, the sales side, the API and the worker. It opens the transaction (BEGIN
IMMEDIATE on SQLite, so the write lock is taken up front), and its handoff desk collects
what the decisions set off — domain events for the append-only log, routing decisions,
SLA timers, suppressions, outbox notices. `commit()` writes them and commits, together;
leaving the block without `commit()` (or with an error) rolls everything back, so a
refused action changes nothing.

A stage move has the same consequences whoever makes it: `stage_changed` hands the moves
to the handoff handlers (`HandoffDesk.on_stage_changes`). `quiet=True` is for loading
history: everything is recorded at its historical time, nobody is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType

from sqlalchemy import Connection, RootTransaction

from leadrelay.domain.lifecycle import StageChange
from leadrelay.services.app import App
from leadrelay.services.handoffs import HandoffDesk


class UnitOfWork:
    """`with UnitOfWork(app, now) as uow: ...; uow.commit()`: see the module docstring."""

    def __init__(self, app: App, now: datetime | None = None, *, quiet: bool = False):
        self.app = app
        self.now = now or app.clock()
        self.quiet = quiet
        self.committed = False
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._desk: HandoffDesk | None = None

    def __enter__(self) -> UnitOfWork:
        self._connection = self.app.engine.connect()
        self._transaction = self._connection.begin()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._transaction is not None and self._transaction.is_active:
                self._transaction.rollback()
        finally:
            self._connection.close()

    @property
    def conn(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("a unit of work is used inside its `with` block")
        return self._connection

    @property
    def desk(self) -> HandoffDesk:
        """The handoff handlers of this transaction (made on first use: reading needs none)."""
        if self._desk is None:
            self._desk = HandoffDesk(self.conn, self.app, self.now, quiet=self.quiet)
        return self._desk

    def stage_changed(self, changes: Sequence[StageChange]) -> None:
        """Stage moves already stored: open, close or retarget handoffs, suppress, record, notify."""
        if changes:
            self.desk.on_stage_changes(changes)

    def commit(self) -> None:
        """Write what the decisions set off (events, decisions, timers, notices), then commit."""
        if self._desk is not None:
            self._desk.flush()
        self._transaction.commit()
        self.committed = True
