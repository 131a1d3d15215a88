"""Routing simulation: who a candidate playbook's teams, reps and routing rules would have given leads to.

One lead (`lead`): its latest handoff to sales, routed by the candidate at the moment it opened, from the reps'
loads in the store now (less the lead itself). A batch (`last`): the last N handoffs to sales (SDRs and AEs),
oldest first, from empty loads that build up as the simulation assigns (`handoff/simulation.py`). Account
owners count from when they were named. Each answer carries every candidate rep and why each was skipped — the
explanation `leads route-explain` gives — beside who really got the lead. Nothing in the store changes.

Since the loads are simulated, a rep can differ from who really got the lead even with the active playbook:
compare a candidate with the active playbook run the same way.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso
from leadrelay.handoff.directory import account_owner_history, rep_loads
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.handoff.routing import SALES_FUNCTIONS, Load
from leadrelay.handoff.simulation import HOLD, SimulatedLoads, owner_at, simulate_route
from leadrelay.lead import store as repo
from leadrelay.lead.queries import lead_id_for
from leadrelay.playbook.loader import Playbook
from leadrelay.storage import handoff_tables as h

MAX_BATCH = 10_000


def simulate_routes(app: App, candidate: Playbook, *, lead: str | int | None = None, last: int | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    if (lead is None) == (last is None):
        raise InvalidInput("simulate one lead (--lead, or `lead` over HTTP) or the last N handoffs (--last N)")
    if last is not None and not 1 <= last <= MAX_BATCH:
        raise InvalidInput(f"last: between 1 and {MAX_BATCH:,} handoffs")
    now = now or app.clock()
    directory = candidate.rules.handoff.directory
    c = h.handoffs.c
    with app.engine.connect() as conn:
        query = select(c.id, c.lead_id, c.to_function, c.opened_at, c.status, c.owner).where(
            c.to_function.in_(sorted(SALES_FUNCTIONS)))
        if lead is not None:
            lead_id = lead_id_for(conn, lead)
            handoffs = conn.execute(query.where(c.lead_id == lead_id).order_by(c.id.desc()).limit(1)).all()
            if not handoffs:
                raise InvalidInput(f"lead {lead_id} was never handed to sales: there is nothing to route")
            start = rep_loads(conn, directory, now)
            mine = handoffs[0]
            if mine.status in OWNED_STATUSES and mine.owner in start:  # the lead itself is not a load on its rep
                held = start[mine.owner]
                start[mine.owner] = Load(open=max(held.open - 1, 0), today=held.today, total=held.total)
            loads = SimulatedLoads(directory, candidate.rules.handoff.stale_after or HOLD, start=start)
        else:
            handoffs = conn.execute(query.order_by(c.opened_at.desc(), c.id.desc()).limit(last)).all()[::-1]
            if not handoffs:
                raise InvalidInput("the store has no handoffs to sales yet: there is nothing to route")
            loads = SimulatedLoads(directory, candidate.rules.handoff.stale_after or HOLD)
        leads = repo.load_leads(conn, sorted({row.lead_id for row in handoffs}))
        actual = _first_decisions(conn, [row.id for row in handoffs])
        owners = account_owner_history(conn)
    rows: list[dict[str, Any]] = []
    real: Counter[str] = Counter()
    simulated: Counter[str] = Counter()
    for row in handoffs:
        found = leads.get(row.lead_id)
        if found is None:
            continue  # merged into another lead since
        decision = simulate_route(directory, loads, found.lead_fields(found.scoring.engagement), row.to_function,
                                  row.opened_at,
                                  account_owner=owner_at(owners, found.account_id, found.company_domain, row.opened_at))
        was = actual.get(row.id) or {}
        real[was.get("owner") or "(queued)"] += 1
        simulated[decision.owner or "(queued)"] += 1
        rows.append({"lead": row.lead_id, "email": found.email, "handoff": row.id, "function": row.to_function,
                     "opened_at": utc_iso(row.opened_at), "actual": was, "simulated": decision.as_dict(),
                     "changed": was.get("owner") != decision.owner})
    return {"candidate": candidate.rules.version, "active": app.playbook.rules.version, "handoffs": len(rows),
            "changed": sum(row["changed"] for row in rows),
            "per_rep": {rep: {"actual": real[rep], "simulated": simulated[rep]}
                        for rep in sorted(set(real) | set(simulated))},
            "routes": rows}


def _first_decisions(conn, handoff_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Who really got each handoff when it opened: its first routing decision."""
    d = h.routing_decisions.c
    out: dict[int, dict[str, Any]] = {}
    for part in repo.chunks(handoff_ids):
        for row in conn.execute(select(d.handoff_id, d.owner, d.team, d.rule_id, d.reason)
                                .where(d.handoff_id.in_(part)).order_by(d.handoff_id, d.id)):
            out.setdefault(row.handoff_id, {"owner": row.owner, "team": row.team, "rule": row.rule_id,
                                            "reason": row.reason})
    return out
