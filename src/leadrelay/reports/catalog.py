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

from sqlalchemy import Connection

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
from leadrelay.reports.leakage import STALL_DAYS, stall_line, stalled_rows, went_back_rows
from leadrelay.reports.loading import visible_records
from leadrelay.reports.records import tally_records
from leadrelay.reports.sketch import Tally
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
DIMENSIONS = ("source", "campaign", "persona", "segment", "country", "team", "rep")  # funnel, conversion, velocity
SECTIONS = ("stalled", "went_back", "stale_recycles", "no_shows", "lost", "marketing")  # leakage's and sla's parts
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
    if name == "sources":
        if period not in (None, "month", "all"):
            problems.append(f"period: sources is by month (spend is imported per month) or over the whole range "
                            f"(all), not '{period}'")
    elif period is not None and period not in cohorts.PERIODS:
        problems.append(f"period: no period '{period}' (one of {', '.join(cohorts.PERIODS)})")
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


def run_report(app: App, request: ReportRequest, *, owners: Iterable[str] | None = None,
               loaded: dict | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The report's rows, with the parameters that made them. `owners`: only those reps' leads. `loaded`: a dict
    kept by a caller that runs several reports at once (a dashboard), so that the leads a view reads lead by lead
    are loaded once for all of them. `now`: the moment a deadline is judged pending or past (the app's clock)."""
    with collector_paused():  # a report reads its history into many small objects at once
        return _run(app, request, owners, {} if loaded is None else loaded, now or app.clock())


def sla_summary(app: App, *, owners: Iterable[str] | None = None) -> dict[str, Any]:
    """`leadrelay sla report` and `GET /api/sla`: the SLA report by policy, counted by lead (the rows of
    `run_report`, so the two cannot disagree), as a line per policy and deadline and a line per policy; and
    marketing's MQLs this month against the target."""
    now = app.clock()
    result = run_report(app, report_request("sla"), owners=owners, now=now)
    return sla_report.summary(result["rows"], result["marketing"], now, app.playbook.rules.handoff.mqls_per_month)


def _run(app: App, request: ReportRequest, owners: Iterable[str] | None, loaded: dict,
         now: datetime) -> dict[str, Any]:
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
    refresh_rollups(app)
    basis = funnel_stages(app, Stage.SUBSCRIBER)
    with app.engine.connect() as conn:
        read = _Reader(conn, teams, None if owners is None else sorted(owners), basis, start, end, loaded)
        name, by, period = request.name, request.by, request.period
        if name == "sources":
            by_campaign = by == "campaign"
            found = read.tally("src", ("s.leads", "s.mql", "s.sql", "s.customer", "sum:s.rev:"),
                               by="campaign" if by_campaign else "source", period="month")
            # Spend is marketing's, for every lead: set against a team's or a rep's leads it would mean nothing.
            spent = sources_report.spend(conn, start, end, by_campaign=by_campaign) if owners is None else {}
            return _result(request, sources_report.sources_rows(found, spent, by_campaign=by_campaign,
                                                                per_month=request.period != "all"))
        if name == "routing":
            found = read.tally("route", ("r.d", "r.h", "r.queued", "r.wait", "r.still", "r.re", "r.rule:", "r.a:"),
                               by=by or "team", period=period)
            return _result(request, routing_report.routing_rows(found, effective_directory(conn, app),
                                                                by=by or "team", owners=owners))
        if name == "sla":
            found = read.tally("handoff", SLA_METRICS, by=by or "policy", period=period)
            mqls = read.tally("lead", ("in:mql",), by=None, period="month", everyone=True)  # marketing's own
            return _result(request, sla_report.sla_rows(found, now), {"marketing": sla_report.marketing_rows(
                {month: cells["in:mql"].n for (month, _), cells in mqls.items()
                 if month is not None and "in:mql" in cells},  # per month: never None
                now, app.playbook.rules.handoff.mqls_per_month)})
        if name == "leakage":
            return _result(request, [], _leakage(read, now, period))
        if name in HANDOFF_REPORTS:
            if name == "speed_to_lead":
                found = read.tally("handoff", handoff_reports.SPEED_METRICS, by=by, period=period)
                return _result(request, handoff_reports.speed_rows(found))
            found = read.tally("handoff", handoff_reports.PERSISTENCE_METRICS, by=by or "rep", period=period)
            return _result(request, handoff_reports.persistence_rows(found))
        stages = funnel_stages(app, cohort_stage)
        if name == "velocity":
            metrics = ["start"] + [f"{kind}:{s.value}" for s in basis for kind in ("stay", "still", "step")]
        elif name == "conversion":
            metrics = [f"in:{cohort_stage.value}", f"any:{cohort_stage.value}:{request.to_stage}"]
        else:
            kinds = ("ord", "jump") if request.mode == "in_order" else ("any",)
            metrics = [f"in:{cohort_stage.value}"] + [f"{kind}:{cohort_stage.value}:{s.value}" for s in stages
                                                      if s.rank > cohort_stage.rank for kind in kinds]
        found = read.tally("lead", metrics, by=by, period=period)
    if name == "velocity":
        return _result(request, cohorts.velocity_rows(found, basis))
    if name == "conversion":
        return _result(request, cohorts.conversion_rows(found, cohort_stage, Stage(request.to_stage)))
    return _result(request, cohorts.funnel_rows(found, cohort_stage, mode=request.mode, stages=stages))


SLA_METRICS = ("sla.h", "sla.deadline", "sla.breached", "sla.open", "sla.closed", "sla.due:", "sla.breached:",
               "sla.open:", "sla.closed:", "sla.esc:", "sla.ended:")


@dataclass
class _Reader:
    """Reads a family's facts for one report: from the rollups, or, for a view they cannot answer, by counting
    the facts of the leads the person may see."""

    conn: Connection
    teams: dict[str, str]
    owners: list[str] | None
    basis: tuple[Stage, ...]
    start: datetime | None
    end: datetime | None
    loaded: dict  # the records of a set of owners (None: everyone), by that set

    @property
    def first_day(self) -> date | None:
        return self.start.date() if self.start else None

    @property
    def stop_day(self) -> date | None:
        return self.end.date() if self.end else None

    def tally(self, family: str, metrics: Iterable[str], *, by: str | None, period: str | None,
              everyone: bool = False) -> Tally:
        """`everyone`: count every lead, whoever asks."""
        owners = None if everyone else self.owners
        found = rollups.read_tally(self.conn, family, metrics, self.first_day, self.stop_day, by=by, period=period,
                                   teams=self.teams, owners=owners)
        if found is not None:
            return found
        key = None if owners is None else tuple(owners)
        if key not in self.loaded:
            self.loaded[key] = visible_records(self.conn, owners)
        records = self.loaded[key]
        return tally_records(records, family, metrics, by=by, period=period, teams=self.teams, owners=owners,
                             basis=self.basis, days=(self.start, self.end))


def _leakage(read: _Reader, now: datetime, period: str | None) -> dict[str, Any]:
    """Stalled leads now (from the cells up to the stall line), and why leads went back or were lost."""
    line = stall_line(now, STALL_DAYS)
    line_month = line[0].replace(day=1)
    stall = ("lk.stall:",)
    months = rollups.read_days(read.conn, "lead", stall, "m", None, line_month, owners=read.owners)
    days = rollups.read_days(read.conn, "lead", stall, "d", line_month, line[0] + timedelta(days=1),
                             owners=read.owners)
    oldest = {min((month for month, cells in months.items() if month.year > 1970 and metric in cells
                   and cells[metric].n > 0), default=None) for metric in {m for c in months.values() for m in c}}
    for month in sorted(m for m in oldest if m is not None):
        days |= rollups.read_days(read.conn, "lead", stall, "d", month, rollups.next_month(month), owners=read.owners)
    back = read.tally("lead", ("lk.back:", "lk.stale", "lk.noshow"), by=None, period=period)
    for key, cells in read.tally("deal", ("lk.lost:",), by=None, period=period).items():
        back.setdefault(key, {}).update(cells)
    return {"stall_days": STALL_DAYS, "stalled": stalled_rows(months, days, line)} | went_back_rows(back)

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
