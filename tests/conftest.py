"""Shared fixtures: every storage test runs on SQLite and, when reachable, on PostgreSQL.

Under CI (CI=true) an unreachable PostgreSQL is a failure, not a skip. Each PostgreSQL
test gets its own database, a copy of one migrated per test process, so tests stay
independent under xdist.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from leadrelay.bootstrap import App, bootstrap
from leadrelay.playbook.loader import Playbook, parse_playbook, starter_playbook
from leadrelay.settings import Settings
from leadrelay.storage.tables import metadata

PG_URL = os.environ.get("LEADRELAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LEADRELAY_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"))
IN_CI = os.environ.get("CI", "").lower() == "true"
# The tests' webhook receivers listen on loopback, which LeadRelay refuses by default (a playbook must not reach
# inside the network); tests of that refusal say private_webhooks=False themselves.
os.environ["LEADRELAY_PRIVATE_WEBHOOKS"] = "true"
# pytest runs two workers on two cores: a model trained with a thread per core in each would fight for them (it ran
# four to eight times slower so). One thread per worker.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure means: not reachable
        return str(exc).splitlines()[0]


_PG_PROBLEM = _postgres_reachable()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh database on each backend, already migrated to the newest schema.

    The migrations run once per test process, into a template (a SQLite file; a PostgreSQL
    database), and each test gets a copy: migrating afresh cost about 0.6 s per PostgreSQL
    test, a third of `make test`. Tests of the migrations themselves take `empty_database_url`.
    """
    if request.param == "sqlite":
        path = tmp_path / "leadrelay.db"
        shutil.copyfile(_templates.sqlite(), path)
        yield f"sqlite:///{path}"
        return
    yield from postgres_database_url()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database on each backend (nothing migrated): for tests that migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'leadrelay.db'}"
        return
    yield from postgres_schema_url()


def _require_postgres() -> None:
    if _PG_PROBLEM is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable under CI: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL not reachable: {_PG_PROBLEM}")


class _Templates:
    """The migrated templates of this test process, made on first use and removed at its end."""

    def __init__(self):
        self._sqlite: Path | None = None
        self._postgres: str | None = None
        self._admin = None
        self._free: list[str] = []  # emptied databases, ready for the next test
        self._made: list[str] = []  # every copy made, dropped at the end
        self._seed: dict[str, list[dict]] = {}

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = Path(tempfile.mkdtemp(prefix="leadrelay-template-")) / "template.db"
            bootstrap(Settings(database_url=f"sqlite:///{path}")).close()
            self._sqlite = path
        return self._sqlite

    def admin(self):
        if self._admin is None:
            self._admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        return self._admin

    def postgres(self) -> str:
        if self._postgres is None:
            name = f"lrtest_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self._ddl(f'CREATE DATABASE "{name}"')
            bootstrap(Settings(database_url=_database(name))).close()  # closed: a template must have no connections
            engine = create_engine(_database(name), poolclass=NullPool)
            with engine.connect() as conn:  # rows the migrations put in (the privacy salt), for `_reset`
                found = {table.name: [dict(row._mapping) for row in conn.execute(table.select())]
                         for table in metadata.sorted_tables}
                tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
            engine.dispose()
            assert tables - {"alembic_version"} == set(found), "`_reset` must know every table the migrations make"
            self._seed = {name_: rows for name_, rows in found.items() if rows}
            self._postgres = name
        return self._postgres

    def take_postgres(self) -> str:
        """A database as the template is: one a finished test gave back (emptied), or else a new copy."""
        return self._free.pop() if self._free else self._copy()

    def give_back(self, name: str) -> None:
        """Empty `name` for the next test (its connections ended, every table's rows deleted, sequences
        restarted, the template's own rows put back): 40 ms, where dropping the database and copying
        the template again cost 0.7 s for each of some 400 PostgreSQL tests. A database that cannot
        be emptied so is dropped."""
        try:
            self._reset(name)
        except Exception:
            self._ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            self._free.append(name)

    def _copy(self) -> str:
        name = "lrtest_" + uuid.uuid4().hex[:12]
        self._ddl(f'CREATE DATABASE "{name}" TEMPLATE "{self.postgres()}"')
        self._made.append(name)
        return name

    def _reset(self, name: str) -> None:
        with self.admin().connect() as conn:  # what the test left connected (a pool, a killed process's backend)
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                         {"name": name})
        engine = create_engine(_database(name), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                for table in reversed(metadata.sorted_tables):  # children before parents
                    conn.execute(table.delete())
                conn.exec_driver_sql("SELECT setval(oid, 1, false) FROM pg_class "
                                     "WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace")
                for table, rows in self._seed.items():
                    conn.execute(metadata.tables[table].insert(), rows)
        finally:
            engine.dispose()

    def _ddl(self, statement: str) -> None:
        with self.admin().connect() as conn:
            conn.execute(text(statement))

    def close(self) -> None:
        for name in [*self._made, *([self._postgres] if self._postgres else [])]:
            self._ddl(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)
        if self._admin is not None:
            self._admin.dispose()


_templates = _Templates()


def pytest_sessionfinish(session, exitstatus):
    _templates.close()


def _database(name: str) -> str:
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database copied from the migrated template (CREATE DATABASE ... TEMPLATE)."""
    _require_postgres()
    name = _templates.take_postgres()
    try:
        yield _database(name)
    finally:
        _templates.give_back(name)


def postgres_schema_url() -> Iterator[str]:
    """A fresh, empty schema in the test database (nothing migrated)."""
    _require_postgres()
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@functools.cache
def _starter() -> Playbook:
    return starter_playbook()  # compiled once per test process: a playbook is never changed once loaded


@pytest.fixture
def playbook() -> Playbook:
    return _starter()


@pytest.fixture
def app(database_url, playbook, clock) -> Iterator[App]:
    application = bootstrap(Settings(database_url=database_url, batch_size=500), playbook=playbook, clock=clock)
    yield application
    application.close()


def make_playbook(text_: str) -> Playbook:
    return parse_playbook(text_, "test-playbook.yaml")


@pytest.fixture
def datasets() -> Path:
    if not DATASETS.is_dir():
        if IN_CI:
            pytest.fail(f"datasets folder missing under CI: {DATASETS}")
        pytest.skip(f"datasets not present at {DATASETS}")
    return DATASETS
