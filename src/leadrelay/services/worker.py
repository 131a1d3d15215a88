"""The worker: fires SLA timers that came due, assigns queued leads, catches stale ones, delivers the outbox.

Every step takes `now` as an argument and is idempotent: sweeping twice at the same
moment does nothing the second time, and a worker that was down catches up on whatever
came due while it was away. On PostgreSQL several workers share the work: due timers are
claimed with FOR UPDATE SKIP LOCKED, assignment takes the routing lock.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from leadrelay.bootstrap import App
from leadrelay.domain.sla import ACCEPT, BREACH, ESCALATION, FIRST_TOUCH, TOUCHES, WARNING, escalation_timers
from leadrelay.domain.stages import Stage, Transition
from leadrelay.services.directory import lock_routing
from leadrelay.services.handoffs import HandoffDesk
from leadrelay.services.transitions import move_lead
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import repository as repo
from leadrelay.storage import tables as t
from leadrelay.storage.database import transaction
from leadrelay.storage.sales_repo import has_open_deal

log = logging.getLogger("leadrelay.worker")
TIMERS_PER_TRANSACTION = 200
SALES_STAGES = {Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY}


@dataclass
class SweepReport:
    timers: Counter = field(default_factory=Counter)  # "breach", "escalation:reassign", "met", ...
    assigned: int = 0
    still_queued: int = 0
    stale: int = 0
    delivered: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"timers": dict(sorted(self.timers.items())), "assigned": self.assigned,
                "still_queued": self.still_queued, "stale": self.stale, "delivered": self.delivered}


def sweep(app: App, now: datetime, *, deliver: bool = True) -> SweepReport:
    """One pass of everything the worker does, as of `now`."""
    report = SweepReport()
    fire_timers(app, now, report)
    assign_queued(app, now, report)
    detect_stale(app, now, report)
    if deliver:
        from leadrelay.delivery.dispatcher import deliver_due

        result = deliver_due(app.engine, app.settings, app.playbook.model.notifications, now)
        report.delivered = result.as_dict() if hasattr(result, "as_dict") else dict(vars(result))
    return report


def run(app: App, *, interval: float = 1.0, once: bool = False, clock: Callable[[], datetime] | None = None,
        on_sweep: Callable[[SweepReport], None] | None = None) -> None:
    """Sweep every `interval` seconds until Ctrl-C or SIGTERM (or once).

    A stop signal lets the sweep in progress finish, then returns: interrupting a query
    instead would surface as a database error. A database error in one sweep (a deadlock,
    a lost connection) is logged and the next sweep tries again: everything a sweep does is
    idempotent, and what it left undone is still due. With `once`, the error is raised.
    """
    clock = clock or app.clock
    stop = threading.Event()
    with _stop_on_signals(stop):
        while not stop.is_set():
            try:
                report = sweep(app, clock())
            except DBAPIError as exc:
                if once:
                    raise
                log.warning("sweep failed, retrying in %.2fs: %s", interval, str(exc.orig or exc).splitlines()[0])
            else:
                if on_sweep:
                    on_sweep(report)
                if once:
                    return
            stop.wait(interval)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (only the main thread may install signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _claim(conn: Connection, query):
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).all()


def fire_timers(app: App, now: datetime, report: SweepReport) -> None:
    """Warn, breach and escalate: every pending timer whose moment has come, oldest first."""
    c = h.sla_timers.c
    while True:
        with transaction(app.engine) as conn:
            lock_routing(conn)  # before timer and lead rows: else workers splitting a handoff's timers deadlock
            timers = _claim(conn, select(h.sla_timers).where(c.fired_at.is_(None), c.cancelled_at.is_(None),
                                                             c.fire_at <= now)
                            .order_by(c.fire_at, c.id).limit(TIMERS_PER_TRANSACTION))
            if not timers:
                return
            desk = HandoffDesk(conn, app, now)
            for timer in timers:
                outcome = _fire(conn, app, desk, timer, now)
                report.timers[outcome.split(":")[0] if outcome.startswith("skipped") else outcome] += 1
                column = c.cancelled_at if outcome.startswith(("met", "skipped")) else c.fired_at
                conn.execute(update(h.sla_timers).where(c.id == timer.id).values({column: now, c.outcome: outcome}))
            desk.flush()


def _fire(conn: Connection, app: App, desk: HandoffDesk, timer: Any, now: datetime) -> str:
    handoff = conn.execute(select(h.handoffs).where(h.handoffs.c.id == timer.handoff_id)).one()
    if handoff.status != "open":
        return f"skipped: handoff {handoff.status}"
    met_at = {ACCEPT: handoff.accepted_at, FIRST_TOUCH: handoff.first_touch_at,
              TOUCHES: handoff.last_touch_at if handoff.touches >= (handoff.touches_required or 0) else None
              }[timer.deadline]
    if met_at is not None and met_at <= timer.due_at:
        return "met"
    if met_at is not None and timer.step != BREACH:
        return "skipped: met late"  # the breach is recorded; warning or escalating it now would be noise
    lead = repo.load_leads(conn, [handoff.lead_id], for_update=True)[handoff.lead_id]
    sla = {"policy": timer.policy_id, "deadline": timer.deadline, "due_at": timer.due_at.isoformat()}
    owner = handoff.owner
    if timer.step == WARNING:
        desk.notice("sla.warning", lead, now, sla=sla, owner=owner, recipients=_only(desk.people(owner), "owner"))
        return WARNING
    if timer.step == BREACH:
        desk.notice("sla.breached", lead, now, sla=sla, owner=owner, recipients=desk.people(owner))
        _plan_escalation(conn, desk, timer, owner)
        return BREACH
    action = timer.action
    if action == "notify_rep":
        desk.notice("sla.escalated", lead, now, sla=sla, owner=owner, escalated_to=owner, reason=action,
                    recipients=_only(desk.people(owner), "owner"))
    elif action == "notify_manager":
        rep = desk.directory.reps.get(owner)
        desk.notice("sla.escalated", lead, now, sla=sla, owner=owner, reason=action,
                    escalated_to=rep.manager_email if rep else None, recipients=_only(desk.people(owner), "manager"))
    elif action == "reassign":
        if owner in desk.loads:
            desk.loads[owner].open = max(desk.loads[owner].open - 1, 0)
        decision = desk.assign(handoff.id, lead, handoff.kind, handoff.to_function, now,
                               actor=f"rule:sla.{timer.policy_id}", exclude=frozenset({owner}) if owner else frozenset())
        if decision.owner is None:
            conn.execute(update(h.handoffs).where(h.handoffs.c.id == handoff.id).values(status="queued"))
        repo.update_leads(conn, [lead], now)
        desk.notice("sla.escalated", lead, now, sla=sla, owner=decision.owner, reason=action,
                    escalated_to=decision.owner, recipients=desk.people(decision.owner))
    elif action == "return_to_marketing":
        if lead.stage in SALES_STAGES:
            move_lead(conn, app, lead, Transition.REJECT, Stage.LEAD, actor=f"rule:sla.{timer.policy_id}",
                      reason="sla_breached", now=now, desk=desk)
        desk.notice("sla.escalated", lead, now, sla=sla, owner=owner, reason=action, escalated_to="marketing")
    return f"{ESCALATION}:{action}"


def _plan_escalation(conn: Connection, desk: HandoffDesk, timer: Any, owner: str | None) -> None:
    """The ladder after a breach: its steps become timers now (the same sweep fires those already due)."""
    policy = next((p for p in desk.rules.handoff.policies.values() if p.id == timer.policy_id), None)
    if policy is None or not policy.escalation:
        return
    rep = desk.directory.reps.get(owner) if owner else None
    steps = escalation_timers(policy, timer.deadline, timer.due_at, rep.calendar if rep else None)
    conn.execute(insert(h.sla_timers), [
        {"handoff_id": timer.handoff_id, "lead_id": timer.lead_id, "policy_id": timer.policy_id,
         "deadline": step.deadline, "step": step.step, "step_index": step.index, "action": step.action,
         "due_at": timer.due_at, "fire_at": step.fire_at}
        for step in steps
    ])


def _only(people: dict[str, str], role: str) -> dict[str, str]:
    return {role: people[role]} if role in people else {}


def assign_queued(app: App, now: datetime, report: SweepReport) -> None:
    """Give waiting leads to reps who can now take them, oldest first."""
    c = h.handoffs.c
    with transaction(app.engine) as conn:
        queued = _claim(conn, select(h.handoffs).where(c.status == "queued").order_by(c.opened_at, c.id))
        if not queued:
            return
        desk = HandoffDesk(conn, app, now)
        leads = repo.load_leads_for_routing(conn, sorted({row.lead_id for row in queued}))
        previous = _last_candidates(conn, [row.id for row in queued])
        changed = []
        for row in queued:
            lead = leads[row.lead_id]
            # The SLA clock starts when someone gets the lead, not when it started waiting.
            decision = desk.assign(row.id, lead, row.kind, row.to_function, now, actor="rule:routing.queue",
                                   fresh=True, defer=True, unless_queued_as=previous.get(row.id))
            if decision.owner is None:
                report.still_queued += 1
            else:
                report.assigned += 1
                changed.append(lead)
        _set_owners(conn, changed, now)
        desk.flush()


def _last_candidates(conn: Connection, handoff_ids: list[int]) -> dict[int, Any]:
    """The candidates of each handoff's latest routing decision (to store a still-queued one only when it changed)."""
    d = h.routing_decisions.c
    out: dict[int, Any] = {}
    for part in repo.chunks(handoff_ids):
        latest = select(func.max(d.id)).where(d.handoff_id.in_(part)).group_by(d.handoff_id)
        out.update(conn.execute(select(d.handoff_id, d.candidates).where(d.id.in_(latest))).all())
    return out


