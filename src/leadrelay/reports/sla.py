"""SLA compliance counted by lead, not by timer; what the escalations did; marketing's MQLs month by month.

Definitions (the README says the same):

- Each handoff to sales with an SLA policy counts once, in the period it was opened. For
  each clock the policy runs (`accept`, `first_touch`, `touches`), the handoff is *due* when
  it had that deadline, *breached* when the log has an `SlaBreached` for it, *pending* when
  the deadline is still ahead and unmet, and *met* otherwise. `compliance` is the share of
  handoffs with a deadline that breached none of them.
- `escalations` counts the escalation steps that ran, by action; `ended` says how the
  handoffs that breached ended (their outcome, or `open`).
- Marketing: the leads that first became MQLs in each calendar month of the range (UTC),
  against the playbook's `mqls_per_month`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from leadrelay.reports.cohorts import period_of
from leadrelay.reports.history import within
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t

CLOCKS = {"accept": "accept_due_at", "first_touch": "first_touch_due_at", "touches": "touches_due_at"}
DIMENSIONS = ("policy", "rep", "team")


def sla(conn: Connection, now: datetime, start: datetime | None, end: datetime | None, *, by: str | None = "policy",
        period: str | None = None, owners: Iterable[str] | None = None, mqls_target: int | None = None) -> dict:
    c, e = h.handoffs.c, h.domain_events.c
    query = select(c.id, c.lead_id, c.policy_id, c.owner, c.team, c.opened_at, c.status, c.outcome, c.accepted_at,
                   c.first_touch_at, c.touches, c.touches_required, *(c[col] for col in CLOCKS.values())).where(
        c.policy_id.is_not(None), c.to_function != "marketing")
    query = within(query, c.opened_at, start, end)
    if owners is not None:
        query = query.where(c.owner.in_(sorted(owners)))
    handoffs = conn.execute(query).all()
    wanted = {row.id for row in handoffs}
    lead_ids = sorted({row.lead_id for row in handoffs})
    breaches: dict[int, set[str]] = {}
    escalations: dict[int, Counter] = {}
    for i in range(0, len(lead_ids), 5_000):  # by lead id: the log's indexed column
        # The type is checked here: given it in SQL, SQLite reads every event of the type once per chunk.
        for handoff_id, kind, data in conn.execute(select(e.handoff_id, e.type, e.data).where(
                e.lead_id.in_(lead_ids[i:i + 5_000]))):
            if handoff_id not in wanted or kind not in ("SlaBreached", "Escalated"):
                continue
            if kind == "SlaBreached":
                breaches.setdefault(handoff_id, set()).add(data.get("clock"))
            else:
                escalations.setdefault(handoff_id, Counter())[data.get("action") or "?"] += 1
    groups: dict[tuple[str | None, str], list] = {}
    for row in handoffs:
        key = {"policy": row.policy_id, "rep": row.owner, "team": row.team}.get(by) if by else "all"
        groups.setdefault((period_of(row.opened_at, period), key or "(none)"), []).append(row)
    rows = []
    for (bucket, group), members in sorted(groups.items(), key=lambda item: (item[0][0] or "", item[0][1])):
        clocks = {}
        for clock, column in CLOCKS.items():
            due = [r for r in members if getattr(r, column) is not None or clock in breaches.get(r.id, ())]
            if not due:
                continue
            breached = sum(1 for r in due if clock in breaches.get(r.id, ()))
            pending = sum(1 for r in due if clock not in breaches.get(r.id, ()) and not _met(r, clock)
                          and getattr(r, column) is not None and getattr(r, column) > now)
            clocks[clock] = {"due": len(due), "met": len(due) - breached - pending, "breached": breached,
                             "pending": pending}
        with_deadline = [r for r in members if any(getattr(r, col) is not None for col in CLOCKS.values())
                         or r.id in breaches]
        breached_any = [r for r in with_deadline if r.id in breaches]
        settled = len(with_deadline) - sum(1 for r in with_deadline if r.id not in breaches and any(
            getattr(r, col) is not None and getattr(r, col) > now and not _met(r, clock)
            for clock, col in CLOCKS.items()))
        escalated = sum((escalations.get(r.id, Counter()) for r in members), Counter())
        rows.append({"group": group, "period": bucket, "handoffs": len(members), "breached": len(breached_any),
                     "compliance": round(1 - len(breached_any) / settled, 4) if settled else None,
                     "clocks": clocks, "escalations": dict(sorted(escalated.items())),
                     "ended": dict(sorted(Counter(r.outcome or "open" for r in breached_any).items()))})
    return {"rows": rows, "marketing": _marketing(conn, start, end, now, mqls_target)}


def _met(row, clock: str) -> bool:
    if clock == "accept":
        return row.accepted_at is not None
    if clock == "first_touch":
        return row.first_touch_at is not None
    return row.touches_required is not None and row.touches >= row.touches_required


def _marketing(conn: Connection, start: datetime | None, end: datetime | None, now: datetime,
               target: int | None) -> list[dict]:
    """Leads that first became MQLs, per calendar month, against the target."""
    sc = t.stage_changes.c
    first = select(sc.lead_id, func.min(sc.at).label("at")).where(sc.to_stage == "mql").group_by(sc.lead_id)
    first = within(first, func.min(sc.at), start, end, having=True)
    months = Counter(period_of(at if at.tzinfo else at.replace(tzinfo=UTC), "month")
                     for _, at in conn.execute(first))
    current = period_of(now, "month")
    return [{"month": month, "mqls": n, "target": target,
             "met": None if target is None or month == current else n >= target}
            for month, n in sorted(months.items())]
