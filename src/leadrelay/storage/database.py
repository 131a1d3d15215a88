"""Connecting to the store: SQLite (embedded default, WAL, one writer) or PostgreSQL.

SQLite allows one writer at a time; a write transaction that starts as a read and later
upgrades can fail with "database is locked". So every transaction here starts with
`BEGIN IMMEDIATE`, taking the write lock up front and waiting for it (busy timeout).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from leadrelay.core.errors import StorageUnavailable

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

SQLITE_BUSY_TIMEOUT_MS = 30_000
# SQLite's page cache per connection (its default is 2 MB) and how much of the file it reads through a memory
# map (the OS's page cache, shared by every connection) instead of a read() per page: with the defaults, a store
# of a million leads whose indexes no longer fit made every lookup and insert slower as the store grew (issue 14).
SQLITE_CACHE_KIB = 65_536
SQLITE_MMAP_BYTES = 1 << 30


def _dumps(value: object) -> str:
    """JSON columns (payloads, candidates, events) are written on every hot path: orjson, and the standard
    library for what orjson refuses (integers past 64 bits, lone surrogates from a raw payload)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


_JSON = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


def normalise_url(url: str) -> str:
    """Accept the URLs people write (postgres://, postgresql://) and pick the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def connect(url: str, *, check: bool = True) -> Engine:
    """An engine for `url`. With `check`, connect once so a bad URL fails here with a clear message."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **_JSON)
            _sqlite_pragmas(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5}, **_JSON)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise StorageUnavailable(f"bad database URL {_masked(url)!r}: {exc}") from None
    except ImportError as exc:
        hint = " (PostgreSQL's driver is an extra: pip install 'leadrelay[postgresql]')" \
            if exc.name and exc.name.startswith("psycopg") else ""
        raise StorageUnavailable(f"no database driver for {_masked(url)!r} ({exc.name} is not installed){hint}; "
                                 "LeadRelay speaks sqlite:// and postgresql://") from None
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            engine.dispose()
            detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageUnavailable(f"cannot connect to {safe_url(url)}: {detail}") from None
    return engine


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _masked(url: str) -> str:
    """Hide a password even in a URL too broken to parse."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work: commits when the block ends, rolls back if it raises."""
    with engine.begin() as conn:
        yield conn


def upsert_into(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the connection's dialect (PostgreSQL's or SQLite's), which both give
    `on_conflict_do_update` and `on_conflict_do_nothing`."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
