"""How long the `leadrelay` command takes to answer: `--help`, two simple reads and `playbook check`.

    python bench/cli_startup.py               # 15 runs of each command
    python bench/cli_startup.py --runs 40
    PYTHONPATH=/other/tree/src python bench/cli_startup.py   # the same measurement of another tree's code

Prints one JSON object: {"runs": N, "python_ms": ..., "commands": [{"argv": [...], "median_ms": ...,
"min_ms": ..., "max_ms": ..., "cpu_median_ms": ..., "limit_ms": ..., "ratio": ..., "exit_code": 0}, ...]}.

Each command is `python -m leadrelay ARGV` with this Python, run as a new process the way a user runs
it, so the `leadrelay` package it runs is the one this Python imports: PYTHONPATH picks the tree (the
path is said on stderr). It runs in a scratch directory with the starter playbook written by
`leadrelay init` and a SQLite database holding 30 known leads (a small stream ingested first), so
`leads list` and `leads show` compute their decayed scores with the playbook's rules, as they do for a
user. Before the timed runs each command runs once (the page cache, the bytecode caches: the
environment's PYTHONDONTWRITEBYTECODE is dropped, as an installed package has its caches).

`python_ms` is the same median for `python -c pass`: the floor no command can go below.
`cpu_median_ms` is the median CPU time (user and system) of the process: on a shared machine it
varies less than the wall time, which includes waiting for a core. `ratio` is
`limit_ms ÷ median_ms` against issue 14's limit of 200 ms for `--help` and a simple read: 1.0 is at
the limit, above 1 within it; `playbook check` has no limit (`limit_ms` and `ratio` null). Compare
figures measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

LIMIT_MS = 200.0  # issue 14: `leadrelay --help` and a simple read command answer in under 0.2 s
LEAD = "person3@company3.com"  # a hand-raiser: a handoff, a stage history and scores to explain
COMMANDS: list[tuple[list[str], float | None]] = [
    (["--help"], LIMIT_MS),
    (["leads", "list", "--json"], LIMIT_MS),
    (["leads", "show", LEAD], LIMIT_MS),
    (["playbook", "check", "playbook.yaml"], None),
]


def stream(leads: int = 30) -> str:
    """JSON lines: each lead identifies (a VP at a software company) and reads the pricing page; every
    third one requests a demo (a hand-raiser, handed to sales)."""
    now = datetime.now(UTC).replace(microsecond=0)
    lines = []
    for i in range(leads):
        user = f"u-{i}"

        def at(minutes: int) -> str:
            return (now - timedelta(minutes=minutes)).isoformat()

        lines.append({"type": "identify", "messageId": f"{user}-1", "userId": user, "timestamp": at(90 - i),
                      "traits": {"email": f"person{i}@company{i}.com", "title": "VP Marketing", "employees": 200,
                                 "industry": "Software", "country": "US"}})
        lines.append({"type": "page", "messageId": f"{user}-2", "userId": user, "timestamp": at(60 - i),
                      "properties": {"path": "/pricing"}})
        if i % 3 == 0:
            lines.append({"type": "track", "messageId": f"{user}-3", "userId": user, "timestamp": at(40 - i),
                          "event": "Demo Requested", "properties": {}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def children_cpu_ms() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (used.ru_utime + used.ru_stime) * 1000


def timed(argv: list[str], cwd: str, env: dict[str, str]) -> tuple[float, float, int]:
    """Wall-clock and CPU milliseconds of one run, and its exit code."""
    cpu, start = children_cpu_ms(), time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed, cpu = (time.perf_counter() - start) * 1000, children_cpu_ms() - cpu
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace"))
    return elapsed, cpu, done.returncode


def measure(argv: list[str], runs: int, cwd: str, env: dict[str, str]) -> dict:
    timed(argv, cwd, env)  # warm-up: bytecode caches, the page cache
    times, cpus, codes = zip(*(timed(argv, cwd, env) for _ in range(runs)))
    return {"median_ms": round(statistics.median(times), 1), "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1), "cpu_median_ms": round(statistics.median(cpus), 1),
            "exit_code": max(codes, key=abs)}


def with_limit(figures: dict, limit_ms: float | None) -> dict:
    ratio = round(limit_ms / figures["median_ms"], 3) if limit_ms is not None else None
    return {**figures, "limit_ms": limit_ms, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="Timed runs per command (after one warm-up).")
    args = parser.parse_args()
    leadrelay = [sys.executable, "-m", "leadrelay"]
    with tempfile.TemporaryDirectory(prefix="leadrelay-startup-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADRELAY_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(LEADRELAY_DATABASE_URL=f"sqlite:///{Path(scratch) / 'bench.db'}", NO_COLOR="1")
        where = subprocess.run([sys.executable, "-c", "import leadrelay; print(leadrelay.__file__)"], env=env,
                               cwd=scratch, check=True, capture_output=True, text=True).stdout.strip()
        sys.stderr.write(f"leadrelay from {Path(where).parent}\n")
        (Path(scratch) / "stream.jsonl").write_text(stream(), encoding="utf-8")
        for setup in (["init", "."], ["ingest", "stream.jsonl"]):  # the first also migrates the new database
            subprocess.run([*leadrelay, *setup], cwd=scratch, env=env, check=True, stdout=subprocess.DEVNULL)
        report = {"runs": args.runs,
                  "python_ms": measure([sys.executable, "-c", "pass"], args.runs, scratch, env)["median_ms"],
                  "commands": [{"argv": argv, **with_limit(measure([*leadrelay, *argv], args.runs, scratch, env),
                                                          limit)}
                               for argv, limit in COMMANDS]}
    print(json.dumps(report))
    if any(c["exit_code"] for c in report["commands"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
