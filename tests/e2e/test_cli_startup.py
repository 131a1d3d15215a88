"""The command line starts quickly: what `--help` and simple reads import, and the migration check.

Nothing here is timed (bench/cli_startup.py measures). Instead the tests pin down what
makes start-up slow when it creeps back: a module-level import of the web stack, Alembic
or the services in a command module, or a migration run on a database already at the
newest revision. Each import check runs in a fresh interpreter, since this one has
imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from leadrelay.storage import migrate
from leadrelay.storage.database import connect
from tests.test_cli_startup import modules_loaded_by as every_module_loaded_by

WEB_STACK = {"fastapi", "starlette", "uvicorn", "httpx"}


def modules_loaded_by(argv: list[str], cwd, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages imported while `leadrelay ARGV` runs in a fresh interpreter (it must exit 0)."""
    loaded = every_module_loaded_by(argv, cwd, (env or {}).get("LEADRELAY_DATABASE_URL"))
    return {name.split(".")[0] for name in loaded}


def test_cli_help_does_not_import_the_web_stack_alembic_or_the_database_layer(tmp_path):
    loaded = modules_loaded_by(["--help"], tmp_path)
    assert "typer" in loaded  # the probe works
    assert loaded & (WEB_STACK | {"alembic", "sqlalchemy", "pydantic", "yaml"}) == set()


def test_importing_the_cli_imports_neither_rich_nor_the_services(tmp_path):
    # Every service and store imports SQLAlchemy, so its absence says no service was loaded;
    # the pure models (stages, activities) cost nothing and may be.
    code = "import leadrelay.entrypoints.cli.app, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "{'rich', 'sqlalchemy', 'pydantic', 'alembic', 'fastapi', 'uvicorn', 'httpx'} " \
           "or m.startswith(('leadrelay.storage', 'leadrelay.playbook', 'leadrelay.bootstrap'))))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


def test_a_read_on_a_database_at_the_newest_revision_imports_neither_alembic_nor_the_web_stack(tmp_path):
    url = f"sqlite:///{tmp_path / 'lr.db'}"
    engine = connect(url)
    migrate.upgrade(engine)
    engine.dispose()
    loaded = modules_loaded_by(["leads", "list", "--json"], tmp_path, {"LEADRELAY_DATABASE_URL": url})
    assert "sqlalchemy" in loaded  # the probe works: the command did read the database
    assert loaded & (WEB_STACK | {"alembic"}) == set()


def test_init_and_playbook_check_import_no_database_layer(tmp_path):
    loaded = modules_loaded_by(["init", "."], tmp_path)
    assert loaded & (WEB_STACK | {"alembic", "sqlalchemy"}) == set()
    loaded = modules_loaded_by(["playbook", "check", "playbook.yaml", "--json"], tmp_path)
    assert "pydantic" in loaded  # the probe works: the playbook was validated
    assert loaded & (WEB_STACK | {"alembic", "sqlalchemy"}) == set()


# --------------------------------------------------------------------------- the migration check


def alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrate._config()).get_current_head()


def test_the_head_revision_read_from_the_migration_files_is_the_one_alembic_finds():
    assert migrate.head_revision() == alembic_head()


def test_a_database_one_migration_behind_is_upgraded_to_the_newest_revision(empty_database_url):
    from alembic import command

    engine = connect(empty_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._config(conn), "0004")
        assert migrate.stored_revisions(engine) == ("0004",)

        migrate.upgrade(engine)

        assert migrate.stored_revisions(engine) == (alembic_head(),)
        assert migrate.current_revision(engine) == alembic_head()
    finally:
        engine.dispose()


def test_an_empty_database_has_no_revision_and_is_created_by_upgrade(empty_database_url):
    engine = connect(empty_database_url)
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


# --------------------------------------------------------------------------- help texts spelled out in the CLI


def test_the_outbox_statuses_in_the_cli_are_the_stored_ones():
    from leadrelay.entrypoints.cli.outbox_cmd import STATUSES
    from leadrelay.storage.outbox_tables import STATUSES as STORED

    assert STATUSES == STORED


def test_the_token_roles_in_the_cli_help_are_the_roles_there_are():
    from leadrelay.access.tokens import Role
    from leadrelay.entrypoints.cli.tokens_cmd import ROLES

    assert ROLES == ", ".join(role.value for role in Role)


def test_the_startup_benchmark_prints_one_json_object_with_its_timings(tmp_path):
    script = Path(__file__).resolve().parents[2] / "bench" / "cli_startup.py"
    done = subprocess.run([sys.executable, str(script), "--runs", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"runs", "python_ms", "commands"}
    assert [c["argv"] for c in report["commands"]] == [["--help"], ["leads", "list", "--json"],
                                                       ["leads", "show", "person3@company3.com"],
                                                       ["playbook", "check", "playbook.yaml"]]
    assert all(c["exit_code"] == 0 and c["median_ms"] > 0 for c in report["commands"])
    assert [c["ratio"] for c in report["commands"]] == [round(c["limit_ms"] / c["median_ms"], 3) if c["limit_ms"]
                                                        else None for c in report["commands"]]
