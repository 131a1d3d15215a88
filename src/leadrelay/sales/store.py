"""Opportunities and accounts in the database: rows ↔ `Opportunity`, history rows, optimistic locking."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, insert, select, update

from leadrelay.core.errors import Conflict, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.lead.store import allocate_ids
from leadrelay.sales.model import OPEN, DealChange, Opportunity
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t


def deal_from_row(row: Any) -> Opportunity:
    return Opportunity(
        id=row.id, account_id=row.account_id, lead_id=row.lead_id, name=row.name, amount=row.amount,
        currency=row.currency, close_date=row.close_date, owner=row.owner, stage=row.stage,
        probability=row.probability, category=row.forecast_category,
        probability_override=row.probability_override, status=row.status, lost_reason=row.lost_reason,
        kind=row.kind, version=row.version, created_at=row.created_at, closed_at=row.closed_at,
    )


def deal_values(deal: Opportunity, now: datetime) -> dict[str, Any]:
    return {
        "account_id": deal.account_id, "lead_id": deal.lead_id, "kind": deal.kind, "name": deal.name,
        "amount": deal.amount, "currency": deal.currency, "close_date": deal.close_date, "owner": deal.owner,
        "stage": deal.stage, "probability": deal.probability, "probability_override": deal.probability_override,
        "forecast_category": deal.category, "status": deal.status, "lost_reason": deal.lost_reason,
        "closed_at": deal.closed_at, "version": deal.version, "updated_at": now,
    }


def insert_deal(conn: Connection, deal: Opportunity, *, created_by: str, now: datetime,
                playbook_version: str | None) -> int:
    """Store a new opportunity and give it its id."""
    deal.id = allocate_ids(conn, s.opportunities, 1)[0]
    conn.execute(insert(s.opportunities).values(
        id=deal.id, created_by=created_by, created_at=deal.created_at or now, playbook_version=playbook_version,
        **deal_values(deal, now)))
    return deal.id


def load_deal(conn: Connection, deal_id: int | str, *, for_update: bool = False,
              expected_version: int | None = None) -> Opportunity:
    """An opportunity by id (NotFound otherwise); `expected_version` fails with Conflict if it moved on."""
    text = str(deal_id).strip()
    if not text.isdigit():
        raise NotFound(f"no opportunity {text or '(empty)'}: give its number")
    query = select(s.opportunities).where(s.opportunities.c.id == int(text))
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no opportunity {text}")
    deal = deal_from_row(row)
    if expected_version is not None and deal.version != expected_version:
        raise Conflict(f"opportunity {deal.id} is at version {deal.version}, not {expected_version}: read it again")
    return deal


def save_deal(conn: Connection, deal: Opportunity, now: datetime) -> None:
    """Write a deal back, failing with Conflict if someone else wrote it since it was read."""
    version = deal.version
    deal.version += 1
    result = conn.execute(update(s.opportunities).where(s.opportunities.c.id == deal.id,
                                                        s.opportunities.c.version == version)
                          .values(**deal_values(deal, now)))
    if result.rowcount != 1:
        raise Conflict(f"opportunity {deal.id} changed while it was being updated: try again")


def insert_history(conn: Connection, deal_id: int, change: DealChange) -> None:
    conn.execute(insert(s.opportunity_history).values(
        opportunity_id=deal_id, at=change.at, actor=change.actor, action=change.action,
        changes={key: [old, new] for key, (old, new) in change.changes.items()}, reason=change.reason))


def deal_history(conn: Connection, deal_id: int) -> list[dict[str, Any]]:
    c = s.opportunity_history.c
    return [{"at": iso(r.at), "actor": r.actor, "action": r.action, "changes": r.changes, "reason": r.reason}
            for r in conn.execute(select(s.opportunity_history).where(c.opportunity_id == deal_id)
                                  .order_by(c.at, c.id))]


def lead_ids_with_merged(conn: Connection, lead_id: int) -> list[int]:
    """The lead and every lead merged into it (their opportunities are the survivor's)."""
    return [lead_id] + list(conn.scalars(select(t.leads.c.id).where(t.leads.c.merged_into == lead_id)))


def open_deals_of(conn: Connection, lead_ids: Sequence[int], *, kind: str | None = None) -> list[Opportunity]:
    c = s.opportunities.c
    query = select(s.opportunities).where(c.lead_id.in_(list(lead_ids)), c.status == OPEN)
    if kind is not None:
        query = query.where(c.kind == kind)
    return [deal_from_row(r) for r in conn.execute(query.order_by(c.id))]


def has_open_deal(conn: Connection, lead_id: int) -> bool:
    """Whether a lead has an open opportunity (its deal, not a stale-lead rule, decides where it goes)."""
    c = s.opportunities.c
    return conn.scalar(select(c.id).where(c.lead_id == lead_id, c.status == OPEN).limit(1)) is not None


def account_by_domain(conn: Connection, domain: str) -> Any:
    a = t.accounts.c
    return conn.execute(select(a.id, a.name, a.domain).where(a.domain == domain).order_by(a.id).limit(1)).first()


def create_account(conn: Connection, *, domain: str | None, name: str, now: datetime) -> int:
    return cast(int, conn.scalar(insert(t.accounts).values(domain=domain, name=name, traits={}, created_at=now,
                                                           updated_at=now).returning(t.accounts.c.id)))


def iso(value: Any) -> str | None:
    if value is None:
        return None
    return utc_iso(value) if isinstance(value, datetime) else value.isoformat()
