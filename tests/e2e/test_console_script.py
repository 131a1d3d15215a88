"""The installed `leadrelay` executable itself, as a subprocess: the few things in-process runs cannot show.

Everything else runs in process (tests/e2e/cli.py); these keep the console script, its
exit codes and its real stdin, stdout and stderr covered.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.e2e.cli import InstalledCli
from tests.messages import identify, track


@pytest.fixture
def installed(tmp_path) -> InstalledCli:
    return InstalledCli(tmp_path, f"sqlite:///{tmp_path / 'leadrelay.db'}")


def test_the_installed_command_and_python_dash_m_print_the_same_help(installed, tmp_path):
    script = installed("--help")
    assert (script.code, script.err) == (0, "")
    assert "Usage: leadrelay [OPTIONS] COMMAND [ARGS]..." in script.out
    assert "ingest" in script.out and "leads" in script.out

    module = subprocess.run([sys.executable, "-m", "leadrelay", "--help"], cwd=tmp_path, env={"NO_COLOR": "1",
                            "COLUMNS": "200", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)
    assert (module.returncode, module.stderr) == (0, "")
    def lines(text: str) -> list[str]:
        return [line.rstrip() for line in text.splitlines()]

    assert lines(module.stdout.replace("python -m leadrelay", "leadrelay")) == lines(script.out)


def test_the_installed_command_ingests_stdin_and_exits_3_when_a_line_is_rejected(installed):
    lines = [json.dumps(identify(user="u-zoe", message_id="zoe-1", email="zoe@acme-corp.com", title="CEO",
                                 employees=300)),
             "[1, 2",
             json.dumps(track("Demo Requested", user="u-zoe", message_id="zoe-2"))]
    result = installed("ingest", "-", stdin="\n".join(lines) + "\n")
    assert result.code == 3
    assert result.out == ("received 3: accepted 2, duplicates 0, rejected 1; leads created 1, merged 0; "
                          "stage moves: 1 to lead, 1 to sal, 1 to subscriber\n"
                          "loaded as history: 1 handoff recorded, 2 notices not sent; deadlines already past are "
                          "recorded as breached, without alerts or escalation (--live treats a file as live "
                          "traffic)\n")
    assert result.err.startswith("rejected stdin line 2: not JSON: ") and result.err.count("\n") == 1

    listed = installed("leads", "list", "--json")
    assert (listed.code, listed.err) == (0, "")
    assert [(r["email"], r["stage"]) for r in listed.json()] == [("zoe@acme-corp.com", "sal")]


def test_the_installed_command_exits_2_on_bad_usage_and_1_on_an_error(installed):
    usage = installed("leads", "recycle", "1")
    assert (usage.code, usage.out) == (2, "")
    assert usage.err.splitlines()[-1] == "Error: Missing option '--reason' / '-r'."

    missing = installed("leads", "show", "999")
    assert (missing.code, missing.out, missing.err) == (1, "", "error: no lead 999\n")
