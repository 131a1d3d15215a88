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
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from leadrelay.bootstrap import App, bootstrap
from leadrelay.playbook.loader import Playbook, parse_playbook, starter_playbook
from leadrelay.settings import Settings

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
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-databases")
        self._next: Future[str] | None = None

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
            self._postgres = name
        return self._postgres

    def take_postgres(self) -> str:
        """A fresh copy of the template. The next copy is made, and the used ones dropped, by a thread in the
        background while the test runs: making and dropping a database cost about 0.7 s, mostly the server
        waiting on the disk, for each of some 400 PostgreSQL tests."""
        if self._next is None:
            self._next = self._background.submit(self._copy)
        name = self._next.result()
        self._next = self._background.submit(self._copy)
        return name

    def give_back(self, name: str) -> None:
        self._background.submit(self._ddl, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _copy(self) -> str:
        name = "lrtest_" + uuid.uuid4().hex[:12]
        self._ddl(f'CREATE DATABASE "{name}" TEMPLATE "{self.postgres()}"')
        return name

    def _ddl(self, statement: str) -> None:
        with self.admin().connect() as conn:
            conn.execute(text(statement))

    def close(self) -> None:
        self._background.shutdown(wait=True)
        if self._next is not None and self._next.exception() is None:
            self._ddl(f'DROP DATABASE IF EXISTS "{self._next.result()}" WITH (FORCE)')
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)
        if self._postgres is not None:
            self._ddl(f'DROP DATABASE IF EXISTS "{self._postgres}" WITH (FORCE)')
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
