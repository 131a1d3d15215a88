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

`--past N` first fills the store with N past assignments, as a store that has routed leads
for a year holds them: per assignment a lead (owned, in SAL), its stage history (lead, MQL,
SAL), its closed handoff, its routing decision (with every candidate), its four SLA timers
(cancelled or fired), its domain events (stage changes, opened, assigned, closed), its
`lead.assigned` outbox row (sent) and the per-rep, per-day assignment counters. They are
inserted in bulk (`storage.bulk`), not through the engine, which would take hours. With
`--growth` both stores are built in one run, without and with the N past assignments, and
the growth of the timed call is printed: nothing it does per lead may read something that
grows with history (target: growth <= 1.2 at 1,000,000).

    python bench/assign.py [--json] [--backends sqlite,postgresql] [--leads N] [--profile]
                           [--past N] [--growth]

Default backend: SQLite (a temporary file). PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test), in a fresh schema dropped
afterwards. `--profile` runs the timed call under cProfile and prints the top functions
to stderr. Target: under 0.5 s, all caps respected (`target_ratio` = 0.5 s / seconds, at
least 1 when met); `growth_ratio` = 1.2 / growth, at least 1 when met. Progress goes to
stderr.
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
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import StorageUnavailable
from leadrelay.core.time import said_at, utc_iso
from leadrelay.handoff.directory import effective_directory, rep_loads, set_rep
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.playbook.loader import parse_playbook
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.bulk import insert_tuples
from leadrelay.storage.database import connect
from leadrelay.storage.outbox_tables import outbox
from leadrelay.storage.report_tables import report_dirty
from leadrelay.worker import SweepReport, assign_queued

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LEADS = 12_576
TARGET_SECONDS = 0.5
GROWTH_LIMIT = 1.2  # time with the past assignments / time without
PAST_GROWTH = 1_000_000  # past assignments `--growth` adds when `--past` is not given
PAST_BATCH = 10_000  # past assignments per transaction while generating them
PAST_GENERATED = 50_000  # past assignments generated one by one; the rest are copies of them (`copy_past`)
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
RULE_OF = {"sdr_na": "everyone_else", "sdr_emea": "emea", "sdr_apac": "apac", "sdr_enterprise": "enterprise",
           "sdr_smb": "smb"}


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


def new_app(url: str):
    return bootstrap(Settings(database_url=url), playbook=parse_playbook(playbook_text(), "bench-assign.yaml"),
                     clock=lambda: NOW)


def copy_past(app, generated: int, total: int, started: float) -> None:
    """Copy the past assignments 1..`generated` until there are `total`: each copy doubles them, in
    one INSERT ... SELECT per table (ids, lead and handoff references shifted, addresses and outbox
    message ids new; everything else, moments included, as in the original)."""
    message_id = "'msg_' || lower(hex(randomblob(16)))" if app.engine.dialect.name == "sqlite" \
        else "'msg_' || md5(random()::text || id::text)"
    shifted = {"id": "id + :k", "lead_id": "lead_id + :k", "handoff_id": "handoff_id + :k"}
    special = {t.leads: {"email": "'past' || (id + :k) || '@customer' || ((id + :k) % 5000) || '.example'",
                         "user_id": "'past-' || (id + :k)"}, outbox: {"message_id": message_id}}
    have = generated
    while have < total:
        k, count = have, min(have, total - have)
        with app.engine.begin() as conn:  # parents before children: the foreign keys hold
            for table in (t.leads, t.stage_changes, h.handoffs, h.routing_decisions, h.sla_timers,
                          h.domain_events, outbox):
                own_ids = table in (t.leads, h.handoffs)  # given, not allocated by the database
                names = [c.name for c in table.columns if own_ids or c.name != "id"]
                values = [special.get(table, {}).get(name) or shifted.get(name) or name for name in names]
                key = "id" if own_ids else "lead_id"
                conn.execute(text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(values)} "
                                  f"FROM {table.name} WHERE {key} <= :c ORDER BY id"), {"k": k, "c": count})
        have += count
        log(f"  {have:,} past assignments stored ({time.perf_counter() - started:.0f}s)")


def build_queue(app, n: int) -> None:
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


