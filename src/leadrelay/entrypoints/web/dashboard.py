"""The go-to-market dashboard: the numbers marketing and sales agree on, each as a chart with its table beside
it and a CSV download.

Every panel is a report the API serves (`/api/reports/NAME`, `/api/forecast`), read through
the same `run_report` with the same scope: a manager sees their team's leads and deals,
marketing and admin every one (marketing's MQLs against the target always count every
lead). A panel's chart, table and CSV are three views of one list of rows, so they cannot
disagree; the chart is drawn in the browser by Chart.js (vendored, see static/chartjs).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from leadrelay.access.tokens import Role
from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidInput, LeadRelayError, NotFound
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.errors import STATUS
from leadrelay.entrypoints.web.common import error, page, viewer
from leadrelay.reports.catalog import STAGES, report_request, run_report
from leadrelay.sales.forecast import MEASURES
from leadrelay.sales.queries import visible_forecast

router = APIRouter(include_in_schema=False)
READERS = (Role.MARKETING, Role.MANAGER, Role.ADMIN)


@dataclass(frozen=True)
class Column:
    """A table column. `kind` says how a value reads: text, count, rate (0..1, shown as %), days, money."""

    label: str
    kind: str = "count"


@dataclass
class Panel:
    id: str
    title: str
    about: str
    columns: list[Column]
    rows: list[list[Any]]
    chart: dict[str, Any] = field(default_factory=dict)  # type, labels, datasets [{label, data, line?}], options

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([column.label for column in self.columns])
        writer.writerows([[_csv_value(value, column.kind) for value, column in zip(row, self.columns, strict=True)]
                          for row in self.rows])
        return out.getvalue()


def _csv_value(value: Any, kind: str) -> Any:
    """Money with two decimals whatever its type (the forecast's floats, the sources' strings); rates as fractions
    (the column says `rate`); nothing as an empty cell."""
    if value is None:
        return ""
    return f"{Decimal(str(value)):.2f}" if kind == "money" else value


@dataclass(frozen=True)
class Filters:
    """What the dashboard's form asks: the days (inclusive), the cohorts' period, the conversion's two stages."""

    start: date | None = None
    end: date | None = None
    period: str = "month"
    from_stage: str = "mql"
    to_stage: str = "sql"

    def query(self) -> str:
        parts = {"from": self.start, "to": self.end, "period": self.period, "from_stage": self.from_stage,
                 "to_stage": self.to_stage}
        return "&".join(f"{key}={value}" for key, value in parts.items() if value)

    def report(self, name: str, **extra: Any):
        return report_request(name, start=self.start, end=self.end, **extra)


def filters(params: dict[str, str]) -> Filters:
    """The query string, checked: InvalidInput naming every bad field."""
    problems, days = [], {}
    for key in ("from", "to"):
        text = (params.get(key) or "").strip()
        try:
            days[key] = date.fromisoformat(text) if text else None
        except ValueError:
            problems.append(f"{key}: '{text}' is not a date (YYYY-MM-DD)")
    chosen = Filters(days.get("from"), days.get("to"), params.get("period") or "month",
                     params.get("from_stage") or "mql", params.get("to_stage") or "sql")
    if problems:
        raise InvalidInput("; ".join(problems))
    report_request("conversion", start=chosen.start, end=chosen.end, period=chosen.period,
                   from_stage=chosen.from_stage, to_stage=chosen.to_stage)  # every other problem, in its words
    return chosen


# --- the panels: a report's rows as a table and a chart ---------------------------------------

def _stage_columns(stages: list[str]) -> list[Column]:
    return [column for stage in stages for column in (Column(stage), Column(f"{stage} rate", "rate"))]


