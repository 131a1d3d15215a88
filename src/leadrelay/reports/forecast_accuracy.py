"""Forecast accuracy: each weekly snapshot's forecast against what became of the same deals.

Definitions (the README says the same):

- A snapshot (`leadrelay forecast snapshot`, one per ISO week) froze the open deals with
  their amount, probability and forecast category. For each snapshot, group (rep, team or
  all) and currency: `pipeline` (every open amount), `weighted` (amount × probability),
  `commit` and `best_case` (commit plus best case) as the snapshot saw them.
- What became of those deals since: `won` (their amounts now), `lost`, `still_open`.
  `settled` is the share of the snapshot's deals closed since.
- `weighted_error` is (won − weighted) ÷ weighted and `commit_error` (won − commit) ÷
  commit: 0 is a perfect forecast, −0.5 half of it came in. They are final once `settled`
  reaches 1. Reading the rows week after week shows how the forecast moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Connection, select

from leadrelay.sales.model import BEST_CASE, COMMIT
from leadrelay.storage import sales_tables as s

DIMENSIONS = ("rep", "team")


def forecast_accuracy(conn: Connection, start_week: str | None, end_week: str | None, *, by: str | None = None,
                      owners: Iterable[str] | None = None) -> list[dict]:
    snap, deal, opp = s.forecast_snapshots.c, s.forecast_snapshot_deals.c, s.opportunities.c
    query = select(snap.week, deal.owner, deal.team, deal.forecast_category, deal.amount, deal.currency,
                   deal.probability, opp.status, opp.amount.label("now_amount")).select_from(
        s.forecast_snapshot_deals).join(s.forecast_snapshots, snap.id == deal.snapshot_id).join(
        s.opportunities, opp.id == deal.opportunity_id)
    if start_week is not None:
        query = query.where(snap.week >= start_week)
    if end_week is not None:
        query = query.where(snap.week <= end_week)
    if owners is not None:
        query = query.where(deal.owner.in_(sorted(owners)))
    sums: dict[tuple, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])  # deals, closed since
    for week, owner, team, category, amount, currency, probability, status, now_amount in conn.execute(query):
        group = {"rep": owner, "team": team}.get(by) if by else "all"
        key = (week, group or "(none)", currency)
        total = sums[key]
        total["pipeline"] += amount
        total["weighted"] += amount * probability / 100
        if category == COMMIT:
            total["commit"] += amount
        if category in (COMMIT, BEST_CASE):
            total["best_case"] += amount
        if status == "won":
            total["won"] += now_amount
        elif status == "lost":
            total["lost"] += amount
        else:
            total["still_open"] += amount
        counts[key][0] += 1
        counts[key][1] += status != "open"
    rows = []
    for (week, group, currency), total in sorted(sums.items()):
        deals, closed = counts[(week, group, currency)]
        rows.append({"week": week, "group": group, "currency": currency, "deals": deals,
                     **{k: _money(total[k]) for k in ("pipeline", "weighted", "commit", "best_case", "won", "lost",
                                                      "still_open")},
                     "settled": round(closed / deals, 4),
                     "weighted_error": _error(total["won"], total["weighted"]),
                     "commit_error": _error(total["won"], total["commit"])})
    return rows


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _error(actual: Decimal, forecast: Decimal) -> float | None:
    return round(float((actual - forecast) / forecast), 4) if forecast else None
