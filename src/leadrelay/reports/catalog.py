"""The reports by name, their parameters checked once for the CLI and the API, and CSV output.

`leadrelay report NAME` and `GET /api/reports/NAME` both go through `report_request` (every
problem with the parameters is one `InvalidInput` naming what and where) and `run_report`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput
from leadrelay.core.gc import collector_paused
from leadrelay.handoff.directory import effective_directory
from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.reports import cohorts, rollups
from leadrelay.reports import forecast_accuracy as accuracy_report
from leadrelay.reports import handoffs as handoff_reports
from leadrelay.reports import routing as routing_report
from leadrelay.reports import sla as sla_report
from leadrelay.reports import sources as sources_report
from leadrelay.reports.history import DIMENSIONS, journeys
from leadrelay.reports.leakage import leakage
from leadrelay.sales.model import iso_week

REPORTS = {
    "funnel": "of the leads that entered a stage, how many reached each later stage, and when",
    "conversion": "of the leads that entered one stage, how many reached another, and how fast",
    "velocity": "how long leads stay in each stage, and how long each step takes",
    "speed_to_lead": "system delay (received, routed, notified) and human delay (accepted, first touch)",
    "persistence": "touches per lead in the first week after assignment, and leads never touched",
    "leakage": "leads stalled in each stage now; why leads went back (recycle, reject, disqualify) or were lost",
    "sla": "sales SLA compliance counted by lead, escalations and how they ended; MQLs per month vs the target",
    "routing": "assignments per rep against their weight (fairness), time in queue, catch-all share, reassignments",
    "sources": "spend, leads, MQLs, SQLs, customers, revenue, cost per each and ROI per source and month",
    "forecast_accuracy": "each weekly forecast snapshot against what became of its deals",
}
SECTIONS = ("stalled", "went_back", "stale_recycles", "lost", "marketing")  # leakage's and sla's parts
HANDOFF_REPORTS = ("speed_to_lead", "persistence")
STAGES = tuple(stage.value for stage in FUNNEL)


@dataclass(frozen=True)
class ReportRequest:
    name: str
    start: date | None = None  # first day, inclusive (UTC)
    end: date | None = None  # last day, inclusive (UTC)
    by: str | None = None
    period: str | None = None
    stage: str = "subscriber"  # funnel: the cohort's stage
    mode: str = "in_order"  # funnel
    from_stage: str | None = None  # conversion
    to_stage: str | None = None  # conversion


def report_request(name: str, *, start: date | None = None, end: date | None = None, by: str | None = None,
                   period: str | None = None, stage: str | None = None, mode: str | None = None,
                   from_stage: str | None = None, to_stage: str | None = None) -> ReportRequest:
    """The parameters, checked: raises InvalidInput listing every problem."""
    problems = []
    if name not in REPORTS:
        problems.append(f"no report '{name}' (one of {', '.join(REPORTS)})")
    dimensions = handoff_reports.DIMENSIONS if name in HANDOFF_REPORTS else sla_report.DIMENSIONS \
        if name == "sla" else routing_report.DIMENSIONS if name == "routing" else ("campaign",) \
        if name == "sources" else accuracy_report.DIMENSIONS if name == "forecast_accuracy" else DIMENSIONS
    if by is not None and name != "leakage" and by not in dimensions:
        problems.append(f"by: no dimension '{by}' for {name} (one of {', '.join(dimensions)})")
    if by is not None and name == "leakage":
        problems.append("by: leakage is not split by dimension (use --period)")
    if period is not None and period not in cohorts.PERIODS:
        problems.append(f"period: no period '{period}' (one of {', '.join(cohorts.PERIODS)})")
    elif period not in (None, "month") and name == "sources":
        problems.append("period: sources is by month (spend is imported per month)")
    elif period is not None and name == "forecast_accuracy":
        problems.append("period: forecast_accuracy is by week (one snapshot a week)")
    if start is not None and end is not None and start > end:
        problems.append(f"from: {start.isoformat()} is after to: {end.isoformat()}")
    for label, value in (("stage", stage), ("from-stage", from_stage), ("to-stage", to_stage)):
        if value is not None and value not in STAGES:
            problems.append(f"{label}: no stage '{value}' (one of {', '.join(STAGES)})")
    if mode is not None and mode not in cohorts.MODES:
        problems.append(f"mode: no mode '{mode}' (one of {', '.join(cohorts.MODES)})")
    for label, value, only in (("stage", stage, "funnel"), ("mode", mode, "funnel"),
                                ("from-stage", from_stage, "conversion"), ("to-stage", to_stage, "conversion")):
        if value is not None and name in REPORTS and name != only:
            problems.append(f"{label}: only the {only} report takes it")
    if name == "conversion":
        if from_stage is None or to_stage is None:
            problems.append("conversion needs from-stage and to-stage")
        elif from_stage in STAGES and to_stage in STAGES and Stage(to_stage).rank <= Stage(from_stage).rank:
            problems.append(f"to-stage: {to_stage} does not come after {from_stage} in the funnel")
    if problems:
        raise InvalidInput("; ".join(problems))
    return ReportRequest(name, start, end, by, period, stage or "subscriber", mode or "in_order", from_stage, to_stage)


def run_report(app: App, request: ReportRequest, *, owners: Iterable[str] | None = None) -> dict[str, Any]:
    """The report's rows, with the parameters that made them. `owners`: only those reps' leads."""
    with collector_paused():  # a report reads its history into many small objects at once
        return _run(app, request, owners)


def _run(app: App, request: ReportRequest, owners: Iterable[str] | None) -> dict[str, Any]:
    teams = {rep.id: rep.team for rep in app.playbook.rules.handoff.directory.reps.values()}
    cohort_stage = Stage(request.from_stage if request.name == "conversion" else request.stage)
    start = datetime.combine(request.start, time(), UTC) if request.start else None
    end = datetime.combine(request.end + timedelta(days=1), time(), UTC) \
        if request.end and request.end < date.max else None  # to 9999-12-31: no end
    if request.name == "forecast_accuracy":
        with app.engine.connect() as conn:
            rows = accuracy_report.forecast_accuracy(
                conn, iso_week(request.start) if request.start else None,
                iso_week(request.end) if request.end else None, by=request.by, owners=owners)
        return _result(request, rows)
    if request.name == "sources":
        with app.engine.connect() as conn:
            rows = sources_report.sources(conn, start, end, by_campaign=request.by == "campaign", owners=owners)
        return _result(request, rows)
    if request.name == "routing":
        with app.engine.connect() as conn:
            rows = routing_report.routing(conn, effective_directory(conn, app), start, end, by=request.by or "team",
                                          period=request.period, owners=owners)
        return _result(request, rows)
    if request.name == "sla":
        with app.engine.connect() as conn:
            found = sla_report.sla(conn, app.clock(), start, end, by=request.by or "policy", period=request.period,
                                   owners=owners, mqls_target=app.playbook.rules.handoff.mqls_per_month)
        return _result(request, found.pop("rows"), found)
    if request.name == "leakage":
        with app.engine.connect() as conn:
            found = leakage(conn, app.clock(), start, end, period=request.period, owners=owners)
        return _result(request, [], found)
    if request.name in HANDOFF_REPORTS:
        with app.engine.connect() as conn:
            times = handoff_reports.handoff_times(conn, start, end, owners=owners)
        report = handoff_reports.speed_to_lead if request.name == "speed_to_lead" else handoff_reports.persistence
        return _result(request, report(times, by=request.by or ("rep" if request.name == "persistence" else None),
                                       period=request.period))
    return _result(request, _cohort_rows(app, request, cohort_stage, start, end, teams, owners))


def _cohort_rows(app: App, request: ReportRequest, cohort: Stage, start: datetime | None, end: datetime | None,
                 teams: dict[str, str], owners: Iterable[str] | None) -> list[dict]:
    """funnel, conversion and velocity: from the rollups, or from the leads' journeys when a view limited to
    some reps' leads is split by another dimension than rep or team."""
    basis = funnel_stages(app, Stage.SUBSCRIBER)
    stages = funnel_stages(app, cohort)
    if request.name == "velocity":
        metrics = ["start"] + [f"{kind}:{s.value}" for s in basis for kind in ("stay", "still", "step")]
    elif request.name == "conversion":
        metrics = [f"in:{cohort.value}", f"any:{cohort.value}:{request.to_stage}"]
    else:
        kinds = ("ord", "jump") if request.mode == "in_order" else ("any",)
        metrics = [f"in:{cohort.value}"] + [f"{kind}:{cohort.value}:{s.value}" for s in stages
                                            if s.rank > cohort.rank for kind in kinds]
    refresh_rollups(app)
    with app.engine.connect() as conn:
        found = rollups.read_tally(conn, metrics, start and start.date(), end and end.date(), by=request.by,
                                   period=request.period, teams=teams, owners=owners)
        if found is None:
            found = cohorts.tally(journeys(conn, None, None, None, teams=teams, owners=owners), by=request.by,
                                  period=request.period, basis=basis, days=(start, end))
    if request.name == "velocity":
        return cohorts.velocity_rows(found, basis)
    if request.name == "conversion":
        return cohorts.conversion_rows(found, cohort, Stage(request.to_stage))
    return cohorts.funnel_rows(found, cohort, mode=request.mode, stages=stages)