def funnel_panel(result: dict[str, Any], *, by_source: bool) -> Panel:
    rows = result["rows"]
    stages = [stage["stage"] for stage in rows[0]["stages"]] if rows else []
    cohort = result["params"]["stage"]
    label = (lambda row: row["group"]) if by_source else (lambda row: row["period"] or "all")
    table = [[label(row), row["entered"], *(value for stage in row["stages"]
                                            for value in (stage["reached"], stage["rate"]))] for row in rows]
    if by_source:
        chart = {"type": "bar", "labels": [row[0] for row in table], "percent": True,
                 "unit": "share of the source's leads",
                 "datasets": [{"label": f"reached {stage}", "data": [s["rate"] for row in rows for s in row["stages"]
                                                                     if s["stage"] == stage]}
                              for stage in stages if stage in ("mql", "sal", "sql", "customer")]}
        return Panel("funnel-sources", "The funnel by source",
                     f"Of the leads each source brought into {cohort} (first touch), the share that reached each later "
                     "stage through every stage before it; hand-raisers who skipped a stage are not counted there.",
                     [Column("source", "text"), Column(f"entered {cohort}"), *_stage_columns(stages)], table, chart)
    chart = {"type": "bar", "labels": [cohort, *stages], "unit": "leads",
             "datasets": [{"label": row[0], "data": [row[1], *(s["reached"] for s in r["stages"])]}
                          for row, r in zip(table, rows, strict=True)]}
    return Panel("funnel-cohorts", "The funnel by cohort",
                 f"Leads that entered {cohort} in each {result['params']['period'] or 'period'}, and how many of "
                 "them reached each later stage through every stage before it (a hand-raiser who skipped MQL is not "
                 "counted there: the conversion, velocity and sources panels count every lead that got there).",
                 [Column("cohort", "text"), Column(f"entered {cohort}"), *_stage_columns(stages)], table, chart)


def conversion_panel(result: dict[str, Any]) -> Panel:
    params = result["params"]
    table = [[row["period"] or "all", row["entered"], row["converted"], row["rate"], row["median_days"],
              row["p90_days"]] for row in result["rows"]]
    chart = {"type": "line", "labels": [row[0] for row in table], "percent": True, "unit": "converted",
             "datasets": [{"label": f"{params['from_stage']} → {params['to_stage']}", "data": [r[3] for r in table]}]}
    return Panel("conversion", f"Conversion: {params['from_stage']} to {params['to_stage']}",
                 f"Of the leads that entered {params['from_stage']} in each period, the share that reached "
                 f"{params['to_stage']}, and how many days it took.",
                 [Column("cohort", "text"), Column(f"entered {params['from_stage']}"),
                  Column(f"reached {params['to_stage']}"), Column("rate", "rate"), Column("median days", "days"),
                  Column("p90 days", "days")], table, chart)


def velocity_panel(result: dict[str, Any]) -> Panel:
    stages = [stage for row in result["rows"] for stage in row["stages"]]
    table = [[s["stage"], s["entered"], s["still_in"], s["p50_days_in_stage"], s["p90_days_in_stage"],
              s.get("p50_days_from_previous"), s.get("p90_days_from_previous")] for s in stages]
    chart = {"type": "bar", "labels": [row[0] for row in table], "unit": "days",
             "datasets": [{"label": "median days in stage", "data": [row[3] for row in table]},
                          {"label": "p90 days in stage", "data": [row[4] for row in table]}]}
    return Panel("velocity", "Velocity", "How long leads that entered each stage stayed in it, and how long the "
                 "step from the stage before took.",
                 [Column("stage", "text"), Column("entered"), Column("still in"), Column("median days in", "days"),
                  Column("p90 days in", "days"), Column("median days from previous", "days"),
                  Column("p90 days from previous", "days")], table, chart)


def mql_target_panel(result: dict[str, Any]) -> Panel:
    table = [[row["month"], row["mqls"], row["target"], "yes" if row["met"] else "no" if row["met"] is False
              else "–"] for row in result.get("marketing", [])]
    datasets: list[dict[str, Any]] = [{"label": "MQLs", "data": [row[1] for row in table]}]
    if any(row[2] is not None for row in table):
        datasets.append({"label": "target", "data": [row[2] for row in table], "line": True})
    return Panel("mqls", "Marketing's MQLs per month against the target",
                 "MQLs created each month (every lead, whoever looks) and the playbook's monthly target.",
                 [Column("month", "text"), Column("MQLs"), Column("target"), Column("met", "text")], table,
                 {"type": "bar", "labels": [row[0] for row in table], "datasets": datasets, "unit": "MQLs"})