def _set_owners(conn: Connection, leads: list, now: datetime) -> None:
    """Store the new owners: only the owner changed, so one UPDATE per owner, not a full row per lead."""
    by_owner: dict[str, list[int]] = {}
    for lead in leads:
        by_owner.setdefault(lead.owner, []).append(lead.id)
        lead.version += 1
    c = t.leads.c
    for owner, ids in by_owner.items():
        for part in repo.chunks(ids):
            conn.execute(update(t.leads).where(c.id.in_(part))
                         .values(owner=owner, version=c.version + 1, updated_at=now))


def detect_stale(app: App, now: datetime, report: SweepReport) -> None:
    """Leads sales holds with no touch for too long: alert, and recycle when the playbook says so."""
    rules = app.playbook.rules.handoff
    if rules.stale_after is None:
        return
    c = h.handoffs.c
    cutoff = now - rules.stale_after
    last = func.coalesce(c.last_touch_at, c.accepted_at, c.assigned_at)
    with transaction(app.engine) as conn:
        rows = _claim(conn, select(h.handoffs).where(c.status == "open", c.stale_alerted_at.is_(None), last < cutoff)
                      .order_by(c.id))
        if not rows:
            return
        desk = HandoffDesk(conn, app, now)
        leads = repo.load_leads(conn, sorted({row.lead_id for row in rows}), for_update=True)
        for row in rows:
            lead = leads[row.lead_id]
            conn.execute(update(h.handoffs).where(c.id == row.id).values(stale_alerted_at=now))
            desk.notice("lead.stale", lead, now, owner=row.owner, reason=f"no touch for {rules.stale_after.days} days",
                        recipients=desk.people(row.owner))
            report.stale += 1
            if rules.stale_recycle and lead.stage in SALES_STAGES and not has_open_deal(conn, lead.id):
                move_lead(conn, app, lead, Transition.RECYCLE, Stage.LEAD, actor="rule:stale",
                          reason=rules.stale_reason, now=now, desk=desk)
        desk.flush()
