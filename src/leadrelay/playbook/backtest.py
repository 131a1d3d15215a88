"""Backtest a playbook: replay the stored history through a candidate and through the active playbook, side by
side, and say what would have been different — before anyone activates it.

Both playbooks replay the same activities, lead by lead, through the same engine the live store uses, in
memory: nothing is written and nobody is told. So every difference between the two sides comes from the
playbooks alone, not from what people did by hand since.

Per side:

- **MQLs and SALs per month**: the month of each lead's first move into the stage. A SAL is a hand-raiser the
  playbook sends straight to sales, or an MQL of the playbook that sales accepted in the real history (sales
  never saw an MQL only the candidate makes, so it is not counted accepted).
- **Precision**: of those MQLs (SALs), the share that converted in the real history — reached opportunity or
  customer, won a deal, or was imported as converted (`import --outcome`). **Recall**: of every lead that
  converted, the share the playbook would have made an MQL or sent to sales.
- **Routing**: each handoff the playbook would open goes through its routing rules at its own moment, oldest
  first, with simulated loads (`handoff/simulation.py`) and the account owners of that moment (an owner named
  later did not own the company then): leads per team and per rep, the share that would have waited in a queue,
  and the SLA load (handoffs per rep per day, over the days of the range).
- **Changed**: the leads whose final stage differs, with the move that made the difference and when.

A condition reading `predicted` reads each lead's probability as it stands now: the backtest replays the rules,
not the model's past scores.

`since` counts moves from that day on (the replay still starts at each lead's first activity): MQLs, SALs (an
MQL accepted after the day counts then), handoffs, and changed leads whose deciding move came after it. Recall
asks of the leads that converted after it how many each playbook had caught, whenever it did.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from leadrelay.core.app import App
from leadrelay.core.time import utc_iso
from leadrelay.handoff.directory import account_owner_history
from leadrelay.handoff.model import MARKETING, handoff_need
from leadrelay.handoff.simulation import HOLD, OwnerHistory, SimulatedLoads, owner_at, simulate_route
from leadrelay.lead import store as repo
from leadrelay.lead.engine import Outcome, process, sort_key
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.model import Lead
from leadrelay.lead.rules import Rules
from leadrelay.lead.stages import Stage
from leadrelay.playbook.loader import Playbook
from leadrelay.predict.service import probabilities_readable
from leadrelay.storage import predict_tables as p
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t

LEADS_PER_READ = 500
CONVERTED = (Stage.OPPORTUNITY.value, Stage.CUSTOMER.value)
SHOWN_CHANGES = 1000  # at most this many changed leads are listed (all are counted)


@dataclass
class Side:
    """What one playbook would have done."""

    rules: Rules
    directory: Any
    loads: SimulatedLoads
    reads_predicted: bool = True  # the leads' probabilities (False: the active model reads a field it excludes)
    mqls: Counter = field(default_factory=Counter)  # month -> leads
    sals: Counter = field(default_factory=Counter)
    mql_leads: set = field(default_factory=set)  # counted (in the range)
    sal_leads: set = field(default_factory=set)
    mql_seen: set = field(default_factory=set)  # ever
    sal_seen: set = field(default_factory=set)
    caught: set = field(default_factory=set)  # made an MQL or sent to sales, ever
    pending: list = field(default_factory=list)  # handoffs to route, in time order once every lead is replayed
    teams: Counter = field(default_factory=Counter)
    reps: Counter = field(default_factory=Counter)
    handoffs: int = 0
    queued: int = 0

    def enter(self, stage: Stage, lead_id: int, at: datetime, start: datetime | None) -> None:
        """A lead's first move into MQL or SAL: seen for good, counted (in its month) when in the range."""
        seen, counted, months = (self.mql_seen, self.mql_leads, self.mqls) if stage is Stage.MQL else \
            (self.sal_seen, self.sal_leads, self.sals)
        if lead_id in seen:
            return
        seen.add(lead_id)
        if start is None or at >= start:
            counted.add(lead_id)
            months[at.strftime("%Y-%m")] += 1

    def route(self, owners: OwnerHistory) -> None:
        """Route the handoffs the replay found, oldest first (loads build up in time order)."""
        for at, _, fields, function, account_id, domain in sorted(self.pending, key=lambda item: item[:2]):
            decision = simulate_route(self.directory, self.loads, fields, function, at,
                                      account_owner=owner_at(owners, account_id, domain, at))
            self.handoffs += 1
            self.queued += decision.owner is None
            self.teams[decision.team or "(no team)"] += 1
            if decision.owner is not None:
                self.reps[decision.owner] += 1

    def result(self, converters: set[int], recall_base: set[int], days: int) -> dict[str, Any]:
        def precision(leads: set[int]) -> float | None:
            return round(len(leads & converters) / len(leads), 4) if leads else None

        def recall(caught: set[int]) -> float | None:
            return round(len(caught & recall_base) / len(recall_base), 4) if recall_base else None

        return {
            "mqls": len(self.mql_leads), "sals": len(self.sal_leads),
            "mqls_per_month": dict(sorted(self.mqls.items())), "sals_per_month": dict(sorted(self.sals.items())),
            "mql_precision": precision(self.mql_leads), "sal_precision": precision(self.sal_leads),
            "mql_recall": recall(self.mql_seen), "recall": recall(self.caught),
            "handoffs": self.handoffs, "queued_share": round(self.queued / self.handoffs, 4) if self.handoffs else None,
            "leads_per_team": dict(sorted(self.teams.items())), "leads_per_rep": dict(sorted(self.reps.items())),
            "load_per_rep": {rep: round(n / days, 3) for rep, n in sorted(self.reps.items())},
        }


