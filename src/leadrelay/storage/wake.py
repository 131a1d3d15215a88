"""Waking the worker: a commit that leaves work due now rings it, so that it need not poll for that work.

A transaction that writes something the worker must act on at once calls `request(conn, kind)` on
its connection: OUTBOX for outbox messages due now (the courier claims them), SWEEP for the sweeps.
The ring reaches the worker two ways:

- In this process (`serve --worker`, on SQLite and PostgreSQL alike): `committed(conn)`, called
  once the transaction has committed (`UnitOfWork.commit`, `begin`), rings every bell waiting on
  that database for that kind. Never before the commit: a woken courier would find nothing yet.
- From other processes, on PostgreSQL: `request` also runs `pg_notify(CHANNEL, 'kind:schema')` in
  the transaction, which PostgreSQL delivers at commit (never on rollback; once per transaction and
  kind). A process that waits on bells (`listening`) keeps one `Listener` thread per database,
  with a connection of its own that LISTENs and rings the bells each notification names; one for
  a store in another schema of the same database is ignored.

Polling stays the fallback: whoever waits on a bell still looks every interval. A listening
connection that is lost is logged, retried every few seconds meanwhile, and logged again when back.
Each time it starts listening every bell is rung, for whatever was committed while nobody listened
(before the first LISTEN too: a waiter's first look may have come just before it).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, func, literal
from sqlalchemy import select as sql_select

log = logging.getLogger(__name__)

CHANNEL = "leadrelay_work"
OUTBOX = "outbox"  # outbox messages due now
# Work for the sweeps. Rung when listening (re)starts; no write asks for it yet: a lead is queued only when
# no rep can take it at that moment, and what frees a rep for it (a lead closed, a rep's room changed) is
# written elsewhere, with the next sweep a second away by default.
SWEEP = "sweep"
KINDS = (OUTBOX, SWEEP)
APPLICATION_NAME = "leadrelay wake-up"  # the listening connection, as pg_stat_activity shows it
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits between attempts to listen again; the last one repeats
READ_SECONDS = 0.02  # how long a read of the listening connection waits for more, once it had something

_lock = threading.Lock()
_requested: weakref.WeakKeyDictionary[Connection, set[str]] = weakref.WeakKeyDictionary()
_bells: dict[tuple[str, str], set[threading.Event]] = {}  # (database, kind) -> the events waiting on it
_listeners: dict[str, tuple[Listener, int]] = {}  # database -> its listener and how many wait on it


def request(conn: Connection, kind: str) -> None:
    """Ask for the worker to be woken for `kind` when `conn`'s transaction commits (see the module docstring)."""
    with _lock:
        kinds = _requested.setdefault(conn, set())
        asked = kind in kinds
        kinds.add(kind)
    if not asked and conn.dialect.name == "postgresql":
        conn.execute(sql_select(func.pg_notify(CHANNEL, literal(f"{kind}:") + func.current_schema())))


def committed(conn: Connection) -> None:
    """`conn`'s transaction committed: ring this process's bells for what it asked for."""
    with _lock:
        kinds = _requested.pop(conn, None)
    if kinds:
        ring(_database(conn.engine), kinds)


def discard(conn: Connection) -> None:
    """`conn`'s transaction rolled back: nothing to ring (PostgreSQL drops its notifications itself)."""
    with _lock:
        _requested.pop(conn, None)


