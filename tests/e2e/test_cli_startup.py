"""The command line starts quickly: the migration check that every command runs.

Nothing here is timed. The check answers "already at the newest revision" without
Alembic, so it must agree with Alembic on the head and never skip a needed upgrade.
"""

from __future__ import annotations

import pytest

from leadrelay.storage import migrate
from leadrelay.storage.database import connect


# --------------------------------------------------------------------------- the migration check


def alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate._config()).get_current_head()


def test_the_head_revision_read_from_the_migration_files_is_the_one_alembic_finds():
    assert migrate.head_revision() == alembic_head()


def test_a_database_one_migration_behind_is_upgraded_to_the_newest_revision(database_url):
    from alembic import command

    engine = connect(database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), "0004")
        assert migrate.stored_revisions(engine) == ("0004",)

        migrate.upgrade(engine)

        assert migrate.stored_revisions(engine) == (alembic_head(),)
        assert migrate.current_revision(engine) == alembic_head()
    finally:
        engine.dispose()


def test_an_empty_database_has_no_revision_and_is_created_by_upgrade(database_url):
    engine = connect(database_url)
    try:
        assert migrate.stored_revisions(engine) == ()
        migrate.upgrade(engine)
        assert migrate.stored_revisions(engine) == (alembic_head(),)
    finally:
        engine.dispose()


def test_a_database_at_a_revision_this_code_does_not_know_is_refused_by_alembic_not_skipped(tmp_path):
    from sqlalchemy import text

    engine = connect(f"sqlite:///{tmp_path / 'lr.db'}")
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(Exception, match="9999"):
            migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize(("source", "expected"), [
    ("revision = '0002'\ndown_revision = '0001'\n", ("0002", "0001")),
    ('"""doc"""\nrevision: str = "0001"\ndown_revision: str | None = None\n', ("0001", None)),
])
def test_revision_lines_are_read_in_both_spellings_alembic_writes(source, expected):
    assert migrate._revision_lines(source, "x.py") == expected


def test_a_merge_migration_is_reported_rather_than_misread():
    with pytest.raises(RuntimeError, match="merge migrations"):
        migrate._revision_lines("revision = '0006'\ndown_revision = ('0004', '0005')\n", "0006_merge.py")
