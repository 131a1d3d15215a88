"""The handoff: what a stage move between teams sets off, inside the same transaction.

A move into a stage another team owns opens a handoff, routes it to a rep (or queues it),
plans its SLA timers, suppresses marketing email while sales owns the lead, and writes
the notices. A move back to marketing (recycle, reject, an escalation) closes it and lifts
the suppression. Every routing decision is stored with its candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, String, insert, literal, select, update

from leadrelay.bootstrap import App
from leadrelay.domain.activities import Activity
from leadrelay.domain.engine import activity_fields
from leadrelay.domain.handoff import MARKETING, handoff_need
from leadrelay.domain.lead import Lead
from leadrelay.domain.lifecycle import StageChange
from leadrelay.domain.notices import Notice
from leadrelay.domain.routing import Decision, Directory, Load, route
from leadrelay.domain.sla import ACCEPT, FIRST_TOUCH, TOUCHES, plan
from leadrelay.domain.stages import Stage
from leadrelay.services.directory import account_owners, effective_directory, lock_routing, rep_loads
from leadrelay.storage import handoff_tables as h
from leadrelay.storage.repository import allocate_ids, chunks
from leadrelay.storage.tables import UTCDateTime

DUE_COLUMNS = {ACCEPT: "accept_due_at", FIRST_TOUCH: "first_touch_due_at", TOUCHES: "touches_due_at"}


class HandoffDesk:
    """One transaction's view of handoffs: the directory, rep loads and the notices to send."""

    def __init__(self, conn: Connection, app: App, now: datetime):
        self.conn, self.app, self.now = conn, app, now
        self.rules = app.playbook.rules
        self.version = app.playbook.version
        self._directory: Directory | None = None
        self._loads: dict[str, Load] | None = None
        self._owners: tuple[dict, dict] | None = None
        self._decisions: list[dict] = []
        self._timers: dict[tuple, list[int]] = {}  # plan key -> handoffs getting that plan's timers
        self._updates: list[dict] = []
        self._plans: dict[tuple, tuple] = {}  # (policy, start, owner) -> plan: a queue assigned at once shares them
        self.notices: list[Notice] = []

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            lock_routing(self.conn)
            self._directory = effective_directory(self.conn, self.app)
            self._loads = rep_loads(self.conn, self._directory, self.now)
        return self._directory

    @property
    def loads(self) -> dict[str, Load]:
        self.directory  # noqa: B018 - loads come with the directory
        return self._loads

    # --- stage moves -------------------------------------------------------------------

    def on_stage_changes(self, changes: Sequence[StageChange]) -> None:
        """Open, close or retarget handoffs for stage moves already stored."""
        if not changes:
            return
        open_rows = self.open_handoffs([c.lead.id for c in changes])
        for change in changes:
            lead = change.lead
            need = handoff_need(change, self.rules.stage_owners)
            current = open_rows.get(lead.id)
            if change.to_stage is Stage.MQL:
                self.notice("lead.mql", lead, change.at, actor=change.actor, reason=change.reason)
            if need.close and current is not None:
                self.close(current, need.close, change.reason, change.at)
                del open_rows[lead.id]
                current = None
            if need.close == "disqualified":
                lead.owner = None
                self.lift_sales_suppressions(lead.id, "disqualified")
                self.notice("lead.disqualified", lead, change.at, actor=change.actor, reason=change.reason)
            if need.kind is None:
                continue
            if need.to_function == MARKETING:
                self.return_to_marketing(lead, change, need)
            elif current is not None and current.to_function == need.to_function:
                self.retarget(current, lead, need.kind, change.at)
            else:
                open_rows[lead.id] = self.open(lead, need.kind, need.from_function, need.to_function, change.at)

    def open_handoffs(self, lead_ids: Iterable[int]) -> dict[int, Any]:
        c = h.handoffs.c
        ids = sorted(set(lead_ids))
        rows = self.conn.execute(select(h.handoffs).where(c.lead_id.in_(ids), c.status != "closed")) if ids else []
        return {row.lead_id: row for row in rows}

    def open(self, lead: Lead, kind: str, from_function: str, to_function: str, at: datetime, *,
             owner: str | None = None, actor: str = "rule:routing", suppress: bool = True) -> Any:
        """A new handoff to another team, routed at once when someone can take it.

        `owner` gives it to that rep instead of routing (an expansion goes to the account
        owner); `suppress=False` leaves marketing's channels open (a customer stays in them).
        """
        handoff_id = allocate_ids(self.conn, h.handoffs, 1)[0]
        self.conn.execute(insert(h.handoffs).values(
            id=handoff_id, lead_id=lead.id, kind=kind, from_function=from_function, to_function=to_function,
            status="queued", opened_at=at, touches=0, playbook_version=self.version))
        if suppress:
            self.suppress_for_sales(lead.id, handoff_id)
        self.notice("lead.handoff_opened", lead, at, team=to_function, kind=kind)
        self.assign(handoff_id, lead, kind, to_function, at, actor=actor, fresh=True, owner=owner)
        return self.conn.execute(select(h.handoffs).where(h.handoffs.c.id == handoff_id)).one()

    def assign(self, handoff_id: int, lead: Lead, kind: str, to_function: str, at: datetime, *, actor: str,
               exclude: frozenset[str] = frozenset(), owner: str | None = None, fresh: bool = False,
               defer: bool = False, unless_queued_as: Any = None) -> Decision:
        """Route (or give to `owner`), store the decision, and start the SLA clock for the new owner.

        `fresh`: the handoff never had timers (skip cancelling them). `defer`: buffer the
        writes for `write_pending()` (bulk assignment of a queue). `unless_queued_as`: the
        candidates of the last decision; a lead still queued for the same reasons stores nothing.
        """
        directory = self.directory
        if owner is not None:
            rep = directory.reps[owner]
            decision = Decision("manual", rep.team, owner, f"assigned by {actor}")
        else:
            decision = route(lead.lead_fields(lead.scoring.engagement), to_function, directory, self.loads,
                             self.now, account_owner=self.account_owner(lead), exclude=exclude)
        if decision.owner is None and unless_queued_as is not None \
                and decision.as_dict()["candidates"] == unless_queued_as:
            return decision  # still waiting, for the same reasons: nothing new to record
        self._decisions.append({
            "lead_id": lead.id, "handoff_id": handoff_id, "at": self.now, "rule_id": decision.rule,
            "team": decision.team, "owner": decision.owner, "reason": decision.reason,
            "candidates": decision.as_dict()["candidates"], "actor": actor, "playbook_version": self.version})
        values: dict[str, Any] = {"team": decision.team, "owner": decision.owner}
        if not fresh:
            self.cancel_timers(handoff_id, None, "reassigned" if decision.owner else "unassigned")
        if decision.owner is not None:
            load = self.loads.setdefault(decision.owner, Load())
            load.open, load.today, load.total = load.open + 1, load.today + 1, load.total + 1
            start = max(at, self.now) if exclude or owner else at
            values |= {"status": "open", "assigned_at": start} | self.schedule(handoff_id, lead.id, kind,
                                                                               decision.owner, start)
            rep = directory.reps[decision.owner]
            self.notice("lead.assigned", lead, self.now, owner={"name": rep.name, "email": rep.email},
                        team=decision.team, reason=decision.reason, recipients=self.people(decision.owner))
        lead.owner = decision.owner
        self._updates.append(values | {"b_id": handoff_id})
        if not defer:
            self.write_pending()
        return decision

    def write_pending(self) -> None:
        """Write buffered routing decisions, timers and handoff updates in batches."""
        if self._decisions:
            self.conn.execute(insert(h.routing_decisions), self._decisions)
        self._insert_timers()
        # One UPDATE ... WHERE id IN (...) per distinct set of values (a queue assigned at once: one per
        # owner) rather than one statement per handoff. Later updates of a handoff override earlier ones.
        latest: dict[int, dict] = {}
        for row in self._updates:
            latest[row["b_id"]] = latest.get(row["b_id"], {}) | row
        same: dict[tuple, list[int]] = {}
        for handoff_id, row in latest.items():
            same.setdefault(tuple(sorted((k, v) for k, v in row.items() if k != "b_id")), []).append(handoff_id)
        for values, ids in same.items():
            for part in chunks(ids):
                self.conn.execute(update(h.handoffs).where(h.handoffs.c.id.in_(part)).values(dict(values)))
        self._decisions, self._timers, self._updates = [], {}, []

    def _insert_timers(self) -> None:
        """The planned timers: handoffs sharing a plan get each of its timers in one INSERT ... SELECT.

        A queue assigned at once shares a handful of plans (one per owner), so this is a few
        statements instead of a row per timer; each handoff's timers still get ids in plan order.
        """
        c = h.handoffs.c
        columns = ["handoff_id", "lead_id", "policy_id", "deadline", "step", "step_index", "action", "due_at",
                   "fire_at"]
        for key, ids in self._timers.items():
            policy_id = key[0]
            due, timers = self._plans[key]
            for timer in timers:
                constants = (literal(policy_id, String), literal(timer.deadline, String), literal(timer.step, String),
                             literal(timer.index, Integer), literal(timer.action, String),
                             literal(due[timer.deadline], UTCDateTime), literal(timer.fire_at, UTCDateTime))
                for part in chunks(ids):
                    self.conn.execute(insert(h.sla_timers).from_select(
                        columns, select(c.id, c.lead_id, *constants).where(c.id.in_(part)).order_by(c.id)))

    def account_owner(self, lead: Lead) -> str | None:
        """The rep who owns the lead's company (its account, or an account with its email domain)."""
        if self._owners is None:
            self._owners = account_owners(self.conn)
        by_account, by_domain = self._owners
        return by_account.get(lead.account_id) or by_domain.get(lead.company_domain)

    def schedule(self, handoff_id: int, lead_id: int, kind: str, owner: str, start: datetime) -> dict[str, Any]:
        """Plan the policy's deadlines and timers from `start` on the owner's calendar (buffered)."""
        policy = self.rules.handoff.policies.get(kind)
        if policy is None:
            return {"policy_id": None}
        key = (policy.id, start, owner)
        if key not in self._plans:
            self._plans[key] = plan(policy, start, self.directory.reps[owner].calendar)
        due, timers = self._plans[key]
        self._timers.setdefault(key, []).append(handoff_id)  # written by write_pending (lead id: the handoff's)
        values = {"policy_id": policy.id, "touches_required": policy.touches[0] if policy.touches else None}
        return values | {DUE_COLUMNS[name]: at for name, at in due.items()}

    def retarget(self, current: Any, lead: Lead, kind: str, at: datetime) -> None:
        """A hand-raiser on a lead sales already has: keep the owner, put it on the hand-raiser clock."""
        values: dict[str, Any] = {"kind": kind}
        if current.owner is not None:
            self.cancel_timers(current.id, None, "hand-raiser clock")
            values |= self.schedule(current.id, lead.id, kind, current.owner, max(at, current.opened_at))
            self.write_pending()
        self.conn.execute(update(h.handoffs).where(h.handoffs.c.id == current.id).values(**values))
        self.notice("lead.handoff_opened", lead, at, team=current.to_function, kind=kind,
                    reason="hand-raiser on a lead sales already had", recipients=self.people(current.owner))

    def close(self, row: Any, outcome: str, reason: str | None, at: datetime) -> None:
        self.conn.execute(update(h.handoffs).where(h.handoffs.c.id == row.id).values(
            status="closed", outcome=outcome, reason=reason, closed_at=max(at, self.now)))
        self.cancel_timers(row.id, None, f"handoff {outcome}")
        if row.owner is not None and row.status == "open" and row.owner in self.loads:
            self.loads[row.owner].open = max(self.loads[row.owner].open - 1, 0)

    def return_to_marketing(self, lead: Lead, change: StageChange, need) -> None:
        """Recycle or reject: record the handoff back to marketing, lift what sales ownership imposed."""
        self.conn.execute(insert(h.handoffs).values(
            lead_id=lead.id, kind=need.kind, from_function=need.from_function, to_function=MARKETING,
            status="closed", outcome="returned", reason=change.reason, opened_at=change.at, closed_at=change.at,
            touches=0, playbook_version=self.version))
        previous_owner, lead.owner = lead.owner, None
        self.lift_sales_suppressions(lead.id, need.kind)
        self.notice(f"lead.{'recycled' if need.kind == 'recycle' else 'rejected'}", lead, change.at,
                    actor=change.actor, reason=change.reason, from_stage=change.from_stage.value,
                    recipients=self.people(previous_owner))

    def cancel_timers(self, handoff_id: int, deadline: str | None, why: str) -> None:
        """Cancel pending timers. A deadline met late keeps its overdue timers: the breach still counts."""
        c = h.sla_timers.c
        query = update(h.sla_timers).where(c.handoff_id == handoff_id, c.fired_at.is_(None), c.cancelled_at.is_(None))
        if deadline is not None:
            query = query.where(c.deadline == deadline, c.due_at >= self.now)
        self.conn.execute(query.values(cancelled_at=self.now, outcome=why))

    # --- suppression -------------------------------------------------------------------

    def suppress_for_sales(self, lead_id: int, handoff_id: int) -> None:
        channels = self.rules.handoff.suppress_while_sales
        active = self.active_suppressions(lead_id)
        rows = [{"lead_id": lead_id, "channel": channel, "reason": "owned by sales", "source": f"handoff:{handoff_id}",
                 "permanent": False, "created_at": self.now} for channel in channels if channel not in active]
        if rows:
            self.conn.execute(insert(h.suppressions), rows)

    def lift_sales_suppressions(self, lead_id: int, why: str) -> None:
        c = h.suppressions.c
        self.conn.execute(update(h.suppressions).where(c.lead_id == lead_id, c.permanent.is_(False),
                                                       c.lifted_at.is_(None))
                          .values(lifted_at=self.now, lifted_reason=why))

    def active_suppressions(self, lead_id: int) -> set[str]:
        c = h.suppressions.c
        return set(self.conn.scalars(select(c.channel).where(c.lead_id == lead_id, c.lifted_at.is_(None))))

    def suppress_from_activities(self, assigned: Sequence[tuple[Activity, Lead]]) -> None:
        """Unsubscribes and bounces: permanent suppressions, never lifted automatically."""
        rules = self.rules.handoff.permanent
        if not rules:
            return
        rows = []
        for activity, lead in assigned:
            event = activity.name if activity.type == "track" else None
            fields = None
            for rule in rules:
                if not rule.may_match(activity.type, event):
                    continue  # most activities are page views no suppression rule can match
                fields = fields if fields is not None else activity_fields(activity)
                if rule.when(fields):
                    rows.append({"lead_id": lead.id, "channel": rule.channel, "reason": rule.reason,
                                 "source": f"rule:suppression.{rule.id}", "permanent": True,
                                 "created_at": activity.occurred_at})
        if rows:
            self.conn.execute(insert(h.suppressions), rows)

    # --- notices -----------------------------------------------------------------------

    def people(self, rep_id: str | None) -> dict[str, str]:
        rep = self.directory.reps.get(rep_id) if rep_id else None
        if rep is None:
            return {}
        return {"owner": rep.email} | ({"manager": rep.manager_email} if rep.manager_email else {})

    def notice(self, event: str, lead: Lead, at: datetime, *, recipients: dict | None = None, **data: Any) -> None:
        data = {k: v for k, v in data.items() if v is not None}
        data["lead"] = {"id": lead.id, "email": lead.email, "name": _name(lead.traits),
                        "company": lead.account.get("name") or lead.traits.get("company"),
                        "stage": lead.stage.value if lead.stage else None}
        data.setdefault("fit", round(lead.scoring.fit, 1))
        data["playbook_version"] = self.version
        self.notices.append(Notice(event, at, lead.id, data, recipients or {}))

    def flush(self) -> None:
        """Write what is buffered, and the notices into the outbox, in this transaction."""
        self.write_pending()
        if not self.notices:
            return
        from leadrelay.delivery.outbox import enqueue

        enqueue(self.conn, self.notices, self.app.playbook.model.notifications, self.now)
        self.notices = []


def _name(traits: dict) -> str | None:
    parts = [traits.get("first_name"), traits.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    return name or (traits.get("name") if isinstance(traits.get("name"), str) else None)
