"""The worker: fires SLA timers that came due, assigns queued leads, catches stale ones, delivers the outbox.

Every step takes `now` as an argument and is idempotent: sweeping twice at the same
moment does nothing the second time, and a worker that was down catches up on whatever
came due while it was away. On PostgreSQL several workers share the work: due timers are
claimed with FOR UPDATE SKIP LOCKED, assignment takes the routing lock.

A running worker (`run`) delivers the outbox apart from its sweeps, in threads of its own
(`delivery.courier.Courier`): a receiver taking seconds per request must not make an
SLA timer late. Both are woken by the commits that leave work due now (`storage.wake`: in
this process, and by LISTEN/NOTIFY on PostgreSQL) and look every interval besides. One
sweep (`sweep`, `worker --once`) still does everything in order, delivery last, so that
tests and `--now` see one deterministic pass. Either way the worker runs the playbook
version activated last (`playbook.follow`), checked before each sweep every few seconds.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from leadrelay.core.app import App
from leadrelay.core.gc import collector_paused
from leadrelay.core.time import said_at, utc_iso
from leadrelay.delivery.courier import Courier
from leadrelay.delivery.dispatcher import deliver_due
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.clocks import SALES_STAGES, Clockwork, Due
from leadrelay.handoff.desk import LATER, desk_of
from leadrelay.handoff.events import HandoffStale
from leadrelay.handoff.model import OWNED, HandoffStatus
from leadrelay.handoff.rows import handoff_from_row
from leadrelay.handoff.store import handoff_store
from leadrelay.lead import store as repo
from leadrelay.lead.service import move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.playbook.follow import Follower, runs_active_version
from leadrelay.predict.service import keep_up
from leadrelay.privacy.retention import apply_retention
from leadrelay.reports.catalog import refresh_rollups
from leadrelay.sales.store import has_open_deal
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage import wake
from leadrelay.storage.unit_of_work import UnitOfWork

log = logging.getLogger("leadrelay.worker")
TIMERS_PER_TRANSACTION = 200
ROLLUPS_EVERY = 10.0  # seconds of real time between counts of changed leads into the report rollups
OWNED_STATUSES = [status.value for status in OWNED]


@dataclass
class SweepReport:
    timers: Counter = field(default_factory=Counter)  # "breach", "escalation:reassign", "met", ...
    handed_back: int = 0  # open leads of reps the playbook no longer names, routed again
    assigned: int = 0
    still_queued: int = 0
    stale: int = 0
    followups: int = 0  # absence timers fired (followup.due)
    silenced: int = 0  # notices recorded but not sent (loaded history, steps a later step overtook)
    delivered: dict[str, int] = field(default_factory=dict)
    report_leads: int = 0  # leads counted again into the report rollups
    predictions: dict[str, Any] = field(default_factory=dict)  # retrained (version), scored (leads), skipped (why)

    def summary(self) -> str:
        """One line for people: what fired, what was assigned, what was sent."""
        timers = ", ".join(f"{n} {kind}" for kind, n in sorted(self.timers.items())) or "none"
        sent = ", ".join(f"{n} {what}" for what, n in sorted(self.delivered.items()) if n) or "nothing"
        line = (f"timers: {timers}; "
                + (f"handed back {self.handed_back} leads of reps no longer in the playbook; " if self.handed_back
                   else "")
                + f"assigned {self.assigned}, still queued {self.still_queued}, stale {self.stale}, "
                f"follow-ups due {self.followups}; "
                f"{self.silenced} notices recorded without sending; delivered: {sent}")
        predicted = self.predictions
        if predicted.get("retrained"):
            line += f"; trained model version {predicted['retrained']}"
        if predicted.get("scored"):
            line += f"; {predicted['scored']} leads scored by the model"
        if predicted.get("skipped"):
            line += f"; predictive score: {predicted['skipped']}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"timers": dict(sorted(self.timers.items())), "handed_back": self.handed_back, "assigned": self.assigned,
                "still_queued": self.still_queued, "stale": self.stale, "followups": self.followups,
                "silenced": self.silenced,
                "delivered": self.delivered, "report_leads": self.report_leads, "predictions": self.predictions}


def sweep(app: App, now: datetime, *, deliver: bool = True) -> SweepReport:
    """One pass of everything the worker does, as of `now`: the leads of reps the playbook no longer names, timers,
    the queue, stale leads, follow-ups, then (with `deliver`) the outbox messages due, waiting for every endpoint."""
    report = SweepReport()
    hand_back_departed(app, now, report)  # first: a removed rep's timers must not fire for them
    fire_timers(app, now, report)
    assign_queued(app, now, report)
    detect_stale(app, now, report)
    fire_followups(app, now, report)
    if deliver:
        report.delivered = deliver_due(app.engine, app.settings, app.playbook.model.notifications, now).as_dict()
    return report


def run(app: App, *, interval: float = 1.0, once: bool = False, clock: Callable[[], datetime] | None = None,
        on_sweep: Callable[[SweepReport], None] | None = None, stop: threading.Event | None = None) -> None:
    """Sweep every `interval` seconds until Ctrl-C or SIGTERM, or `stop` is set (or once).

    A commit that leaves work for the sweeps or the outbox wakes them at once (`storage.wake`:
    a commit in this process, a NOTIFY from any process on PostgreSQL); the interval is the
    fallback, and what it takes for a timer to come due.

    Before each sweep, at most every `follow.RECHECK_SECONDS`, the worker switches to the
    playbook version activated meanwhile (a database error while checking is logged, and
    the sweep runs on the rules it has); each sweep runs on one version throughout. Without
    `once`, the outbox is delivered apart from the sweeps (`Courier`), looking every
    `interval` seconds too, and each sweep's report counts what was delivered since the last.

    A stop signal lets the sweep in progress finish, and each endpoint's send in flight;
    messages claimed but not yet sent are handed back (or, if the process dies first, sent by
    any worker after their lease, with the same webhook-id). Interrupting a query instead
    would surface as a database error. A database error in one sweep (a deadlock, a lost
    connection) is logged and the next sweep tries again: everything a sweep does is
    idempotent, and what it left undone is still due. With `once`, the error is raised.
    Every `ROLLUPS_EVERY` seconds (and with `once`) a sweep also counts the leads that
    changed into the reports' rollups, so that the next report has little left to count, and
    keeps the predictive score up (`predict.service.keep_up`): a retrain when one is due, and
    the leads the active model has not scored as they stand; and it applies the retention
    settings (`privacy.retention`: old raw context and rejected messages).
    """
    clock = clock or app.clock
    stop = threading.Event() if stop is None else stop
    follower = Follower(app)
    counted_at = -ROLLUPS_EVERY
    with _stop_on_signals(stop), _delivering(app, follower, clock, stop, interval, once) as courier, \
            _woken(app, stop, once) as bell:
        while not stop.is_set():
            try:
                follower.follow()
                current = replace(app)  # this sweep's version, whatever the courier switches to meanwhile
                report = sweep(current, clock(), deliver=once)
                if courier is not None:
                    report.delivered = courier.take_report().as_dict()
                if once or time.monotonic() - counted_at >= ROLLUPS_EVERY:
                    report.report_leads, counted_at = refresh_rollups(current), time.monotonic()
                    report.predictions = keep_up(current, clock())
                    apply_retention(current, clock())  # the retention settings (privacy.retention); logs what it did
            except DBAPIError as exc:
                if once:
                    raise
                log.warning("sweep failed, retrying in %.2fs: %s", interval, str(exc.orig or exc).splitlines()[0])
            else:
                if on_sweep:
                    on_sweep(report)
                if once:
                    return
            bell.wait(interval)
            bell.clear()  # before the sweep: a commit during it rings again


@contextmanager
def _delivering(app: App, follower: Follower, clock: Callable[[], datetime], stop: threading.Event,
                interval: float, once: bool) -> Iterator[Courier | None]:
    """The courier's thread, for as long as the worker runs (none with `once`: the sweep delivers).

    On the way out it is asked to stop and waited for; an error that stopped it is raised here.
    """
    if once:
        yield None
        return
    courier = Courier(app.engine, app.settings, lambda: app.playbook.model.notifications, clock=clock,
                      refresh=lambda: follower.follow(every=0), idle=interval)
    failure: list[BaseException] = []

    def deliver() -> None:
        try:
            courier.run(stop)
        except BaseException as exc:  # raised in the worker's thread below, as a failed sweep's would be
            failure.append(exc)
            stop.set()

    thread = threading.Thread(target=deliver, name="outbox-courier", daemon=True)
    thread.start()
    try:
        yield courier
    finally:
        stop.set()
        courier.wake()
        thread.join()
    if failure:
        raise failure[0]


@contextmanager
def _woken(app: App, stop: threading.Event, once: bool) -> Iterator[threading.Event]:
    """What the sweeps wait on between two: set by a commit that leaves work for them (`storage.wake`) and by
    `stop` (a thread waits for it, so that a stop does not wait out the interval)."""
    bell = threading.Event()
    if once:
        yield bell
        return

    def ring_on_stop() -> None:
        stop.wait()
        bell.set()

    threading.Thread(target=ring_on_stop, name="worker-stop", daemon=True).start()
    with wake.listening(app.engine, wake.SWEEP, bell):
        yield bell


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


def hand_back_departed(app: App, now: datetime, report: SweepReport) -> None:
    """Leads held by reps the playbook no longer names (removed by the version activated last) go back to routing:
    reassigned, or queued, with the reason stored (`handoff.service.hand_back_departed`).

    Only a worker running the active version does it: one still on the version before (it checks every few
    seconds) would take a rep the new version added for one removed. The active version is read in the
    same transaction, and on PostgreSQL held (FOR SHARE) until it ends, so no activation lands in between.
    """
    with UnitOfWork(app, now) as uow:
        if not runs_active_version(uow.conn, app.playbook.version):
            return
        handed_back = rep_actions.hand_back_departed(uow)
        if handed_back:
            report.handed_back += handed_back
            report.silenced += desk_of(uow).silenced
            uow.commit()


def fire_timers(app: App, now: datetime, report: SweepReport, *,
                unit_of_work: Callable[..., UnitOfWork] = UnitOfWork) -> None:
    """Warn, breach and escalate: every pending timer whose moment has come, each handoff's in order.

    A handoff's due steps are applied together (`Clockwork`), each at its own due time, so
    catching up never alerts anyone about a lead that a later step already moved.
    `unit_of_work`: tests pass a fake one, with the stores in memory.
    """
    while True:
        with unit_of_work(app, now) as uow:
            store, writer = handoff_store(uow), repo.lead_writer(uow)
            timers = store.claim_due_timers(now, TIMERS_PER_TRANSACTION)
            if not timers:
                return
            by_handoff: dict[int, list[Due]] = {}
            for timer in timers:
                by_handoff.setdefault(timer.handoff_id, []).append(Due.stored(timer))
            handoffs = store.handoffs(by_handoff)
            leads = writer.load_for_update(sorted({x.lead_id for x in handoffs.values()}))
            changed = []
            for handoff_id, due in by_handoff.items():
                handoff = handoffs[handoff_id]
                clockwork = Clockwork(uow, handoff, leads[handoff.lead_id])
                for step in clockwork.run(due):
                    assert step.outcome is not None  # `run` gives every step one
                    report.timers[_outcome_key(step.outcome)] += 1
                if clockwork.lead_changed and leads[handoff.lead_id] not in changed:
                    changed.append(leads[handoff.lead_id])
            writer.update(changed, now)
            report.silenced += desk_of(uow).silenced
            uow.commit()


def _outcome_key(outcome: str) -> str:
    """`skipped: handoff closed` -> `skipped`; `breach (caught up: ...)` -> `breach`."""
    key = outcome.split(" (")[0]
    return key.split(":")[0] if key.startswith("skipped") else key


def assign_queued(app: App, now: datetime, report: SweepReport) -> None:
    """Give waiting leads to reps who can now take them, oldest first.

    A queue is assigned in one go: the queue, its leads and the reps' loads are read once, and
    the decisions, timers, outbox rows and owners are written in a handful of batched statements
    (see `handoff.desk`). The garbage collector waits until it is done: the burst makes many small
    objects and no cycles, and they are gone by the time it resumes, so it has nothing to trace.
    """
    with UnitOfWork(app, now) as uow, collector_paused():
        if _assign_queue(uow, now, report):
            uow.commit()


def _assign_queue(uow: UnitOfWork, now: datetime, report: SweepReport) -> bool:
    """Route every queued handoff, buffering what it decided in the desk; False when none waits."""
    c = h.handoffs.c
    conn, desk = uow.conn, desk_of(uow)
    queued = _claim(conn, select(h.handoffs).where(c.status == HandoffStatus.QUEUED.value)
                    .order_by(c.opened_at, c.id))
    if not queued:
        return False
    leads = repo.load_leads_for_routing(conn, sorted({row.lead_id for row in queued}))
    desk.find_account_owners(leads.values())  # one read for the queue, not one per lead
    since = _waiting_since(conn, [row for row in queued if row.assigned_at is not None])
    changed, waiting = [], []
    for row in queued:
        lead, handoff = leads[row.lead_id], handoff_from_row(row)
        # The SLA clock starts when someone gets the lead, not when it started waiting; a lead an
        # SLA step queued keeps its clocks and their remaining steps (a clock the step restarts
        # starts now).
        decision = desk.assign(handoff, lead, now, actor="rule:routing.queue",
                               clocks="resume" if handoff.assigned_at else "fresh", defer=True,
                               unless_queued_as=LATER, because=f"from the queue (waiting since "
                                                               f"{said_at(since.get(row.id, row.opened_at))})")
        if decision.owner is None:
            report.still_queued += 1
            waiting.append((handoff, lead, decision))
        else:
            report.assigned += 1
            changed.append(lead)
    # Still waiting: store a decision only when the reasons changed (the last ones are read for these only).
    previous = _last_candidates(conn, [handoff.id for handoff, _, _ in waiting if handoff.id is not None])
    for handoff, lead, decision in waiting:
        assert handoff.id is not None  # read from its row
        desk.record_still_queued(handoff, lead, decision, now, actor="rule:routing.queue",
                                 unless_queued_as=previous.get(handoff.id))
    _set_owners(conn, changed, now)
    return True


def _waiting_since(conn: Connection, rows: list) -> dict[int, datetime]:
    """When each of these queued handoffs, owned before (an SLA step or a departed rep queued them), started
    waiting: its first decision without an owner after its last one with an owner. A handoff never owned has
    waited since it opened (the caller's default), so only the few owned before are read (by the index on
    the decisions' handoff: the history of other handoffs is never scanned)."""
    d = h.routing_decisions.c
    out: dict[int, datetime] = {}
    for part in repo.chunks([row.id for row in rows]):
        for handoff_id, at, owner in conn.execute(select(d.handoff_id, d.at, d.owner).where(d.handoff_id.in_(part))
                                                  .order_by(d.handoff_id, d.at, d.id)):
            if owner is not None:
                out.pop(handoff_id, None)
            else:
                out.setdefault(handoff_id, at)
    return out


def _last_candidates(conn: Connection, handoff_ids: list[int]) -> dict[int, Any]:
    """The candidates of each handoff's latest routing decision (to store a still-queued one only when it changed).

    Found by the index on (handoff, id): the latest decision of each, whatever the history holds."""
    d = h.routing_decisions.c
    out: dict[int, Any] = {}
    for part in repo.chunks(handoff_ids):
        latest = select(func.max(d.id)).where(d.handoff_id.in_(part)).group_by(d.handoff_id)
        out.update(conn.execute(select(d.handoff_id, d.candidates).where(d.id.in_(latest))).tuples().all())
    return out


def _set_owners(conn: Connection, leads: list, now: datetime) -> None:
    """Store the new owners: only the owner changed, so one UPDATE per owner (and chunk of ids), not a row per
    lead; the ids go as one parameter (SQLAlchemy does not look at each)."""
    by_owner: dict[str, list[int]] = {}
    for lead in leads:
        by_owner.setdefault(lead.owner, []).append(lead.id)
        lead.version += 1
    c = t.leads.c
    for owner, ids in by_owner.items():
        statement = update(t.leads).where(c.id.in_(bindparam("ids", expanding=True))) \
            .values(owner=owner, version=c.version + 1, updated_at=now)
        for part in repo.chunks(ids):
            conn.execute(statement, {"ids": list(part)})


def fire_followups(app: App, now: datetime, report: SweepReport) -> None:
    """The absence timers that came due and nothing cancelled: `followup.due` to the follow-up's channels, once.

    Claimed with the lead rows' transaction (SKIP LOCKED on PostgreSQL), marked fired in it, so
    two workers never send one twice and a restart sends what was left. A timer whose
    follow-up the playbook no longer has is dropped.
    """
    rules = {rule.id: rule for rule in app.playbook.rules.followups}
    f = t.followup_timers.c
    while True:
        with UnitOfWork(app, now) as uow:
            conn = uow.conn
            rows = _claim(conn, select(t.followup_timers).where(f.status == "pending", f.due_at <= now)
                          .order_by(f.due_at, f.id).limit(TIMERS_PER_TRANSACTION))
            if not rows:
                return
            desk = desk_of(uow)
            leads = repo.load_leads(conn, sorted({row.lead_id for row in rows}))
            for row in rows:
                rule, lead = rules.get(row.followup), leads[row.lead_id]
                # a lead disqualified since (by a person: the engine cancels the waits of those it disqualifies)
                status = "dropped" if rule is None else "cancelled" if lead.stage is Stage.DISQUALIFIED else "fired"
                conn.execute(update(t.followup_timers).where(f.id == row.id).values(status=status, closed_at=now))
                if rule is None or status != "fired":
                    continue
                why = f"{rule.id}: {rule.description or 'nothing followed'} (no answer within {rule.within_text})"
                desk.notice("followup.due", lead, row.due_at, recipients=desk.people(lead.owner), why=why,
                            channels=rule.channels, owner=lead.owner, started_by=row.data,
                            suppressed=sorted(desk.store.active_suppressions(row.lead_id)),
                            followup={"id": rule.id, "description": rule.description, "within": rule.within_text,
                                      "started_at": utc_iso(row.started_at)},
                            trigger={"rule": f"followup.{rule.id}", "reason": why, "activity": row.activity})
                report.followups += 1
            uow.commit()


def detect_stale(app: App, now: datetime, report: SweepReport) -> None:
    """Leads sales holds with no touch for too long: alert, and recycle when the playbook says so.

    A lead with a meeting booked lately or still to come is not stale: the meeting is the next step.

    A lead that went stale inside loaded history is marked, and nothing is sent or recycled.
    """
    rules = app.playbook.rules.handoff
    if rules.stale_after is None:
        return
    c = h.handoffs.c
    cutoff = now - rules.stale_after
    last = func.coalesce(c.last_touch_at, c.accepted_at, c.assigned_at)
    with UnitOfWork(app, now) as uow:
        conn = uow.conn
        m = h.meetings.c
        meeting_ahead = exists().where(m.lead_id == c.lead_id, m.status == "booked",
                                       or_(m.booked_at >= cutoff, m.starts_at >= cutoff))
        rows = _claim(conn, select(h.handoffs, last.label("last_seen")).where(
            c.status.in_(OWNED_STATUSES), c.stale_alerted_at.is_(None), last < cutoff, ~meeting_ahead).order_by(c.id))
        if not rows:
            return
        desk = desk_of(uow)
        leads = repo.load_leads(conn, sorted({row.lead_id for row in rows}), for_update=True)
        for row in rows:
            lead, handoff = leads[row.lead_id], handoff_from_row(row)
            # Dated when the lead went stale, as an SLA step is dated at its own due time: a sweep at 05:00
            # records a lead that fell due at 04:46:32 at 04:46:32 (never before the lead's last stage move).
            stale_at = row.last_seen + rules.stale_after
            if lead.stage_changed_at is not None and stale_at < lead.stage_changed_at:
                stale_at = lead.stage_changed_at
            quiet = handoff.quiet_at(stale_at)
            conn.execute(update(h.handoffs).where(c.id == row.id).values(stale_alerted_at=now))
            desk.notice("lead.stale", lead, stale_at, owner=row.owner, quiet=quiet,
                        reason=f"no touch for {rules.stale_after.days} days",
                        why=f"no touch since {said_at(row.last_seen)}", recipients=desk.people(row.owner))
            report.stale += 1
            recycle = not quiet and rules.stale_recycle and lead.stage in SALES_STAGES \
                and not has_open_deal(conn, handoff.lead_id)
            desk.record(HandoffStale(at=stale_at, lead_id=lead.id, handoff_id=row.id,
                                     cause="rule:stale", owner=row.owner, last_touch_at=row.last_seen,
                                     recycled=bool(recycle)), quiet=quiet)
            if recycle:
                move_lead(uow, lead, Transition.RECYCLE, Stage.LEAD, actor="rule:stale",
                          reason=rules.stale_reason, now=stale_at)
        report.silenced += desk.silenced
        uow.commit()
