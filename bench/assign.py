"""Assignment at scale: one call of the worker's `assign_queued` over 12,576 waiting leads.

Odoo's lead assignment job was reported to spend about 163 s filtering that many leads
(odoo/odoo issue 176355). Here: a generated playbook with 5 SDR teams (round robin and
least loaded, three timezones), 45 reps with capacity caps (and a few daily quotas), five
routing rules on country and company size, an SLA policy (so every assignment plans its
timers) and a webhook (so every assignment writes its `lead.assigned` outbox row).

The queued state is built the way it happens: the leads are ingested through `ingest()`
(an identify with traits, then a pricing-page view that makes each one an MQL) while
every rep is inactive, so each MQL opens a handoff that waits in the queue. Then every rep
is made active (`handoff.directory.set_rep`, as `leadrelay reps set --active` does) and
ONE call of `worker.assign_queued(app, now, report)` is timed: it claims the
queue, routes every handoff (rules, strategies, caps), stores the decisions, the SLA
timers, the outbox rows and the lead owners, and commits. Afterwards the caps are checked
from the database: open handoffs per rep <= capacity, today's assignments <= daily quota,
and every queued handoff that is left has no eligible rep in its team.

    python bench/assign.py [--json] [--backends sqlite,postgresql] [--leads N] [--profile]

Default backend: SQLite (a temporary file). PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test), in a fresh schema dropped
afterwards. `--profile` runs the timed call under cProfile and prints the top functions
to stderr. Target: under 2 s, all caps respected. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.handoff.directory import effective_directory, rep_loads, set_rep
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.database import connect
from leadrelay.storage.outbox_tables import outbox
from leadrelay.worker import SweepReport, assign_queued

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LEADS = 12_576
TARGET_SECONDS = 2.0
NOW = datetime(2026, 10, 6, 14, 0, tzinfo=UTC)  # a Tuesday: working hours in New York and London
TEAMS = [  # id, strategy, calendar, reps
    ("sdr_na", "round_robin", "us", 11),
    ("sdr_emea", "least_loaded", "emea", 10),
    ("sdr_apac", "round_robin", "apac", 7),
    ("sdr_enterprise", "least_loaded", "us", 8),
    ("sdr_smb", "round_robin", "us", 9),
]
EMEA = ["GB", "DE", "FR", "NL", "SE", "IE", "ES"]
APAC = ["SG", "AU", "JP", "IN"]
AMERICAS = ["US", "CA", "BR", "MX"]


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def playbook_text() -> str:
    """5 teams, 45 reps with capacities (sum < the queue, so caps bind), rules, an SLA, a webhook."""
    rng = random.Random(45)
    lines = ["name: assignment bench",
             "qualification: {webmail: {disqualify: false}}",
             "scoring:",
             "  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}",
             "  engagement: {rules: [{id: pricing, when: {path: /pricing}, points: 40}]}",
             "stages:",
             '  mql: {owner: sdr, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}',
             "calendars:",
             "  us: {timezone: America/New_York, hours: {mon-fri: '09:00-17:00'}}",
             "  emea: {timezone: Europe/London, hours: {mon-fri: '09:00-17:30'}}",
             "  apac: {timezone: Asia/Singapore, hours: {mon-fri: '09:00-18:00'}}",
             "teams:"]
    for team, strategy, calendar, _ in TEAMS:
        lines.append(f"  - {{id: {team}, function: sdr, strategy: {strategy}, calendar: {calendar}, "
                     f"manager: {{name: Lead {team}, email: {team}@bench.example}}}}")
    lines.append("reps:")
    n = 0
    for team, _, _, count in TEAMS:
        for _ in range(count):
            n += 1
            extra = f", weight: {rng.choice([1, 1, 2])}"
            if n % 7 == 0:
                extra += f", daily_quota: {rng.randrange(60, 120)}"
            lines.append(f"  - {{id: rep{n:02d}, name: Rep {n}, email: rep{n:02d}@bench.example, team: {team}, "
                         f"capacity: {rng.randrange(120, 260)}, active: false{extra}}}")
    lines += ["routing:",
              "  rules:",
              '    - {id: enterprise, when: {traits.employees: {">=": 1000}}, team: sdr_enterprise}',
              f"    - {{id: emea, when: {{country: {{in: [{', '.join(EMEA)}]}}}}, team: sdr_emea}}",
              f"    - {{id: apac, when: {{country: {{in: [{', '.join(APAC)}]}}}}, team: sdr_apac}}",
              '    - {id: smb, when: {traits.employees: {"<": 50}}, team: sdr_smb}',
              "    - {id: everyone_else, team: sdr_na}",
              "sla:",
              "  policies:",
              "    - id: mql_acceptance",
              "      handoff: mql",
              "      accept_within: 48h",
              "      touches: {count: 3, within: 7d}",
              "      warn_before: 4h",
              "      escalation: [{after: 0m, action: notify_rep}, {after: 8h, action: reassign}]",
              "notifications:",
              "  webhooks: [{id: crm, url: 'http://127.0.0.1:9/hook', secret_env: LEADRELAY_BENCH_SECRET}]"]
    return "\n".join(lines) + "\n"


def messages(n: int) -> list[tuple[str, dict]]:
    """n leads: an identify with traits, then a pricing-page view (fit 60 + engagement 40: MQL)."""
    rng = random.Random(12576)
    out = []
    for i in range(n):
        country = rng.choice(EMEA * 2 + APAC + AMERICAS * 3)
        employees = rng.choice([5, 20, 40, 80, 200, 500, 900, 1500, 5000])
        at = NOW - timedelta(days=2, seconds=n - i)  # oldest first: the queue is served in that order
        user = f"bench-{i}"
        out.append((f"{i}i", {"type": "identify", "messageId": f"i-{i}", "userId": user, "timestamp": at.isoformat(),
                              "traits": {"email": f"lead{i}@company{i % 3000}.example", "first_name": f"L{i}",
                                         "country": country, "employees": employees,
                                         "company": f"Company {i % 3000}"}}))
        out.append((f"{i}p", {"type": "page", "messageId": f"p-{i}", "userId": user,
                              "timestamp": (at + timedelta(milliseconds=500)).isoformat(),
                              "properties": {"path": "/pricing"}}))
    return out


def build_queue(url: str, n: int):
    app = bootstrap(Settings(database_url=url), playbook=parse_playbook(playbook_text(), "bench-assign.yaml"),
                    clock=lambda: NOW)
    started = time.perf_counter()
    report = ingest(app, messages(n), live=False)
    with app.engine.connect() as conn:
        queued = conn.scalar(select(func.count()).select_from(h.handoffs).where(h.handoffs.c.status == "queued"))
    if report.rejected or queued != n:
        raise SystemExit(f"expected {n} queued handoffs, got {queued} (rejected {report.rejected})")
    log(f"  {n} leads ingested, {queued} handoffs queued in {time.perf_counter() - started:.1f}s")
    for rep in app.playbook.rules.handoff.directory.reps:
        set_rep(app, rep, actor="user:bench", active=True)
    if app.engine.dialect.name == "postgresql":
        with app.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return app


def check_caps(app) -> tuple[bool, dict]:
    """From the database: open leads <= capacity, today's assignments <= quota, nobody idle while leads wait."""
    with app.engine.connect() as conn:
        directory = effective_directory(conn, app)
        loads = rep_loads(conn, directory, NOW)
        c = h.handoffs.c
        waiting = Counter(conn.scalars(select(c.team).where(c.status == "queued")))
        owners = Counter(conn.scalars(select(c.owner).where(c.status.in_(OWNED_STATUSES))))
        assigned_messages = conn.scalar(select(func.count()).select_from(outbox)
                                        .where(outbox.c.event_type == "lead.assigned"))
        timers = conn.scalar(select(func.count()).select_from(h.sla_timers))
    problems = []
    for rep_id, rep in directory.reps.items():
        load = loads[rep_id]
        if rep.capacity is not None and load.open > rep.capacity:
            problems.append(f"{rep_id}: {load.open} open > capacity {rep.capacity}")
        if rep.daily_quota is not None and load.today > rep.daily_quota:
            problems.append(f"{rep_id}: {load.today} today > quota {rep.daily_quota}")
    for team, count in waiting.items():  # leads still waiting: every rep of their team must be full
        free = [r for r in directory.members(team) if (r.capacity is None or loads[r.id].open < r.capacity)
                and (r.daily_quota is None or loads[r.id].today < r.daily_quota)]
        if free:
            problems.append(f"{count} leads wait for team {team} while {', '.join(r.id for r in free)} could take them")
    assigned = sum(owners.values())
    if assigned_messages != assigned:
        problems.append(f"{assigned} assigned but {assigned_messages} lead.assigned messages")
    for problem in problems[:20]:
        log("  CAP PROBLEM:", problem)
    return not problems, {"open": assigned, "still_queued": sum(waiting.values()), "timers": timers}


