"""What each source cost and brought: marketing spend imported by month, and cost per lead, MQL,
SQL and customer, revenue won and ROI per source (and campaign) and month.

Definitions (the README says the same):

- **Spend** comes from `leadrelay spend import FILE` (columns `month` YYYY-MM, `source`,
  `campaign` (optional), `amount`, `currency`). A row that cannot be used is rejected with
  its row number and the rest are kept; importing the same month, source, campaign and
  currency again replaces the amount.
- A source's **leads** for a month are the leads whose first touch names that source and
  whose first move into the funnel fell in that month; of those, how many ever became
  MQL, SQL and customer, and the amounts of their won new-business deals (**revenue**).
- `cost_per_*` divides the month's spend by those counts; `roi` is (revenue − spend) ÷
  spend. Amounts in different currencies are never added together: each currency is its
  own line, and revenue counts only in the spend's currency.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from leadrelay.core.app import App
from leadrelay.core.csvfile import csv_rows
from leadrelay.core.errors import InvalidInput, LeadRelayError
from leadrelay.lead.stages import Stage
from leadrelay.reports.cohorts import period_of
from leadrelay.reports.history import within
from leadrelay.sales.model import DealRules, check_amount, check_currency
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.database import transaction

COLUMNS = ("month", "source", "amount", "currency")  # and campaign, optional
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass
class SpendReport:
    rows: int = 0
    imported: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "rejected": len(self.rejected),
                "rejections": self.rejected}


def import_spend(app: App, path: str | Path, *, encoding: str = "utf-8-sig") -> SpendReport:
    """Store every usable row of the spend CSV at `path`, in one transaction; see the module docstring."""
    with transaction(app.engine) as conn:
        return _import(conn, path, app.playbook.rules.sales.deals, app.clock(), encoding)


def _import(conn: Connection, path: str | Path, rules: DealRules, now: datetime, encoding: str) -> SpendReport:
    report = SpendReport()
    for number, row in csv_rows(path, COLUMNS, encoding=encoding):
        report.rows += 1
        try:
            values = _spend_row(row, rules)
        except LeadRelayError as exc:
            report.rejected.append({"row": number, "reason": exc.message})
            continue
        key = (s.spend.c.month == values["month"], s.spend.c.source == values["source"],
               s.spend.c.campaign == values["campaign"], s.spend.c.currency == values["currency"])
        if not conn.execute(s.spend.update().where(*key).values(amount=values["amount"], imported_at=now)).rowcount:
            conn.execute(s.spend.insert().values(**values, imported_at=now))  # a new key; an old one is replaced
        report.imported += 1
    return report


def _spend_row(row: dict[str, str], rules: DealRules) -> dict[str, Any]:
    month = (row.get("month") or "").strip()
    if not _MONTH.fullmatch(month):
        raise InvalidInput(f"month: '{month}' is not a month (YYYY-MM)")
    source = (row.get("source") or "").strip().lower()
    if not source:
        raise InvalidInput("source is empty")
    if not (row.get("currency") or "").strip():
        raise InvalidInput("currency is empty (amounts in different currencies are never added together)")
    currency = check_currency(row["currency"], rules)
    amount = check_amount((row.get("amount") or "").strip())
    return {"month": month, "source": source[:120], "campaign": (row.get("campaign") or "").strip().lower()[:200],
            "currency": currency, "amount": amount}


def sources(conn: Connection, start: datetime | None, end: datetime | None, *, by_campaign: bool = False,
            owners: Iterable[str] | None = None) -> list[dict]:
    """Per month, source (and campaign) and currency: spend, leads, MQLs, SQLs, customers, revenue and the ratios."""
    lc, sc, oc = t.leads.c, t.stage_changes.c, s.opportunities.c
    first = select(sc.lead_id, func.min(sc.at).label("at")).group_by(sc.lead_id)
    first = within(first, func.min(sc.at), start, end, having=True)
    first = first.subquery()
    query = select(lc.id, lc.source, lc.campaign, lc.furthest_stage, first.c.at).join(first, first.c.lead_id == lc.id) \
        .where(lc.merged_into.is_(None))
    if owners is not None:
        query = query.where(lc.owner.in_(sorted(owners)))
    leads: dict[int, tuple] = {}
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for lead_id, source, campaign, furthest, at in conn.execute(query):
        key = (period_of(at, "month"), source or "(none)", (campaign or "") if by_campaign else None)
        leads[lead_id] = key
        counts[key]["leads"] += 1
        rank = Stage(furthest).rank if furthest else -1
        for label, stage in (("mqls", Stage.MQL), ("sqls", Stage.SQL), ("customers", Stage.CUSTOMER)):
            counts[key][label] += rank >= stage.rank
    revenue: dict[tuple, Decimal] = defaultdict(Decimal)
    ids = sorted(leads)
    for i in range(0, len(ids), 5_000):
        for lead_id, amount, currency in conn.execute(select(oc.lead_id, oc.amount, oc.currency).where(
                oc.lead_id.in_(ids[i:i + 5_000]), oc.status == "won", oc.kind == "new_business")):
            revenue[(*leads[lead_id], currency)] += Decimal(amount)
    spent: dict[tuple, Decimal] = defaultdict(Decimal)
    months = select(s.spend.c.month, s.spend.c.source, s.spend.c.campaign, s.spend.c.currency, s.spend.c.amount)
    if start is not None:
        months = months.where(s.spend.c.month >= period_of(start, "month"))
    if end is not None:  # `end` is the moment after the last day asked
        months = months.where(s.spend.c.month <= period_of(end - timedelta(microseconds=1), "month"))
    for month, source, campaign, currency, amount in conn.execute(months):
        spent[(month, source, campaign if by_campaign else None, currency)] += Decimal(amount)
    keys = {key[:3] for key in spent} | set(counts) | {key[:3] for key in revenue}
    rows = []
    for key in sorted(keys, key=lambda k: (k[0], k[1], k[2] or "")):
        month, source, campaign = key
        tally = counts.get(key, Counter())
        currencies = sorted({k[3] for k in spent if k[:3] == key} | {k[3] for k in revenue if k[:3] == key}) or [None]
        for currency in currencies:
            cost = spent.get((*key, currency))
            won = revenue.get((*key, currency), Decimal(0))
            row = {"month": month, "source": source} | ({"campaign": campaign or "(none)"} if by_campaign else {}) | {
                "currency": currency, "spend": _money(cost), "leads": tally["leads"], "mqls": tally["mqls"],
                "sqls": tally["sqls"], "customers": tally["customers"], "revenue": _money(won)}
            for label in ("leads", "mqls", "sqls", "customers"):
                row[f"cost_per_{label[:-1]}"] = _money(cost / tally[label]) if cost is not None and tally[label] \
                    else None
            row["roi"] = round(float((won - cost) / cost), 4) if cost else None
            rows.append(row)
    return rows


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))
