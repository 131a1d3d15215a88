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
- Spend is marketing's, for every lead: a view of one team's or rep's leads shows none
  (`catalog` does not read it for them).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from leadrelay.core.app import App
from leadrelay.core.csvfile import csv_rows
from leadrelay.core.errors import InvalidInput, LeadRelayError
from leadrelay.lead.stages import Stage
from leadrelay.reports.cohorts import period_of
from leadrelay.reports.sketch import Fact, Tally
from leadrelay.sales.model import DealRules, check_amount, check_currency
from leadrelay.storage import sales_tables as s
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


def source_facts(source: str | None, campaign: str | None,
                 moves: Sequence[tuple[Stage, datetime, str, str | None, str | None]],
                 won: Iterable[tuple[Decimal, str]]) -> list[tuple[dict[str, str | None], list[Fact]]]:
    """A lead's facts for the sources report, on the day of its first move, with its source (and campaign).

    `s.leads`; `s.mql`, `s.sql`, `s.customer` when it ever got that far; `sum:s.rev:CURRENCY`,
    the cents of its won new-business deals (`won`: amount, currency)."""
    if not moves:
        return []
    day = moves[0][1].date()
    furthest = max(move[0].rank for move in moves)
    facts: list[Fact] = [("s.leads", day, None)]
    facts += [(f"s.{stage.value}", day, None) for stage in (Stage.MQL, Stage.SQL, Stage.CUSTOMER)
              if furthest >= stage.rank]
    facts += [(f"sum:s.rev:{currency}", day, int(amount * 100)) for amount, currency in won]
    return [({"source": source, "campaign": f"{source or ''}\t{campaign or ''}"}, facts)]


def spend(conn: Connection, start: datetime | None, end: datetime | None, *,
          by_campaign: bool) -> dict[tuple[str, str, str | None, str], Decimal]:
    """Spend per (month, source, campaign or None, currency) for the months [start, end) touches."""
    spent: dict[tuple, Decimal] = defaultdict(Decimal)
    months = select(s.spend.c.month, s.spend.c.source, s.spend.c.campaign, s.spend.c.currency, s.spend.c.amount)
    if start is not None:
        months = months.where(s.spend.c.month >= period_of(start, "month"))
    if end is not None:  # `end` is the moment after the last day asked
        months = months.where(s.spend.c.month <= period_of(end - timedelta(microseconds=1), "month"))
    for month, source, campaign, currency, amount in conn.execute(months):
        spent[(month, source, campaign if by_campaign else None, currency)] += Decimal(amount)
    return spent


def sources_rows(found: Tally, spent: dict[tuple, Decimal], *, by_campaign: bool,
                 per_month: bool = True) -> list[dict]:
    """Per month, source (and campaign) and currency: spend, leads, MQLs, SQLs, customers, revenue and the ratios.
    `found`: the facts per month and group (the source, or source and campaign split by a tab). Not `per_month`:
    one line per source (and campaign) and currency for all the months together (`month` null)."""
    if not per_month:
        whole: dict[tuple, Decimal] = defaultdict(Decimal)
        for (_, *rest), amount in spent.items():
            whole[(None, *rest)] += amount
        spent = whole
    counts: dict[tuple, dict[str, int]] = {}
    revenue: dict[tuple, Decimal] = defaultdict(Decimal)
    campaign: str | None
    for (month, group), cells in found.items():
        month = month if per_month else None
        source, _, campaign = group.partition("\t") if by_campaign else (group, "", "")
        key = (month, source or "(none)", campaign if by_campaign else None)
        tally = counts.setdefault(key, {"leads": 0, "mqls": 0, "sqls": 0, "customers": 0})
        for label, metric in (("leads", "s.leads"), ("mqls", "s.mql"), ("sqls", "s.sql"),
                              ("customers", "s.customer")):
            tally[label] += cells[metric].n if metric in cells else 0
        for metric, cell in cells.items():
            if metric.startswith("sum:s.rev:") and cell.n:
                revenue[(*key, metric[10:])] += Decimal(cell.n) / 100
    keys = {key[:3] for key in spent} | {key for key, tally in counts.items() if any(tally.values())} | \
        {key[:3] for key in revenue}
    rows = []
    for key in sorted(keys, key=lambda k: (k[0] or "", k[1], k[2] or "")):
        month, source, campaign = key
        tally = counts.get(key) or {"leads": 0, "mqls": 0, "sqls": 0, "customers": 0}
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