def fill_past(app, n: int) -> None:
    """`n` past assignments in the year before NOW, in bulk (see the module docstring); ids from 1.

    The first `PAST_GENERATED` are made one by one (their reps, teams, countries and moments
    drawn at random); the rest are copies of them made by the database (`copy_past`), at the
    same moments, with ids, addresses and message ids of their own: generating a million in
    Python would take longer than the rest of the bench.
    """
    started = time.perf_counter()
    n, total = min(n, PAST_GENERATED), n
    rng = random.Random(1_000_000)
    directory = app.playbook.rules.handoff.directory
    reps = list(directory.reps.values())
    members = {team: [{"rep": r.id, "skipped": None} for r in directory.members(team)] for team in directory.teams}
    version = app.playbook.version
    start, span = NOW - timedelta(days=366), 365 * 86_400
    counts: Counter = Counter()
    tables: dict = {table: [] for table in (t.leads, t.stage_changes, h.handoffs, h.routing_decisions, h.sla_timers,
                                            h.domain_events, outbox)}
    columns: dict = {table: None for table in tables}

    def add(table, **row) -> None:
        if columns[table] is None:
            columns[table] = tuple(row)
        tables[table].append(tuple(row.values()))

    def flush() -> None:
        with app.engine.begin() as conn:  # parents before children: the foreign keys hold
            for table, rows in tables.items():
                insert_tuples(conn, table, columns[table], rows)
                rows.clear()

    for i in range(1, n + 1):
        rep = rng.choice(reps)
        at = start + timedelta(seconds=span * (i - 1) / n + rng.uniform(0, 30))  # assigned at
        opened, accepted, touched = at - timedelta(seconds=2), at + timedelta(minutes=rng.uniform(5, 600)), \
            at + timedelta(hours=rng.uniform(1, 30))
        closed = touched + timedelta(days=rng.uniform(1, 10))
        seen = opened - timedelta(days=rng.uniform(1, 60))
        accept_due, touches_due = at + timedelta(hours=48), at + timedelta(days=7)
        country = rng.choice(EMEA + APAC + AMERICAS)
        traits = {"email": f"past{i}@customer{i % 5000}.example", "first_name": f"P{i}", "country": country,
                  "employees": rng.choice([5, 40, 200, 900, 5000]), "company": f"Customer {i % 5000}"}
        add(t.leads, id=i, email=traits["email"], user_id=f"past-{i}", company_domain=f"customer{i % 5000}.example",
            country=country, persona=None, traits=traits, trait_times={}, account_id=None, stage="sal",
            furthest_stage="sal", stage_changed_at=closed, segment="new", source=None, campaign=None, owner=rep.id,
            fit_score=60.0, engagement_score=40.0, engagement_as_of=None, predicted=None, engine_state={},
            disqualified_by=None, disqualified_from=None, first_seen_at=seen, last_activity_at=closed,
            merged_into=None, version=4, created_at=seen, updated_at=closed)
        for before, stage, moment, actor in ((None, "lead", seen, "rule:stage.lead.entry"),
                                             ("lead", "mql", opened, "rule:stage.mql.entry"),
                                             ("mql", "sal", closed, f"user:{rep.id}")):
            add(t.stage_changes, lead_id=i, from_stage=before, to_stage=stage, at=moment, transition="advance",
                actor=actor, reason=f"{stage} entry", activity_id=None, playbook_version=version)
        add(h.handoffs, id=i, lead_id=i, kind="mql", from_function="marketing", to_function="sdr", team=rep.team,
            owner=rep.id, status="closed", outcome="advanced", reason="accepted into sal", policy_id="mql_acceptance",
            opened_at=opened, assigned_at=at, accepted_at=accepted, first_touch_at=touched, last_touch_at=touched,
            touches=3, touches_required=3, accept_due_at=accept_due, first_touch_due_at=None,
            touches_due_at=touches_due, stale_alerted_at=None, closed_at=closed, playbook_version=version,
            reassignments=0, excluded_reps=None, quiet_until=None, follow_up_due_at=None, follow_up_from=None,
            follow_up_met_at=None)
        rule = RULE_OF[rep.team]
        reason = f"rule '{rule}' → team {rep.team}, round robin"
        add(h.routing_decisions, lead_id=i, handoff_id=i, at=at, rule_id=rule, team=rep.team, owner=rep.id,
            reason=reason, candidates=members[rep.team], actor="rule:routing", playbook_version=version)
        for deadline, step, due, fire, done, outcome in (
                ("accept", "warning", accept_due, accept_due - timedelta(hours=4), accepted, "accepted"),
                ("accept", "breach", accept_due, accept_due, accepted, "accepted"),
                ("touches", "warning", touches_due, touches_due - timedelta(hours=4), closed, "handoff advanced"),
                ("touches", "breach", touches_due, touches_due, closed, "handoff advanced")):
            fired = fire <= done
            add(h.sla_timers, handoff_id=i, lead_id=i, policy_id="mql_acceptance", deadline=deadline, step=step,
                step_index=0, action=None, due_at=due, fire_at=fire, fired_at=fire if fired else None,
                cancelled_at=None if fired else done, outcome=step if fired else outcome)
        for kind, moment, cause, data in (
                ("StageChanged", opened, "rule:stage.mql.entry", {"from_stage": "lead", "to_stage": "mql",
                                                                   "transition": "advance", "reason": "mql entry"}),
                ("HandoffOpened", opened, "rule:stage.mql.entry", {"kind": "mql", "from_function": "marketing",
                                                                    "to_function": "sdr"}),
                ("LeadAssigned", at, "rule:routing", {"owner": rep.id, "team": rep.team, "rule": rule,
                                                      "reason": reason, "previous_owner": None}),
                ("HandoffClosed", closed, f"user:{rep.id}", {"outcome": "advanced", "reason": "accepted into sal",
                                                              "owner": rep.id}),
                ("StageChanged", closed, f"user:{rep.id}", {"from_stage": "mql", "to_stage": "sal",
                                                            "transition": "advance", "reason": "sal entry"})):
            add(h.domain_events, type=kind, at=moment, recorded_at=moment, lead_id=i, handoff_id=i, cause=cause,
                data=data, quiet=False, playbook_version=version)
        add(outbox, message_id=f"msg_{rng.getrandbits(128):032x}", event_type="lead.assigned", channel="webhook",
            target="crm", lead_id=i, status="sent", attempts=1, next_attempt_at=at, last_error=None, created_at=at,
            sent_at=at + timedelta(seconds=1), payload={
                "type": "lead.assigned", "timestamp": utc_iso(at), "data": {
                    "owner": {"id": rep.id, "name": rep.name, "email": rep.email}, "team": rep.team, "reason": reason,
                    "why": reason, "lead": {"id": i, "email": traits["email"], "name": traits["first_name"],
                                            "title": None, "company": traits["company"], "stage": "mql"},
                    "fit": 60.0, "scores": {"fit": 60.0, "engagement": 40.0},
                    "handoff": {"id": i, "kind": "mql", "status": "assigned",
                                "deadlines": {"accept": utc_iso(accept_due), "touches": utc_iso(touches_due)}},
                    "playbook_version": version, "lead_id": i}})
        copies = total // n + (1 if i <= total % n else 0)  # this one and its copies
        counts[(rep.id, at.astimezone(ZoneInfo(rep.calendar.timezone)).date().isoformat())] += copies
        counts[(rep.id, "")] += copies
        if i % PAST_BATCH == 0:
            flush()
            log(f"  {i:,} past assignments stored ({time.perf_counter() - started:.0f}s)")
    flush()
    copy_past(app, n, total, started)
    n = total
    with app.engine.begin() as conn:
        insert_tuples(conn, h.rep_assignment_counts, ("rep", "day", "assigned"),
                      [(rep, day, count) for (rep, day), count in sorted(counts.items())])
        conn.execute(report_dirty.delete())  # as a store whose report rollups are up to date
        if conn.dialect.name == "postgresql":  # the ids given explicitly: the sequences go on after them
            for table in ("leads", "handoffs"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {max(n, 1)})")
    log(f"  {n:,} past assignments in {time.perf_counter() - started:.0f}s (last assigned "
        f"{said_at(start + timedelta(seconds=span))})")


