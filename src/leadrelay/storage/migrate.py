"""Schema migrations with Alembic, run programmatically on LeadRelay's own engine."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("leadrelay.storage") / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest migration (creates it on an empty database)."""
    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
