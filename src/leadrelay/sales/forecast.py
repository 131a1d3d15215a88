"""The forecast: open pipeline, weighted pipeline, commit, best case and closed won, by month, rep, team or category.

Amounts are summed per currency, never across currencies. Next to the numbers of now,
the report lists the weekly snapshots (`leadrelay forecast snapshot`): how the totals
moved since each, and how accurate each turned out — of the deals open then, how much
has since been won, lost, or is still open, and how much of what was in commit was won.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from leadrelay.core.time import utc_iso
from leadrelay.sales.model import (
    COMMIT,
    LOST,
    OMITTED,
    OPEN,
    WON,
    DealLine,
    Totals,
    forecast,
    iso_week,
    money,
)
from leadrelay.storage import sales_tables as s

MEASURES = ("open_pipeline", "weighted_pipeline", "commit", "best_case", "closed_won")


def deal_lines(conn: Connection, teams: Mapping[str, str]) -> list[DealLine]:
    """Every opportunity as the forecast sees it; `teams` maps a rep to their team."""
    c = s.opportunities.c
    rows = conn.execute(select(c.id, c.owner, c.close_date, c.forecast_category, c.status, c.amount, c.currency,
                               c.probability, c.probability_override).order_by(c.id))
    return [DealLine(r.id, r.owner, teams.get(r.owner), r.close_date, r.forecast_category, r.status,
                     Decimal(r.amount), r.currency,
                     Decimal(r.probability if r.probability_override is None else r.probability_override))
            for r in rows]


def totals_by_currency(lines: list[DealLine]) -> dict[str, Totals]:
    return {currency: totals for (_, currency), totals in forecast(lines).items()}


def forecast_report(conn: Connection, teams: Mapping[str, str], *, by: str | None, today: date) -> dict[str, Any]:
    """The forecast now, grouped `by` month, rep, team or category (or not at all), with the snapshots' story."""
    lines = deal_lines(conn, teams)
    rows = [{"group": group, "currency": currency} | totals.as_dict()
            for (group, currency), totals in forecast(lines, by).items()]
    now = totals_by_currency(lines)
    return {
        "as_of": today.isoformat(), "week": iso_week(today), "by": by, "rows": rows,
        "totals": [{"currency": currency} | totals.as_dict() for currency, totals in now.items()],
        "snapshots": _snapshot_story(conn, lines, now),
    }


def _snapshot_story(conn: Connection, lines: list[DealLine], now: dict[str, Totals]) -> list[dict[str, Any]]:
    """Each snapshot's totals, the change from then to now, and what became of the deals open then."""
    status_now = {line.id: line for line in lines}
    f, d = s.forecast_snapshots.c, s.forecast_snapshot_deals.c
    snapshots = conn.execute(select(f.id, f.week, f.taken_at, f.totals).order_by(f.week)).all()
    outcome: dict[int, dict[str, dict[str, Decimal]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(Decimal)))
    for row in conn.execute(select(d.snapshot_id, d.opportunity_id, d.forecast_category, d.status, d.amount,
                                   d.currency)):
        if row.status != OPEN or row.forecast_category == OMITTED:
            continue
        bucket = outcome[row.snapshot_id][row.currency]
        later = status_now.get(row.opportunity_id)
        state = later.status if later else OPEN
        amount = Decimal(row.amount)
        bucket["open_then"] += amount
        bucket[{WON: "won_since", LOST: "lost_since"}.get(state, "still_open")] += amount
        if row.forecast_category == COMMIT:
            bucket["commit_then"] += amount
            if state == WON:
                bucket["commit_won_since"] += amount
    story = []
    for snap in snapshots:
        for currency in sorted(set(snap.totals) | set(outcome[snap.id])):
            then = snap.totals.get(currency, {})
            current = now.get(currency, Totals()).as_dict()
            fate = outcome[snap.id][currency]
            story.append({
                "week": snap.week, "taken_at": utc_iso(snap.taken_at), "currency": currency,
                **{key: then.get(key, 0.0) for key in MEASURES},
                "change_since": {key: round(current[key] - then.get(key, 0.0), 2) for key in MEASURES},
                **{key: money(fate[key]) for key in ("open_then", "won_since", "lost_since", "still_open",
                                                     "commit_then", "commit_won_since")},
            })
    return story