def check_caps(app) -> tuple[bool, dict]:
    """From the database: open leads <= capacity, today's assignments <= quota, nobody idle while leads wait."""
    with app.engine.connect() as conn:
        directory = effective_directory(conn, app)
        loads = rep_loads(conn, directory, NOW)
        c = h.handoffs.c
        waiting = Counter(conn.scalars(select(c.team).where(c.status == "queued")))
        owners = Counter(conn.scalars(select(c.owner).where(c.status.in_(OWNED_STATUSES))))
        assigned_messages = conn.scalar(select(func.count()).select_from(outbox)  # this call's: not sent yet
                                        .where(outbox.c.event_type == "lead.assigned", outbox.c.status == "pending"))
        timers = conn.scalar(select(func.count()).select_from(h.sla_timers).where(  # this call's: pending
            h.sla_timers.c.fired_at.is_(None), h.sla_timers.c.cancelled_at.is_(None)))
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


def bench(url: str, n: int, profile: bool, past: int) -> dict:
    """Build the store (`past` assignments, then the queue), time one `assign_queued` call, check the caps."""
    app = new_app(url)
    try:
        if past:
            fill_past(app, past)
        build_queue(app, n)
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
        return {"past": past, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                "assigned": report.assigned, "still_queued": report.still_queued, "caps_respected": ok,
                "target_ratio": round(TARGET_SECONDS / seconds, 2)}
    finally:
        app.close()


