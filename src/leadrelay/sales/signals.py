"""Sales signals in ingested activities: product signals that mark a lead PQL, buying signals from customers.

Called by the ingest service once per batch, inside the batch's transaction and with its
handoff desk, after the stage moves are stored. Interest and intent stay apart:

- A **PQL** mark is a flag (its own table), never a stage move or points: each product
  signal a lead shows is stored the first time, and once the playbook's `pql.require`
  holds (all signals, or any) the lead is marked product-qualified, with the signals.
  Customers and disqualified leads are not marked.
- A **customer** stays a customer: a buying signal after it became one (a pricing visit,
  an upgrade request) opens an expansion handoff to the account owner (routing picks
  someone for the opportunity stage's team when the account has no owner). One open
  expansion handoff per lead at a time; `expansion.cooldown_days` spaces them further.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update

from leadrelay.handoff.desk import HandoffDesk
from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import activity_fields
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage
from leadrelay.lead.store import chunks
from leadrelay.sales.rules import SalesRules, Signal
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s

EXPANSION = "expansion"


def on_activities(desk: HandoffDesk, assigned: Sequence[tuple[Activity, Lead]]) -> None:
    """Check a batch's stored activities for PQL and expansion signals (a no-op when the playbook has none)."""
    sales: SalesRules | None = desk.rules.sales
    if sales is None or not sales.watches_activities:
        return
    pql: dict[int, tuple[Lead, dict[str, Activity]]] = {}
    expansion: dict[int, tuple[Lead, Signal, Activity]] = {}
    for activity, lead in assigned:
        if lead.id is None or lead.stage is None or lead.stage is Stage.DISQUALIFIED:
            continue
        if lead.stage is Stage.CUSTOMER:
            if lead.id in expansion or (lead.stage_changed_at and activity.occurred_at < lead.stage_changed_at):
                continue  # one handoff per batch; signals from before the purchase are not expansion
            signal = next(_matching(sales.expansion_signals, activity), None)
            if signal is not None:
                expansion[lead.id] = (lead, signal, activity)
            continue
        for signal in _matching(sales.pql_signals, activity):
            seen = pql.setdefault(lead.id, (lead, {}))[1]
            if signal.id not in seen or activity.occurred_at < seen[signal.id].occurred_at:
                seen[signal.id] = activity
    if pql:
        _mark_pql(desk, sales, pql)
    if expansion:
        _open_expansions(desk, sales, expansion)


def _matching(signals: Sequence[Signal], activity: Activity) -> Iterator[Signal]:
    """The signals an activity matches, in playbook order (its fields are built only if one may match)."""
    event = activity.name if activity.type == "track" else None
    fields = None
    for signal in signals:
        if signal.may_match(activity.type, event):
            fields = fields if fields is not None else activity_fields(activity)
            if signal.when(fields):
                yield signal


def _mark_pql(desk: HandoffDesk, sales: SalesRules, hits: dict[int, tuple[Lead, dict[str, Activity]]]) -> None:
    conn = desk.conn
    seen: dict[int, set[str]] = {lead_id: set() for lead_id in hits}
    marked: set[int] = set()
    for part in chunks(list(hits)):
        for lead_id, signal in conn.execute(select(s.pql_signals.c.lead_id, s.pql_signals.c.signal)
                                            .where(s.pql_signals.c.lead_id.in_(part))):
            seen[lead_id].add(signal)
        marked.update(conn.scalars(select(s.product_qualified.c.lead_id)
                                   .where(s.product_qualified.c.lead_id.in_(part))))
    new_signals: list[dict[str, Any]] = []
    new_marks: list[dict[str, Any]] = []
    wanted = {signal.id for signal in sales.pql_signals}
    for lead_id, (_, found) in hits.items():
        for signal_id, activity in found.items():
            if signal_id not in seen[lead_id]:
                seen[lead_id].add(signal_id)
                new_signals.append({"lead_id": lead_id, "signal": signal_id, "at": activity.occurred_at,
                                    "activity_id": activity.id})
        qualifies = wanted <= seen[lead_id] if sales.pql_require == "all" else bool(seen[lead_id] & wanted)
        if qualifies and lead_id not in marked:
            new_marks.append({"lead_id": lead_id, "at": max(a.occurred_at for a in found.values()),
                              "signals": sorted(seen[lead_id] & wanted), "playbook_version": desk.version})
    if new_signals:
        conn.execute(insert(s.pql_signals), new_signals)
    if new_marks:
        conn.execute(insert(s.product_qualified), new_marks)
    for mark in new_marks:
        lead = hits[mark["lead_id"]][0]
        why = f"product-qualified: {', '.join(mark['signals'])} ({sales.pql_require} of the playbook's PQL signals)"
        desk.notice("lead.pql", lead, mark["at"], recipients=desk.people(lead.owner), signals=mark["signals"],
                    why=why, owner=lead.owner, trigger={"rule": "pql", "reason": why})


def _open_expansions(desk: HandoffDesk, sales: SalesRules, hits: dict[int, tuple[Lead, Signal, Activity]]) -> None:
    conn, c = desk.conn, h.handoffs.c
    ids = list(hits)
    busy = set(conn.scalars(select(c.lead_id).where(c.lead_id.in_(ids), c.kind == EXPANSION, c.status != "closed")))
    last: dict[int, datetime] = dict(conn.execute(select(c.lead_id, func.max(c.opened_at))
                                                  .where(c.lead_id.in_(ids), c.kind == EXPANSION)
                                                  .group_by(c.lead_id)).tuples().all())
    cooldown = timedelta(days=sales.expansion_cooldown_days) if sales.expansion_cooldown_days else None
    owners = desk.rules.stage_owners
    for lead_id, (lead, signal, activity) in hits.items():
        if lead_id in busy or (cooldown and lead_id in last and activity.occurred_at < last[lead_id] + cooldown):
            continue
        directory = desk.directory
        owner = desk.account_owner(lead)
        owner = owner if owner in directory.reps else None
        team = directory.teams.get(directory.reps[owner].team) if owner else None
        to_function = team.function if team else owners.get(Stage.OPPORTUNITY, "ae")
        row = desk.open(lead, EXPANSION, owners.get(Stage.CUSTOMER, "customer_success"), to_function,
                        activity.occurred_at, owner=owner, actor=f"rule:expansion.{signal.id}", suppress=False)
        conn.execute(update(h.handoffs).where(c.id == row.id).values(reason=f"expansion signal '{signal.id}'"))
