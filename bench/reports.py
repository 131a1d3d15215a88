"""How the reports' cost grows with the store: every report timed at N leads and at 10·N.

    python bench/reports.py [--json] [--leads N] [--scale K] [--backends sqlite,postgresql]

The store is generated directly with batched inserts, not through ingestion (that would
take hours at a million leads): leads with a first-touch source, campaign, country,
persona and owner; their stage history (subscriber, then lead, MQL, SAL, SQL, opportunity
and customer with falling odds, some hand-raisers jumping from lead to SAL, some recycles);
a handoff for every lead that reached SAL, with assignment, acceptance, first touch and
deadlines; its routing decision; its touches; its `LeadAssigned` domain event. No
activities are generated, so speed to lead's system delay is not measured here (its human
delay is).

Each report is asked as a user would: `funnel` from subscriber by source and month,
`conversion` MQL → SQL by source, `velocity` by month, `speed_to_lead` by rep,
`persistence`, `leakage` by month, `sla` by rep, `routing` by team and `sources`
(no spend, no deals: the lead counts). Also timed: counting every lead into the rollups
(`rebuild`), and counting again 1,000 leads whose owner changed (`refresh_1000`: what a
report or a worker sweep does after changes; it should not grow with the store). Prints
one JSON object per backend:
`{"reports": {NAME: {"small_s", "large_s", "growth"}}, "leads_small", "leads_large"}`.
The target (issue 9): growth ≤ 2 for every report, and every report under 1 s at
1,000,000 leads on SQLite. PostgreSQL: LEADRELAY_BENCH_POSTGRES_URL (a fresh schema,
dropped afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text, update

from leadrelay.bootstrap import bootstrap
from leadrelay.lead.stages import Stage
from leadrelay.playbook.loader import starter_playbook
from leadrelay.reports import rollups
from leadrelay.reports.catalog import funnel_stages, refresh_rollups, report_request, run_report
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t

PG_URL = os.environ.get("LEADRELAY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2025, 12, 1, tzinfo=UTC)
SOURCES = ["google", "bing", "linkedin", "capterra", "newsletter", "webinar", "referral", None]
COUNTRIES = ["US", "GB", "DE", "FR", "BR", "IN", "SG", "CA"]
PERSONAS = ["economic_buyer", "practitioner", "technical", None]
QUESTIONS = {  # name: the parameters a user would give
    "funnel": {"by": "source", "period": "month"},
    "conversion": {"from_stage": "mql", "to_stage": "sql", "by": "source"},
    "velocity": {"period": "month"},
    "speed_to_lead": {"by": "rep"},
    "persistence": {},
    "leakage": {"period": "month"},
    "sla": {"by": "rep"},
    "routing": {"by": "team"},
    "sources": {},
}
BATCH = 20_000


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def generate(engine, n: int, reps: list[tuple[str, str]], seed: int = 9) -> None:
    """`n` leads with their history, handoffs, touches and events (see the module docstring)."""
    rng = random.Random(seed)
    leads, moves, handoffs, touches, events, decisions = [], [], [], [], [], []

    def flush() -> None:
        """Everything generated so far, parents before children (the foreign keys hold)."""
        with engine.begin() as conn:
            for table, rows in ((t.leads, leads), (t.stage_changes, moves), (h.handoffs, handoffs),
                                (h.touches, touches), (h.domain_events, events), (h.routing_decisions, decisions)):
                if rows:
                    conn.execute(insert(table), rows)
                    rows.clear()

    handoff_id = 0
    for lead_id in range(1, n + 1):
        at = START + timedelta(seconds=rng.randrange(0, 365 * 86400))
        path = [("subscriber", "identify", at)]
        if rng.random() < 0.1:  # a hand-raiser: lead, then straight to SAL
            path += [("lead", "advance", at + timedelta(hours=1)), ("sal", "hand_raise", at + timedelta(hours=2))]
        else:
            for stage, odds, days in (("lead", 0.7, 2), ("mql", 0.4, 5), ("sal", 0.7, 1)):
                if rng.random() > odds:
                    break
                path.append((stage, "advance", path[-1][2] + timedelta(days=rng.uniform(0.1, days))))
        if path[-1][0] == "sal":
            for stage, odds, days in (("sql", 0.4, 10), ("opportunity", 0.8, 3), ("customer", 0.3, 40)):
                if rng.random() > odds:
                    break
                path.append((stage, "advance", path[-1][2] + timedelta(days=rng.uniform(0.5, days))))
            if path[-1][0] in ("sal", "sql") and rng.random() < 0.3:
                path.append(("lead", "recycle", path[-1][2] + timedelta(days=rng.uniform(1, 20))))
        owner, team = rng.choice(reps) if any(s == "sal" for s, _, _ in path) else (None, None)
        stage = path[-1][0]
        leads.append({"id": lead_id, "email": f"p{lead_id}@corp{lead_id % 5000}.example", "traits": {},
                      "trait_times": {}, "engine_state": {}, "stage": stage,
                      "furthest_stage": max((s for s, _, _ in path), key=lambda s: STAGES.index(s)),
                      "stage_changed_at": path[-1][2], "segment": "recycled" if path[-1][1] == "recycle" else "new",
                      "source": rng.choice(SOURCES), "campaign": f"c{rng.randrange(20)}",
                      "country": rng.choice(COUNTRIES), "persona": rng.choice(PERSONAS), "owner": owner,
                      "fit_score": 50.0, "engagement_score": 10.0, "first_seen_at": at,
                      "last_activity_at": path[-1][2], "version": 1, "created_at": at, "updated_at": path[-1][2]})
        previous = None
        for to_stage, transition, moment in path:
            moves.append({"lead_id": lead_id, "from_stage": previous, "to_stage": to_stage, "at": moment,
                          "transition": transition, "actor": "bench", "reason": "bench" if transition == "recycle"
                          else None})
            previous = to_stage
        sal = next((moment for s, _, moment in path if s == "sal"), None)
        if sal is not None:
            handoff_id += 1
            assigned = sal
            accepted = assigned + timedelta(minutes=rng.expovariate(1 / 90)) if rng.random() < 0.9 else None
            first_touch = (accepted or assigned) + timedelta(minutes=rng.expovariate(1 / 60)) \
                if rng.random() < 0.85 else None
            handoffs.append({"id": handoff_id, "lead_id": lead_id, "kind": "mql", "from_function": "marketing",
                             "to_function": "sdr", "team": team, "owner": owner, "status": "working",
                             "opened_at": sal, "assigned_at": assigned, "accepted_at": accepted,
                             "first_touch_at": first_touch, "last_touch_at": first_touch,
                             "touches": 0, "accept_due_at": assigned + timedelta(hours=4),
                             "first_touch_due_at": assigned + timedelta(hours=8), "reassignments": 0})
            if first_touch is not None:
                for k in range(rng.randrange(1, 5)):
                    touches.append({"lead_id": lead_id, "handoff_id": handoff_id, "rep": owner, "kind": "call",
                                    "outcome": "no_answer", "at": first_touch + timedelta(days=k * rng.uniform(0, 3))})
            decisions.append({"lead_id": lead_id, "handoff_id": handoff_id, "at": assigned,
                              "rule_id": rng.choice(["by_country", "rest"]), "team": team, "owner": owner,
                              "reason": "bench", "candidates": [], "actor": "rule:routing"})
            events.append({"type": "LeadAssigned", "at": assigned, "recorded_at": assigned, "lead_id": lead_id,
                           "handoff_id": handoff_id, "cause": "rule:routing", "data": {"owner": owner},
                           "quiet": False})
        if lead_id % BATCH == 0:
            flush()
    flush()


STAGES = ["subscriber", "lead", "mql", "sal", "sql", "opportunity", "customer"]


def time_reports(app, repeats: int = 5) -> dict[str, float]:
    """Each report's median wall time over `repeats` runs (they take milliseconds: one run is mostly noise)."""
    out = {}
    for name, params in QUESTIONS.items():
        request = report_request(name, **params)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run_report(app, request)
            times.append(time.perf_counter() - started)
        out[name] = round(statistics.median(times), 4)
    return out