def run_backend(backend: str, n: int, profile: bool, past: int) -> dict | None:
    """One store and one timed call on `backend`; None when PostgreSQL cannot be reached."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="leadrelay-bench-") as tmp:
            return bench(f"sqlite:///{Path(tmp) / 'assign.db'}", n, profile, past)
    try:
        admin = connect(PG_URL)
    except StorageUnavailable as exc:
        log(f"[postgresql] skipped: {exc}")
        return None
    schema = "bench_" + uuid.uuid4().hex[:12]
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        return bench(f"{PG_URL}?options=-csearch_path%3D{schema}", n, profile, past)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql (default sqlite)")
    parser.add_argument("--leads", type=int, default=LEADS, help=f"waiting leads (default {LEADS})")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed call (stderr)")
    parser.add_argument("--past", type=int, default=None,
                        help="past assignments in the store before the queue (default 0; with --growth "
                             f"{PAST_GROWTH:,})")
    parser.add_argument("--growth", action="store_true",
                        help="run without and with the past assignments, and print the growth")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgresql"}:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    past = args.past if args.past is not None else (PAST_GROWTH if args.growth else 0)
    if args.growth and past <= 0:
        parser.error("--growth needs --past N with N > 0")
    reps = sum(count for *_, count in TEAMS)
    results: dict = {}
    for backend in backends:
        runs = [0, past] if args.growth else [past]
        figures: list[dict | None] = []
        for n_past in runs:
            log(f"[{backend}] building the store: {n_past:,} past assignments, {args.leads:,} queued leads ...")
            figures.append(run_backend(backend, args.leads, args.profile, n_past))
        result, with_past = figures[0], figures[-1]
        if result is None or with_past is None:
            results[backend] = None
            continue
        if args.growth:
            growth = with_past["seconds"] / result["seconds"]
            result |= {"with_past": with_past, "growth": round(growth, 2),
                       "growth_cpu": round(with_past["cpu_seconds"] / result["cpu_seconds"], 2),
                       "growth_ratio": round(GROWTH_LIMIT / growth, 2)}
        results[backend] = result

    first = next((r for r in results.values() if r), None)
    summary = {"leads": args.leads, "reps": reps, "past": past, "target_seconds": TARGET_SECONDS,
               "growth_limit": GROWTH_LIMIT, "seconds": first["seconds"] if first else None,
               "assigned": first["assigned"] if first else None,
               "caps_respected": all(r["caps_respected"] and r.get("with_past", r)["caps_respected"]
                                     for r in results.values() if r)}
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
        for run in (r, r.get("with_past")):
            if run is None:
                continue
            met = "met" if run["seconds"] < TARGET_SECONDS and run["caps_respected"] else "NOT met"
            print(f"  {backend:<11} {run['past']:>9,} past: {run['seconds']:.2f} s ({run['cpu_seconds']:.2f} s CPU), "
                  f"{run['assigned']:,} assigned, {run['still_queued']:,} still queued, caps respected: "
                  f"{run['caps_respected']}  (target < {TARGET_SECONDS} s: {met}, ratio {run['target_ratio']})")
        if "growth" in r:
            met = "met" if r["growth"] <= GROWTH_LIMIT else "NOT met"
            print(f"  {backend:<11} growth with {past:,} past assignments: x{r['growth']} "
                  f"(CPU x{r['growth_cpu']}; limit {GROWTH_LIMIT}: {met})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