def backtest(app: App, candidate: Playbook, *, since: date | None = None) -> dict[str, Any]:
    """Replay the store's history through `candidate` and the active playbook; compare (see the module docstring)."""
    started = time.perf_counter()
    active_rules = app.playbook.rules
    start = datetime.combine(since, datetime.min.time(), UTC) if since else None
    changed: list[dict[str, Any]] = []
    changed_count, leads, activities = 0, 0, 0
    first = last = None
    with app.engine.connect() as conn:
        sides = {"active": _side(active_rules, conn), "candidate": _side(candidate.rules, conn)}
        converted = _converters(conn)
        accepted = _accepted(conn)
        owners = account_owner_history(conn)
        for ids in _lead_ids(conn):
            stored = repo.load_leads(conn, ids)
            acts = repo.lead_activities(conn, ids)
            for lead_id in ids:
                history = sorted(acts[lead_id], key=sort_key)
                if not history:
                    continue
                leads += 1
                activities += len(history)
                first = min(first or history[0].occurred_at, history[0].occurred_at)
                last = max(last or history[-1].occurred_at, history[-1].occurred_at)
                finals = {name: _replay(side, stored[lead_id], history, start, accepted.get(lead_id))
                          for name, side in sides.items()}
                (was, was_move), (now, now_move) = finals["active"], finals["candidate"]
                if was == now:
                    continue
                deciding, because = _because(was, was_move, now, now_move)
                if start is not None and deciding is not None and deciding.at < start:
                    continue  # it changed before the range
                changed_count += 1
                if len(changed) < SHOWN_CHANGES:
                    changed.append({"lead": lead_id, "email": stored[lead_id].email, "from": _name(was),
                                    "to": _name(now), "at": utc_iso(deciding.at) if deciding else None,
                                    "because": because})
    for side in sides.values():
        side.route(owners)
    days = max(1, ((last - max(first, start) if start else last - first).days + 1)) if first and last else 1
    # Recall asks of the leads that converted in the range (all of them without `since`) how many each
    # playbook had made an MQL or sent to sales, whenever it did.
    recall_base = {lead for lead, at in converted.items() if start is None or at >= start}
    seconds = time.perf_counter() - started
    return {
        "since": since.isoformat() if since else None, "leads": leads, "activities": activities,
        "converters": len(recall_base), "days": days,
        "active": sides["active"].result(set(converted), recall_base, days) | {"version": active_rules.version},
        "candidate": sides["candidate"].result(set(converted), recall_base, days) | {
            "version": candidate.rules.version},
        "changed_count": changed_count, "changed": changed,
        "seconds": round(seconds, 3), "activities_per_second": round(2 * activities / seconds) if seconds else None,
    }


def _side(rules: Rules, conn: Connection) -> Side:
    # Alerts, follow-ups, sequences and spikes tell people things; none moves a stage: the replay leaves them out.
    quiet = replace(rules, alerts=(), followups=(), sequences=(), spike_windows=())
    directory = rules.handoff.directory
    hold = rules.handoff.stale_after or HOLD
    return Side(quiet, directory, SimulatedLoads(directory, hold),
                reads_predicted=probabilities_readable(conn, rules.predict))