def sources_panel(result: dict[str, Any]) -> Panel:
    rows = result["rows"]
    table = [[row["source"], row["currency"], row["spend"], row["leads"], row["mqls"], row["sqls"], row["customers"],
              row["revenue"], row["cost_per_lead"], row["cost_per_mql"], row["cost_per_customer"], row["roi"]]
             for row in rows]
    paid = [row for row in rows if row["spend"] is not None]
    if paid:  # costs differ by orders of magnitude (per lead, per customer): a log scale shows them all
        chart = {"type": "bar", "labels": [f"{row['source']} ({row['currency']})" for row in paid], "log": True,
                 "unit": f"cost ({', '.join(sorted({row['currency'] for row in paid}))}, log scale)",
                 "datasets": [{"label": label, "data": [None if row[key] is None else float(row[key]) for row in paid]}
                              for label, key in (("cost per lead", "cost_per_lead"), ("cost per MQL", "cost_per_mql"),
                                                 ("CPA (per customer)", "cost_per_customer"))]}
    else:  # no spend (none imported, or a team's view): what each source brought
        chart = {"type": "bar", "labels": [row["source"] for row in rows], "unit": "leads",
                 "datasets": [{"label": label, "data": [row[key] for row in rows]}
                              for label, key in (("leads", "leads"), ("MQLs", "mqls"), ("customers", "customers"))]}
    return Panel("sources", "Sources: cost per lead and CPA",
                 "Spend (imported per month: a month the days touch counts whole), leads, MQLs, SQLs, customers "
                 "(every lead that ever got there, in any order) and revenue per source (first touch) over these "
                 "days; the cost of each, and ROI. Spend is marketing's, for every lead: a team's view shows none.",
                 [Column("source", "text"), Column("currency", "text"), Column("spend", "money"), Column("leads"),
                  Column("MQLs"), Column("SQLs"), Column("customers"), Column("revenue", "money"),
                  Column("cost per lead", "money"), Column("cost per MQL", "money"),
                  Column("CPA (per customer)", "money"), Column("ROI", "rate")], table, chart)


def leakage_panel(result: dict[str, Any]) -> Panel:
    table = [["stalled", row["stage"], f"quiet {result['stall_days']}+ days", row["leads"]]
             for row in result["stalled"]]
    table += [["went back", row["transition"], row["reason"], row["leads"]] for row in result["went_back"]]
    table += [["went back", "stale recycle", "no activity while in sales", row["leads"]]
              for row in result["stale_recycles"]]
    table += [["meeting missed", "no-show", "the lead did not come", row["meetings"]]
              for row in result.get("no_shows", ())]
    table += [["deal lost", "opportunity", row["reason"], row["deals"]] for row in result["lost"]]
    chart = {"type": "bar", "horizontal": True, "labels": [f"{row[1]}: {row[2]}" for row in table], "unit": "leads",
             "datasets": [{"label": "leads (meetings, deals)", "data": [row[3] for row in table]}]}
    return Panel("leakage", "Leakage and reasons",
                 f"Leads stalled now ({result['stall_days']} days without activity), leads that went back to "
                 "marketing and why, meetings leads missed (no-shows), and deals lost with their reasons.",
                 [Column("kind", "text"), Column("what", "text"), Column("reason", "text"), Column("count")],
                 table, chart)


FORECAST_SERIES = (("weighted", 3), ("commit", 4), ("best case", 5), ("closed won", 6))  # columns of the table


def forecast_panel(result: dict[str, Any]) -> Panel:
    table = [[row["group"], row["currency"], *(row[key] for key in MEASURES), row["open_deals"]]
             for row in result["rows"]]
    currencies = sorted({row[1] for row in table})
    months = sorted({row[0] for row in table})
    value = {(row[0], row[1]): row for row in table}
    datasets = [{"label": f"{label} ({currency})" if len(currencies) > 1 else label,
                 "data": [value[(month, currency)][column] if (month, currency) in value else None
                          for month in months]}
                for currency in currencies for label, column in FORECAST_SERIES]
    return Panel("forecast", "Forecast by month",
                 f"Open deals by the month they should close, as of {result['as_of']}: weighted by probability, "
                 "commit and best case by category, and what was won.",
                 [Column("close month", "text"), Column("currency", "text"), Column("open pipeline", "money"),
                  Column("weighted", "money"), Column("commit", "money"), Column("best case", "money"),
                  Column("closed won", "money"), Column("open deals")], table,
                 {"type": "bar", "labels": months, "datasets": datasets,
                  "unit": f"amount ({', '.join(currencies)})"})


