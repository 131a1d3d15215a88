"""Importing closed-won deals from a CRM export: each row a deal won on its day, as history.

Each row names a lead (by id, email or user id) and the moment the deal was won. The
import opens the deal on the lead's account (an account is made for a lead without a
company domain, named after the deal), wins it at that moment, and moves the lead to
opportunity and customer then — recorded as history (nobody is told, nothing escalates),
with the actor `import:<source>`. The SQL gate is not asked: it judges live
qualification, and a deal already won is past it.

A row that cannot be used (no lead, no date, a date that is not one, a negative amount, a
lead already a customer or disqualified) is rejected with its row number; the rest are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from leadrelay.core.app import App
from leadrelay.core.csvfile import csv_rows
from leadrelay.core.errors import InvalidInput, LeadRelayError, NotFound
from leadrelay.lead.service import load_for_update, move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.sales import model as deals
from leadrelay.sales import store as repo
from leadrelay.sales.service import resolve_account
from leadrelay.storage.unit_of_work import UnitOfWork


@dataclass
class WonImportReport:
    rows: int = 0
    won: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "won": self.won, "rejected": len(self.rejected), "rejections": self.rejected}


def import_won_deals(app: App, path: str | Path, *, id_column: str, won_column: str, owner: str,
                     amount_column: str | None = None, name_column: str | None = None, currency: str | None = None,
                     source: str = "deals-import", encoding: str = "utf-8-sig") -> WonImportReport:
    """Win a deal for every usable row of the CSV at `path`; see the module docstring."""
    if owner not in app.playbook.rules.handoff.directory.reps:
        raise NotFound(f"no rep '{owner}' in the playbook (--owner owns the imported deals)")
    report = WonImportReport()
    for number, row in csv_rows(path, (id_column, won_column, amount_column, name_column), encoding=encoding):
        report.rows += 1
        try:
            _win(app, row, id_column=id_column, won_column=won_column, owner=owner, amount_column=amount_column,
                 name_column=name_column, currency=currency, actor=f"import:{source}")
            report.won += 1
        except LeadRelayError as exc:
            report.rejected.append({"row": number, "id": (row.get(id_column) or "").strip() or None,
                                    "reason": exc.message})
    return report


def _win(app: App, row: dict[str, str], *, id_column: str, won_column: str, owner: str, amount_column: str | None,
         name_column: str | None, currency: str | None, actor: str) -> None:
    ref = (row.get(id_column) or "").strip()
    if not ref:
        raise InvalidInput(f"{id_column} is empty")
    won_at = _moment(row.get(won_column), won_column)
    amount = _amount(row.get(amount_column) if amount_column else None, amount_column)
    name = ((row.get(name_column) or "").strip() if name_column else "") or f"Deal {ref[:12]}"
    rules = app.playbook.rules
    with UnitOfWork(app, won_at, quiet=True) as uow:
        conn = uow.conn
        lead = load_for_update(conn, ref)
        if lead.stage in (Stage.CUSTOMER, Stage.DISQUALIFIED):
            raise InvalidInput(f"lead {lead.id} is {lead.stage.value}: no deal to win")
        if lead.stage is None:
            raise InvalidInput(f"{ref} is an anonymous visitor, not a lead: no deal to win")
        if lead.account_id is None and not lead.company_domain:
            account_id = repo.create_account(conn, domain=None, name=name, now=won_at)
        else:
            account_id, _ = resolve_account(conn, app, lead, None, won_at)
        deal, opened, _ = deals.open_opportunity(
            account_id=account_id, lead_id=lead.id, name=name, amount=amount, currency=currency,
            close_date=won_at.date(), owner=owner, rules=rules.sales.deals, at=won_at, actor=actor,
            allow_past_close=True)
        won = deals.win(deal, rules.sales.deals, at=won_at, actor=actor)
        deal_id = repo.insert_deal(conn, deal, created_by=actor, now=won_at, playbook_version=app.playbook.version)
        repo.insert_history(conn, deal_id, opened)
        repo.insert_history(conn, deal_id, won)
        lead.account_id = account_id
        for stage in (Stage.OPPORTUNITY, Stage.CUSTOMER):
            if lead.stage.rank < stage.rank:
                move_lead(uow, lead, Transition.ADVANCE, stage, actor=actor,
                          reason=f"won deal imported: opportunity {deal.id}", now=won_at, history=True)
        uow.commit()


def _moment(value: str | None, column: str) -> datetime:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"{column} is empty")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{column}: '{text}' is not a date or moment (ISO 8601)") from None
    if moment.tzinfo is None:  # a CRM export's moments are UTC unless they say otherwise
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _amount(value: str | None, column: str | None) -> Decimal:
    text = (value or "").strip()
    if not text:
        return Decimal(0)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{column}: '{text}' is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{column}: '{text}' is not an amount of money")
    return amount