def bench(url: str, n: int, profile: bool) -> dict:
    app = build_queue(url, n)
    try:
        report = SweepReport()
        profiler = cProfile.Profile() if profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        assign_queued(app, NOW, report)
        if profiler:
            profiler.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        ok, state = check_caps(app)
        if state["open"] != report.assigned:
            ok = False
            log(f"  report says {report.assigned} assigned, the database {state['open']}")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
            log(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
            log(out.getvalue())
        log(f"  assign_queued: {seconds:.3f}s ({cpu:.3f}s CPU in this process), {report.assigned} assigned, "
            f"{report.still_queued} still queued, {state['timers']} SLA timers planned, caps respected: {ok}")
        return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "assigned": report.assigned,
                "still_queued": report.still_queued, "caps_respected": ok}
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql (default sqlite)")
    parser.add_argument("--leads", type=int, default=LEADS, help=f"waiting leads (default {LEADS})")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed call (stderr)")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    reps = sum(count for *_, count in TEAMS)
    results: dict = {}
    for backend in backends:
        log(f"[{backend}] building the queue ...")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
                results[backend] = bench(f"sqlite:///{Path(tmp) / 'assign.db'}", args.leads, args.profile)
            continue
        try:
            admin = connect(PG_URL)
        except StorageUnavailable as exc:
            log(f"[postgresql] skipped: {exc}")
            results[backend] = None
            continue
        schema = "bench_" + uuid.uuid4().hex[:12]
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            results[backend] = bench(f"{PG_URL}?options=-csearch_path%3D{schema}", args.leads, args.profile)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    first = next((r for r in results.values() if r), None)
    summary = {"leads": args.leads, "reps": reps, "seconds": first["seconds"] if first else None,
               "assigned": first["assigned"] if first else None,
               "caps_respected": all(r["caps_respected"] for r in results.values() if r)}
    summary |= {backend: results[backend] for backend in backends}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.leads:,} waiting leads, {reps} reps in {len(TEAMS)} teams; one assign_queued call:")
    for backend in backends:
        r = results[backend]
        if r is None:
            print(f"  {backend:<11} not run")
            continue
        met = "met" if r["seconds"] < TARGET_SECONDS and r["caps_respected"] else "NOT met"
        print(f"  {backend:<11} {r['seconds']:.2f} s, {r['assigned']:,} assigned, {r['still_queued']:,} still queued, "
              f"caps respected: {r['caps_respected']}  (target < {TARGET_SECONDS:.0f} s: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