def snapshots_panel(result: dict[str, Any]) -> Panel:
    table = [[row["week"], row["currency"], row["weighted_pipeline"], row["change_since"]["weighted_pipeline"],
              row["commit_then"], row["commit_won_since"], row["open_then"], row["won_since"], row["lost_since"],
              row["still_open"]] for row in result["snapshots"]]
    chart = {"type": "line", "labels": [f"{row[0]} {row[1]}" for row in table], "unit": "amount",
             "datasets": [{"label": "weighted then", "data": [row[2] for row in table]},
                          {"label": "won since", "data": [row[7] for row in table]},
                          {"label": "lost since", "data": [row[8] for row in table]}]}
    return Panel("snapshots", "Forecast snapshots: what became of them",
                 "Each weekly snapshot's weighted pipeline and commit, and what its open deals became since."
                 + (" (A team's forecast has no snapshots: they are of every deal.)" if result.get("team") else ""),
                 [Column("week", "text"), Column("currency", "text"), Column("weighted then", "money"),
                  Column("weighted change since", "money"), Column("commit then", "money"),
                  Column("commit won since", "money"), Column("open then", "money"), Column("won since", "money"),
                  Column("lost since", "money"), Column("still open", "money")], table, chart)


@dataclass
class View:
    """One request's reports: the filters, the person's scope, and the leads their view reads lead by lead (loaded
    once for every panel)."""

    app: App
    filters: Filters
    owners: Any  # the reps whose leads and deals count; None: every one
    loaded: dict = field(default_factory=dict)

    def report(self, name: str, **params: Any) -> dict[str, Any]:
        return run_report(self.app, self.filters.report(name, **params), owners=self.owners, loaded=self.loaded)

    def forecast(self, by: str | None = None) -> dict[str, Any]:
        return visible_forecast(self.app, self.owners, by=by)


PANELS: dict[str, Callable[[View], Panel]] = {
    "funnel-cohorts": lambda v: funnel_panel(v.report("funnel", period=v.filters.period), by_source=False),
    "funnel-sources": lambda v: funnel_panel(v.report("funnel", by="source"), by_source=True),
    "conversion": lambda v: conversion_panel(v.report("conversion", period=v.filters.period,
                                                      from_stage=v.filters.from_stage, to_stage=v.filters.to_stage)),
    "velocity": lambda v: velocity_panel(v.report("velocity")),
    "mqls": lambda v: mql_target_panel(v.report("sla")),
    "sources": lambda v: sources_panel(v.report("sources", period="all")),
    "leakage": lambda v: leakage_panel(v.report("leakage")),
    "forecast": lambda v: forecast_panel(v.forecast(by="month")),
    "snapshots": lambda v: snapshots_panel(v.forecast()),
}


# --- the pages ----------------------------------------------------------------------------------

@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    found = viewer(request, *READERS)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    owners = authz.visible_owners(who, app.playbook)
    context = {"stages": STAGES, "params": dict(request.query_params), "scope": _scope(who)}
    try:
        chosen = filters(dict(request.query_params))
    except LeadRelayError as exc:
        return page(request, "dashboard.html", context | {"error": exc.message, "panels": []},
                    status=STATUS.get(exc.code, 422),
                    signed=signed)
    view = View(app, chosen, owners)
    panels = [build(view) for build in PANELS.values()]
    return page(request, "dashboard.html", context | {"panels": panels, "query": chosen.query()}, signed=signed)


@router.get("/dashboard/{panel}.csv")
def panel_csv(request: Request, panel: str) -> Response:
    found = viewer(request, *READERS)
    if isinstance(found, Response):
        return found
    app, signed, who = found
    try:
        if panel not in PANELS:
            raise NotFound(f"no dashboard panel '{panel}' (one of {', '.join(PANELS)})")
        built = PANELS[panel](View(app, filters(dict(request.query_params)), authz.visible_owners(who, app.playbook)))
    except LeadRelayError as exc:
        return error(request, signed, exc)
    return Response(built.csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="leadrelay-{panel}.csv"'})


def _scope(who) -> str:
    if who.role is Role.MANAGER:
        return f"team {who.token.team}'s leads and deals"
    return "every lead and deal"