def measure(url: str, n: int) -> dict[str, float]:
    app = bootstrap(Settings(database_url=url), playbook=starter_playbook())
    try:
        reps = [(rep.id, rep.team) for rep in app.playbook.rules.handoff.directory.reps.values()
                if app.playbook.rules.handoff.directory.teams[rep.team].function == "sdr"]
        started = time.perf_counter()
        generate(app.engine, n, reps)
        if app.engine.dialect.name == "postgresql":
            with app.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        log(f"  {n:,} leads generated in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        with app.engine.begin() as conn:
            counted = rollups.rebuild(conn, funnel_stages(app, Stage.SUBSCRIBER))
        rebuilt = time.perf_counter() - started
        log(f"  rollups rebuilt in {rebuilt:.1f} s ({counted / rebuilt:,.0f} leads/s)")
        if app.engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum would keep them
            with app.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        timings = time_reports(app) | {"rebuild": round(rebuilt, 3)}
        with app.engine.begin() as conn:  # a change to 1,000 leads (their owner), as reassignments would make
            conn.execute(update(t.leads).where(t.leads.c.id <= 1000).values(owner=reps[0][0]))
        started = time.perf_counter()
        refresh_rollups(app)
        return timings | {"refresh_1000": round(time.perf_counter() - started, 3)}
    finally:
        app.close()


def backend_url(backend: str, folder: Path, label: str):
    if backend == "sqlite":
        return f"sqlite:///{folder / f'{label}.db'}", None
    schema = f"bench_reports_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import create_engine

    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}", (admin, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--leads", type=int, default=100_000, help="leads in the small store (default 100000)")
    parser.add_argument("--scale", type=int, default=10, help="the large store is this many times bigger")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite,postgresql")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            log(f"[{backend}]")
            timings = {}
            for label, n in (("small", args.leads), ("large", args.leads * args.scale)):
                url, cleanup = backend_url(backend, Path(folder), label)
                try:
                    timings[label] = measure(url, n)
                finally:
                    if cleanup:
                        admin, schema = cleanup
                        with admin.begin() as conn:
                            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                        admin.dispose()
            results[backend] = {
                "reports": {name: {"small_s": timings["small"][name], "large_s": timings["large"][name],
                                   "growth": round(timings["large"][name] / max(timings["small"][name], 1e-6), 1)}
                            for name in (*QUESTIONS, "rebuild", "refresh_1000")},
                "leads_small": args.leads, "leads_large": args.leads * args.scale}
            for name, figures in results[backend]["reports"].items():
                log(f"  {name:14} {figures['small_s']:8.3f} s  {figures['large_s']:8.3f} s  ×{figures['growth']}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
