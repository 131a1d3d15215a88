"""How long the `leadrelay` command takes to answer: `--help` and two simple reads.

    python bench/cli_startup.py               # 15 runs of each command
    python bench/cli_startup.py --runs 40

Prints one JSON object: {"runs": N, "python_ms": ..., "commands": [{"argv": [...],
"median_ms": ..., "min_ms": ..., "max_ms": ..., "exit_code": 0}, ...]}. Each command is
the installed console script (next to this Python, else on PATH) run as a new process,
as a user would run it, in a scratch directory with a SQLite database already migrated
(the first run migrates it and is not counted) and the starter playbook written by
`leadrelay init`. `python_ms` is the same median for `python -c pass`: the floor no
command can go below. Compare numbers measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = [["--help"], ["leads", "list", "--json"], ["playbook", "check", "playbook.yaml"]]


def leadrelay_executable() -> str:
    beside = Path(sys.executable).parent / "leadrelay"
    found = str(beside) if beside.exists() else shutil.which("leadrelay")
    if found is None:
        sys.exit("no leadrelay executable: install the project (make venv) first")
    return found


def timed(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, int]:
    """Wall-clock milliseconds of one run, and its exit code."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace"))
    return elapsed, done.returncode


def measure(argv: list[str], runs: int, cwd: str, env: dict[str, str]) -> dict:
    timed(argv, cwd, env)  # warm-up: bytecode caches, the page cache, the migration of a new database
    times, codes = zip(*(timed(argv, cwd, env) for _ in range(runs)))
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1), "exit_code": max(codes, key=abs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="Timed runs per command (after one warm-up).")
    args = parser.parse_args()
    leadrelay = leadrelay_executable()
    with tempfile.TemporaryDirectory(prefix="leadrelay-startup-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        env.update(LEADRELAY_DATABASE_URL=f"sqlite:///{Path(scratch) / 'bench.db'}", NO_COLOR="1")
        subprocess.run([leadrelay, "init", "."], cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
        report = {"runs": args.runs,
                  "python_ms": measure([sys.executable, "-c", "pass"], args.runs, scratch, env)["median_ms"],
                  "commands": [{"argv": argv, **measure([leadrelay, *argv], args.runs, scratch, env)}
                               for argv in COMMANDS]}
    print(json.dumps(report))
    if any(c["exit_code"] for c in report["commands"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