def _replay(side: Side, stored: Lead, history: list, start: datetime | None,
            accepted_at: datetime | None) -> tuple[Stage | None, StageChange | None]:
    """One lead through one playbook, activity by activity (a handoff records the lead as it is at its move)."""
    lead = Lead(id=stored.id, account_id=stored.account_id, account=stored.account,
                predicted=stored.predicted if side.reads_predicted else None)  # a model the side excludes: none
    outcome = Outcome()
    for activity in history:
        seen = len(outcome.stage_changes)
        process(lead, [activity], side.rules, outcome)
        for change in outcome.stage_changes[seen:]:
            _count(side, lead, change, start, accepted_at)
    moves = outcome.stage_changes
    return lead.stage, (moves[-1] if moves else None)


def _count(side: Side, lead: Lead, change: StageChange, start: datetime | None, accepted_at: datetime | None) -> None:
    """Count a move into the side's figures (those in the range), and note the handoff it opens."""
    assert lead.id is not None  # a replayed copy of a stored lead (_replay)
    if change.to_stage is Stage.MQL and lead.id not in side.mql_seen:
        side.caught.add(lead.id)
        side.enter(Stage.MQL, lead.id, change.at, start)
        if accepted_at is not None:  # sales accepted it in the real history
            side.enter(Stage.SAL, lead.id, max(accepted_at, change.at), start)
    elif change.to_stage is Stage.SAL:
        side.caught.add(lead.id)
        side.enter(Stage.SAL, lead.id, change.at, start)
    need = handoff_need(change, side.rules.stage_owners)
    if need.kind is None or need.to_function == MARKETING or change.to_stage is Stage.DISQUALIFIED \
            or (start is not None and change.at < start):
        return
    side.pending.append((change.at, lead.id, lead.lead_fields(lead.scoring.engagement), need.to_function,
                         lead.account_id, lead.company_domain))


def _because(was: Stage | None, was_move: StageChange | None, now: Stage | None,
             now_move: StageChange | None) -> tuple[StageChange | None, str]:
    """The move that made the difference, and why: the candidate's last move when it takes the lead further (or
    disqualifies it), else the active playbook's last move, which the candidate does not make."""
    candidate_decides = now is Stage.DISQUALIFIED or (
        was is not Stage.DISQUALIFIED and (was is None or (now is not None and now.rank >= was.rank)))
    if candidate_decides and now_move is not None:
        return now_move, f"{now_move.actor}: {now_move.reason}"
    if was_move is not None:
        return was_move, (f"the candidate does not make this move of the active playbook: {was_move.actor}: "
                          f"{was_move.reason}")
    return None, "-"


def _name(stage: Stage | None) -> str | None:
    return stage.value if stage else None


def _lead_ids(conn: Connection):
    last = 0
    while True:
        ids = list(conn.scalars(select(t.leads.c.id).where(t.leads.c.merged_into.is_(None), t.leads.c.id > last)
                                .order_by(t.leads.c.id).limit(LEADS_PER_READ)))
        if not ids:
            return
        last = ids[-1]
        yield ids


def _converters(conn: Connection) -> dict[int, datetime]:
    """Leads that converted in the real history, with when: reached opportunity or customer, won a deal, or
    imported as converted."""
    c, d = t.stage_changes.c, s.opportunities.c
    found: dict[int, datetime] = dict(conn.execute(select(c.lead_id, func.min(c.at)).where(c.to_stage.in_(CONVERTED))
                                                   .group_by(c.lead_id)).tuples().all())
    for lead_id, at in conn.execute(select(d.lead_id, func.min(d.closed_at)).where(
            d.status == "won", d.lead_id.is_not(None), d.closed_at.is_not(None)).group_by(d.lead_id)):
        found[lead_id] = min(found.get(lead_id, at), at)
    o = p.lead_outcomes.c
    for lead_id, at in conn.execute(select(o.lead_id, o.decided_at).where(o.converted)):
        found[lead_id] = min(found.get(lead_id, at), at)
    return found


def _accepted(conn: Connection) -> dict[int, datetime]:
    """When sales accepted each lead it accepted in the real history (its first move into SAL by a person)."""
    c = t.stage_changes.c
    query = select(c.lead_id, func.min(c.at)).where(c.to_stage == Stage.SAL.value, c.actor.like("user:%"))
    return dict(conn.execute(query.group_by(c.lead_id)).tuples().all())
