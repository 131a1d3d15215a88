"""The unit of work: one transaction, and everything the engine decided inside it.

Every write that can move a lead goes through one: ingest, rescore, CSV import, rep
actions, the sales side, the API and the worker. It opens the transaction (BEGIN
IMMEDIATE on SQLite, so the write lock is taken up front). What the decisions set off is
collected by the transaction's *parts* — the handoff desk is one: domain events for the
append-only log, routing decisions, SLA timers, suppressions, outbox notices — and
`commit()` writes them and commits, together. Leaving the block without `commit()` (or
with an error) rolls everything back, so a refused action changes nothing. Once committed, the
worker is woken for what the transaction left due now (`storage.wake`: outbox messages, say).

A stage move has the same consequences whoever makes it: `publish` hands the lead's
messages (`StageMoveProposed`, `StagesMoved`) to the handlers the composition root
subscribed on the app's bus, in this transaction. `quiet=True` is for loading history:
everything is recorded at its historical time, nobody is told.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, RootTransaction

from leadrelay.core.app import App
from leadrelay.storage import wake


class Part(Protocol):
    """Something that collects what a transaction decided and writes it at commit."""

    def flush(self) -> None: ...


P = TypeVar("P", bound=Part)


class UnitOfWork:
    """`with UnitOfWork(app, now) as uow: ...; uow.commit()`: see the module docstring."""

    def __init__(self, app: App, now: datetime | None = None, *, quiet: bool = False):
        self.app = app
        self.now = now or app.clock()
        self.quiet = quiet
        self.committed = False
        self._connection: Connection | None = None
        self._transaction: RootTransaction | None = None
        self._parts: dict[Callable[[UnitOfWork], Any], Part] = {}

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
            if self._connection is not None:
                wake.discard(self._connection)  # no-op after a commit
                self._connection.close()

    @property
    def conn(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("a unit of work is used inside its `with` block")
        return self._connection

    def part(self, make: Callable[[UnitOfWork], P]) -> P:
        """This transaction's part made by `make` (made on first use: reading needs none)."""
        found = self._parts.get(make)
        if found is None:
            found = self._parts[make] = make(self)
        return found  # type: ignore[return-value]

    def provide(self, make: Callable[[UnitOfWork], Any], part: Part) -> None:
        """Use `part` wherever `make`'s would be asked for (a fake unit of work gives in-memory stores)."""
        self._parts[make] = part

    def publish(self, message: Any) -> None:
        """Run the handlers subscribed to this message on the app's bus, in this transaction."""
        self.app.bus.publish(self, message)

    def commit(self) -> None:
        """Write what the decisions set off (events, decisions, timers, notices), commit, then wake the worker
        for what is due now (`storage.wake`)."""
        for part in list(self._parts.values()):
            part.flush()
        assert self._transaction is not None, "commit() inside `with UnitOfWork(...)`"
        self._transaction.commit()
        self.committed = True
        wake.committed(self.conn)