@contextmanager
def begin(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()` for a transaction that may `request` a wake-up: rung once it has committed."""
    with engine.begin() as conn:
        try:
            yield conn
        except BaseException:
            discard(conn)
            raise
    committed(conn)


def ring(database: str, kinds: Iterable[str] = KINDS) -> None:
    """Set every event waiting on `database` for one of `kinds`."""
    with _lock:
        events = [event for kind in kinds for event in _bells.get((database, kind), ())]
    for event in events:
        event.set()


@contextmanager
def listening(engine: Engine, kind: str, bell: threading.Event) -> Iterator[None]:
    """Set `bell` whenever work of `kind` is committed on `engine`'s database, while the block runs.

    On PostgreSQL the process listens for other processes' commits meanwhile (one `Listener`
    per database, shared by every block waiting on it).
    """
    database = _database(engine)
    with _lock:
        _bells.setdefault((database, kind), set()).add(bell)
        listener = None
        if engine.dialect.name == "postgresql":
            listener, users = _listeners.get(database, (None, 0))
            if listener is None:
                listener = Listener(engine, database)
            _listeners[database] = (listener, users + 1)
    if listener is not None:
        listener.start()
    try:
        yield
    finally:
        with _lock:
            _bells[(database, kind)].discard(bell)
            if listener is not None:
                _, users = _listeners[database]
                if users == 1:
                    del _listeners[database]
                else:
                    _listeners[database] = (listener, users - 1)
                    listener = None
        if listener is not None:
            listener.stop()


class Listener:
    """One thread LISTENing on a PostgreSQL connection of its own, ringing the bells each notification names.

    The connection is not the engine pool's: it stays in LISTEN for as long as the process waits on
    bells. TCP keepalives find a connection that died silently; a lost one is retried (see the
    module docstring).
    """

    def __init__(self, engine: Engine, database: str):
        self.engine, self.database = engine, database
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stop_r, self._stop_w = socket.socketpair()  # wakes the thread out of select() to stop

    def start(self) -> None:
        with _lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="wake-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (waits for the thread)."""
        self._stopping.set()
        self._stop_w.send(b"x")
        if self._thread is not None:
            self._thread.join()
        self._stop_r.close()
        self._stop_w.close()

    def _run(self) -> None:
        lost_at: float | None = None
        attempt = 0
        while not self._stopping.is_set():
            try:
                conn, schema = self._connect()
            except Exception as exc:  # any failure to connect: poll meanwhile, try again
                if lost_at is None:
                    lost_at = time.monotonic()
                    log.warning("cannot listen for work on the database (%s); polling until it answers", _line(exc))
                self._pause(attempt)
                attempt += 1
                continue
            if lost_at is not None:
                log.info("listening for work again after %.1fs", time.monotonic() - lost_at)
            ring(self.database)  # whatever was committed before this LISTEN, or while nobody listened
            lost_at, attempt = None, 0
            try:
                self._listen(conn, schema)
            except Exception as exc:  # the connection broke: poll meanwhile, connect again
                if not self._stopping.is_set():
                    lost_at = time.monotonic()
                    log.warning("lost the connection listening for work (%s); polling until it is back", _line(exc))
            finally:
                _close(conn)

    def _connect(self) -> tuple[Any, str]:
        """A new listening connection, and the schema whose notifications are ours."""
        import psycopg

        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        conn = psycopg.connect(*args, **{**kwargs, "autocommit": True, "connect_timeout": 5,
                                         "application_name": APPLICATION_NAME, "keepalives": 1,
                                         "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3})
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            schema = str(conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
        except BaseException:
            conn.close()
            raise
        return conn, schema

    def _listen(self, conn: Any, schema: str) -> None:
        """Ring the bells each notification for `schema` names, until stopped (returns) or the connection breaks
        (raises)."""
        while True:
            readable, _, _ = select.select([conn.fileno(), self._stop_r], [], [])
            if self._stop_r in readable:
                return
            for notify in conn.notifies(timeout=READ_SECONDS):  # what arrived; raises if the connection is gone
                kind, _, theirs = notify.payload.partition(":")
                if theirs == schema:
                    ring(self.database, [kind])

    def _pause(self, attempt: int) -> None:
        self._stopping.wait(RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)])


def _database(engine: Engine) -> str:
    """What names a database across engines (two Apps of one process on one store share bells)."""
    return engine.url.render_as_string(hide_password=False)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection: nothing left to do
        pass


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
