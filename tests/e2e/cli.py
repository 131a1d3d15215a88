"""Running `leadrelay` in tests: in process (fast, the default) or as the installed console script.

`Cli` runs the command in this process through Typer's CliRunner, the way the console
script would run it in a new one: the same root command and error translation
(LeadRelayCommand.main), its own working directory and environment, stdin, and stdout
and stderr kept apart. An exception that the command does not turn into an error line
is raised in the test (a real run would print a traceback), so no test can pass over
one. `InstalledCli` runs the real `leadrelay` executable as a subprocess (about half a
second each); a few tests in test_console_script.py keep that path covered.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from leadrelay.entrypoints.cli.app import app

LEADRELAY = Path(sys.executable).parent / "leadrelay"
_RUNNER = CliRunner()


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)  # fails unless stdout is exactly one JSON document


def _environment(database_url: str | None) -> dict[str, str | None]:
    """The environment of a run: none of the caller's LeadRelay settings or forced colours, wide plain output."""
    env: dict[str, str | None] = {k: None for k in os.environ
                                  if k.startswith("LEADRELAY_") or k in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env.update(NO_COLOR="1", COLUMNS="200", LEADRELAY_PRIVATE_WEBHOOKS="true")  # the tests' receivers are on loopback
    if database_url is not None:
        env["LEADRELAY_DATABASE_URL"] = database_url
    return env


class Cli:
    """Runs `leadrelay ARGS...` in process, in `cwd`, against one database URL."""

    def __init__(self, cwd: Path, database_url: str | None):
        self.cwd = cwd
        self.env = _environment(database_url)

    def __call__(self, *args: str, stdin: str | None = None) -> Run:
        with contextlib.chdir(self.cwd):
            result = _RUNNER.invoke(app, list(args), input=stdin, env=self.env, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)


class InstalledCli(Cli):
    """Runs the installed `leadrelay` console script as a subprocess."""

    def __call__(self, *args: str, stdin: str | None = None) -> Run:
        env = {k: v for k, v in os.environ.items() if k not in self.env}
        env.update({k: v for k, v in self.env.items() if v is not None})
        proc = subprocess.run([str(LEADRELAY), *args], cwd=self.cwd, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)
        return Run(proc.returncode, proc.stdout, proc.stderr)
