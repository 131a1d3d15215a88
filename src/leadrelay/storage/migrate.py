"""Schema migrations with Alembic, run programmatically on LeadRelay's own engine.

Every command migrates the database before it works, so the common case, a database
already at the newest revision, is answered without Alembic: the revision stored in
`alembic_version` is read with plain SQLAlchemy and compared with the head, which is
found from the `revision` / `down_revision` lines of the migration files. Alembic (a
quarter of a second to import) is loaded only when there is something to upgrade.
"""

from __future__ import annotations

import ast
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from leadrelay.core.errors import StorageUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps


def _config(connection=None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations()))
    config.attributes["connection"] = connection
    return config


def _migrations():
    return resources.files("leadrelay.storage") / "migrations"


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest migration (creates it on an empty database)."""
    if stored_revisions(engine) == (head_revision(),):
        return
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")


@cache
def head_revision() -> str:
    """The newest migration's revision id, read from the migration files without importing them.

    Raises RuntimeError unless the migrations form one line with exactly one head
    (a branch would need a merge migration; Alembic would refuse "head" too).
    """
    revisions: dict[str, str | None] = {}
    for path in (_migrations() / "versions").iterdir():
        if path.name.endswith(".py") and not path.name.startswith("__"):
            revision, down = _revision_lines(path.read_text(encoding="utf-8"), path.name)
            revisions[revision] = down
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def _revision_lines(source: str, name: str) -> tuple[str, str | None]:
    """`(revision, down_revision)` from the module-level assignments of a migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(source, name).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        for target in targets:
            value = getattr(node, "value", None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and value is not None:
                found[target.id] = ast.literal_eval(value)
    revision, down = found.get("revision"), found.get("down_revision")
    if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
        raise RuntimeError(f"{name}: expected `revision = '...'` and `down_revision = '...' | None` "
                           "(merge migrations are not supported here)")
    return revision, down


def stored_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions recorded in the database, sorted; () for a database never migrated."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return ()
        return tuple(sorted(conn.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}"))))


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None before the first migration), as Alembic reports it."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's schema revision, the newest one), after a round trip that proves it answers.

    Raises StorageUnavailable, with the driver's first line, when the database does not answer.
    """
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return current_revision(engine), head_revision()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageUnavailable(f"the database does not answer: {detail}") from None