_OWN_PARAMS = {"funnel": ("stage", "mode"), "conversion": ("from_stage", "to_stage")}


def _result(request: ReportRequest, rows: list[dict], sections: dict[str, Any] | None = None) -> dict[str, Any]:
    own = _OWN_PARAMS.get(request.name, ())
    params = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(request).items()
              if k not in ("stage", "mode", "from_stage", "to_stage") or k in own}
    return {"report": request.name, "params": params, "rows": rows} | (sections or {})


def refresh_rollups(app: App) -> int:
    """Count the leads marked changed into the cohort reports' rollups; returns how many."""
    with app.engine.begin() as conn:
        return rollups.refresh(conn, funnel_stages(app, Stage.SUBSCRIBER))


def rebuild_rollups(app: App) -> int:
    """Count every lead into the cohort reports' rollups again (`leadrelay report rebuild`); returns how many."""
    with collector_paused(), app.engine.begin() as conn:
        return rollups.rebuild(conn, funnel_stages(app, Stage.SUBSCRIBER))


def funnel_stages(app: App, cohort: Stage) -> tuple[Stage, ...]:
    """The funnel's stages: every stage, except `lead` and `mql` when the playbook has no entry criteria for
    them (nobody is ever put there automatically, so moving past them is not skipping them)."""
    entered = {entry.stage for entry in app.playbook.rules.stage_entries}
    return tuple(s for s in FUNNEL if s is cohort or s not in (Stage.LEAD, Stage.MQL) or s in entered)


def as_csv(result: dict[str, Any]) -> str:
    """One line per row (per row and stage, or rep, where a row has them), nested values as `system_...` columns."""
    lines: list[dict[str, Any]] = [{"section": name} | row for name in SECTIONS for row in result.get(name, ())]
    for row in result["rows"]:
        flat = flat_row({k: v for k, v in row.items() if k not in ("stages", "reps")})
        if "stages" in row:
            lines += [flat | {f"to_{k}" if k == "stage" else k: v for k, v in stage.items()} for stage in row["stages"]]
        elif "reps" in row:  # routing: a line per rep
            lines += [flat | {f"rep_{k}" if k != "rep" else k: v for k, v in rep.items()} for rep in row["reps"]]
        else:
            lines.append(flat)
    columns = list(dict.fromkeys(key for line in lines for key in line))
    out = io.StringIO()
    if lines:
        writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(lines)
    return out.getvalue()


def flat_row(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested figures as `outer_inner` keys (speed to lead's `system`, the SLA's `clocks_accept_met`)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out |= flat_row(value, f"{prefix}{key}_")
        else:
            out[f"{prefix}{key}"] = value
    return out
