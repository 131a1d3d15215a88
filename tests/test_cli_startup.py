"""`leadrelay --help` and the simple reads load only what they use (issue 14: they must answer in under 0.2 s).

Nothing here is timed (bench/cli_startup.py measures). The tests pin down the causes of a slow
start instead, so they fail when one creeps back: a module-level import of the web stack, the
model trainer, Alembic or a service in a command module or in the composition root, or a playbook
compiled by a read that evaluates no rule. Each probe runs the command in a fresh interpreter
(this one has imported everything already) and lists the modules it loaded. The tests after the
probes hold the behaviour the lazy playbook must keep: which playbook runs, and that a broken one
is still reported by a command that needs it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from leadrelay.entrypoints.cli import app as cli_app
from leadrelay.playbook.loader import starter_text
from tests.e2e.cli import Cli
from tests.messages import identify, page, track

# Loaded by none of the commands probed here: the HTTP server and its clients, web pages, the model trainer,
# the migration tool, and the services that write (ingest, the handoff desk and its SQL gate, the worker).
NEVER_FOR_READS = {
    "fastapi", "starlette", "uvicorn", "httpx", "jinja2", "sklearn", "scipy", "numpy", "alembic",
    "leadrelay.entrypoints.api", "leadrelay.entrypoints.web", "leadrelay.activity.service",
    "leadrelay.handoff.desk", "leadrelay.handoff.handlers", "leadrelay.sales.sql_gate", "leadrelay.worker",
    "leadrelay.delivery.courier",
}
# What reading and compiling a playbook loads (and Pydantic, which the settings load as well).
PLAYBOOK_COMPILER = {"yaml", "leadrelay.playbook.loader", "leadrelay.playbook.compiler"}
# What reading the settings and the store loads.
SETTINGS_AND_STORE = {"pydantic", "pydantic_settings", "sqlalchemy"}
LEAD = "alice@acme-corp.com"


def modules_loaded_by(argv: list[str], cwd: Path, database_url: str | None = None) -> set[str]:
    """Every module (packages and their submodules) imported while `leadrelay ARGV` runs in a fresh
    interpreter, which must exit 0."""
    code = (
        "import sys\n"
        "from leadrelay.entrypoints.cli.app import main\n"
        f"sys.argv = ['leadrelay', *{argv!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    if "PYTHONPATH" in os.environ:  # the tree under test, when it is not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if database_url is not None:
        env["LEADRELAY_DATABASE_URL"] = database_url
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    return set(done.stderr.rpartition("MODULES ")[2].split())


def among(loaded: set[str], names: set[str]) -> set[str]:
    """The names in `names` that were loaded, themselves or as the package of a loaded module."""
    return {name for name in names if any(m == name or m.startswith(name + ".") for m in loaded)}


def write_stream(directory: Path, *, days_ago: float = 2) -> Path:
    """Alice (an economic buyer) reads the pricing page and requests a demo; Bob reads the pricing page."""
    now = datetime.now(UTC).replace(microsecond=0)
    ago = lambda hours: now - timedelta(days=days_ago, hours=hours)  # noqa: E731
    messages = [
        identify(user="u-alice", when=ago(2), message_id="a-1", email=LEAD, title="VP Marketing", employees=200,
                 industry="Software", country="US"),
        page("/pricing", user="u-alice", when=ago(1), message_id="a-2"),
        track("Demo Requested", user="u-alice", when=ago(0), message_id="a-3"),
        identify(user="u-bob", when=ago(2), message_id="b-1", email="bob@beta-inc.com", title="Marketing Manager"),
        page("/pricing", user="u-bob", when=ago(0), message_id="b-2"),
    ]
    path = directory / "stream.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in messages), encoding="utf-8")
    return path


@pytest.fixture
def cli(tmp_path, database_url) -> Cli:
    return Cli(tmp_path, database_url)


@pytest.fixture
def store_with_leads(cli) -> Cli:
    """The starter playbook written by `init` and a small stream ingested: leads with scores to decay."""
    assert cli("init", ".").code == 0
    assert cli("ingest", write_stream(cli.cwd).name).code == 0
    return cli


# --------------------------------------------------------------------------- what each command loads


def test_help_loads_no_database_layer_settings_playbook_service_or_web_stack(tmp_path):
    loaded = modules_loaded_by(["--help"], tmp_path)
    assert "typer" in loaded  # the probe works
    assert among(loaded, NEVER_FOR_READS | PLAYBOOK_COMPILER | SETTINGS_AND_STORE) == set()


def test_a_subcommands_help_loads_no_more_than_the_root_help(tmp_path):
    loaded = modules_loaded_by(["leads", "show", "--help"], tmp_path)
    assert among(loaded, NEVER_FOR_READS | PLAYBOOK_COMPILER | SETTINGS_AND_STORE) == set()


@pytest.mark.parametrize("argv", [["leads", "list", "--json"], ["leads", "show", LEAD],
                                  ["leads", "show", LEAD, "--json"]])
def test_the_simple_reads_load_neither_the_web_stack_nor_the_model_trainer_nor_a_writing_service(
        store_with_leads, argv):
    loaded = modules_loaded_by(argv, store_with_leads.cwd, store_with_leads.env["LEADRELAY_DATABASE_URL"])
    # The probe works, and these reads do need the playbook: they decay engagement with its half-life.
    assert among(loaded, {"sqlalchemy", "leadrelay.playbook.compiler"}) == {"sqlalchemy",
                                                                            "leadrelay.playbook.compiler"}
    assert among(loaded, NEVER_FOR_READS) == set()


def test_a_read_that_evaluates_no_rule_does_not_compile_the_playbook(cli):
    assert cli("init", ".").code == 0  # a playbook file the command could have loaded
    url = cli.env["LEADRELAY_DATABASE_URL"]
    loaded = modules_loaded_by(["leads", "list", "--json"], cli.cwd, url)  # no lead: no score to decay
    assert "sqlalchemy" in loaded  # the probe works: the command did read the store
    assert among(loaded, PLAYBOOK_COMPILER | NEVER_FOR_READS | {"leadrelay.handoff"}) == set()
    assert among(modules_loaded_by(["funnel", "--json"], cli.cwd, url), PLAYBOOK_COMPILER) == set()


# --------------------------------------------------------------------------- command groups made on use


def eager_app() -> typer.Typer:
    """The CLI as `add_typer` builds it: every group turned into Click commands on every run."""
    eager = copy.copy(cli_app.app)
    eager.registered_groups = list(cli_app.app.registered_groups)
    for name, group in cli_app.GROUPS.items():
        eager.add_typer(group, name=name)
    return eager


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["leads"], ["leads", "--help"], ["leads", "show", "--help"], ["playbook", "--help"],
    ["reps", "--help"], ["db", "--help"], ["tokens", "create", "--help"], ["init", "--help"],
    ["nosuch"], ["lead"], ["leads", "lst"], ["leads", "show"], ["--database"],
])
def test_groups_made_on_use_print_what_typer_prints_for_groups_added_with_add_typer(tmp_path, argv):
    runner, env = CliRunner(), {"NO_COLOR": "1", "COLUMNS": "100", "LEADRELAY_DATABASE_URL": None}
    with contextlib.chdir(tmp_path):
        lazy = runner.invoke(cli_app.app, argv, env=env)
        eager = runner.invoke(eager_app(), argv, env=env)
    assert (lazy.exit_code, lazy.stdout, lazy.stderr) == (eager.exit_code, eager.stdout, eager.stderr)
    assert lazy.stdout or lazy.stderr  # the comparison compares something


def test_every_group_is_listed_by_the_root_help_and_runs(tmp_path):
    shown = CliRunner().invoke(cli_app.app, ["--help"], env={"NO_COLOR": "1", "COLUMNS": "200"}).stdout
    for name in cli_app.GROUPS:
        assert f"│ {name} " in shown
        assert CliRunner().invoke(cli_app.app, [name, "--help"], env={"NO_COLOR": "1"}).exit_code == 0


# --------------------------------------------------------------------------- the playbook a read runs


def test_a_read_decays_scores_with_the_activated_playbook_version_not_the_file(store_with_leads):
    """The activated version is looked up before the read opens its connection: looked up on first use inside
    it, SQLite's second connection waited for the first one and the command failed with "database is locked"."""
    cli = store_with_leads
    hours = (cli.cwd / "playbook.yaml").read_text(encoding="utf-8").replace("half_life_days: 21",
                                                                            "half_life_days: 1")
    (cli.cwd / "hours.yaml").write_text(hours, encoding="utf-8")
    assert cli("playbook", "activate", "hours.yaml").code == 0
    (cli.cwd / "playbook.yaml").unlink()  # nothing but the activated version can give a half-life of one day

    listed = cli("leads", "list", "--json")

    assert listed.code == 0, listed.err
    bob = next(lead for lead in listed.json() if lead["email"] == "bob@beta-inc.com")
    assert bob["engagement_score"] == pytest.approx(10 * 0.5 ** 2, abs=0.05)  # pricing page, two half-lives ago
    shown = cli("leads", "show", "bob@beta-inc.com", "--json")
    assert shown.json()["engagement_score"] == bob["engagement_score"]


def test_a_read_that_evaluates_rules_still_stops_on_a_broken_playbook_and_prints_only_its_errors(store_with_leads):
    cli = store_with_leads
    (cli.cwd / "broken.yaml").write_text(starter_text().replace("half_life_days: 21", "half_life_days: soon"),
                                         encoding="utf-8")
    for argv in (["leads", "list", "--json"], ["leads", "show", LEAD]):
        result = cli("--playbook", "broken.yaml", *argv)
        assert (result.code, result.out) == (1, "")
        assert result.err.startswith("error: broken.yaml:") and "half_life_days" in result.err


def test_a_write_still_refuses_a_broken_playbook_before_it_stores_anything(store_with_leads):
    cli = store_with_leads
    (cli.cwd / "broken.yaml").write_text(starter_text().replace("half_life_days: 21", "half_life_days: soon"),
                                         encoding="utf-8")
    before = cli("leads", "show", LEAD, "--json").json()
    result = cli("--playbook", "broken.yaml", "leads", "recycle", LEAD, "--reason", "not_ready")
    assert (result.code, result.out) == (1, "")
    assert cli("leads", "show", LEAD, "--json").json()["stage"] == before["stage"]
