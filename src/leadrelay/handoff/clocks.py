"""Firing one handoff's due SLA steps — warnings, breaches and its clocks' escalation ladders — in order.

Each step is applied at its own due time (`fire_at`), not at the moment the worker gets
to it, so a worker catching up after downtime records what would have happened when it
should have. Nobody hears about a step that a later step, also due, overtook: when a
reassign or a return to marketing follows, the notices of the steps before it are
recorded as not sent (the rep who got the lead at 10:15 does not get an email at 11:00
about a lead that went back to marketing at 10:35).

Deadlines inside loaded history (`Handoff.quiet_until`) are recorded as breached, and
nothing is sent or escalated for them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadrelay.core.time import said_at, utc_iso
from leadrelay.handoff.desk import HandoffDesk, desk_of
from leadrelay.handoff.events import Escalated, SlaBreached, SlaWarned
from leadrelay.handoff.model import Handoff, HandoffOutcome, HandoffStatus
from leadrelay.handoff.rows import DUE_COLUMNS
from leadrelay.handoff.sla import (
    BREACH,
    ESCALATION,
    NOTIFY_MANAGER,
    NOTIFY_REP,
    REASSIGN,
    RETURN_TO_MARKETING,
    WARNING,
    Fired,
    Policy,
    Timer,
    escalation_timers,
    not_news,
    restart,
)
from leadrelay.lead.model import Lead
from leadrelay.lead.service import move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.storage.unit_of_work import UnitOfWork

SALES_STAGES = {Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY}
SHARED_CLOCKS = frozenset({"accept", "first_touch"})


@dataclass
class Due:
    """A timer to fire: a stored row (`id`), or a step planned during this sweep (`id` None)."""

    deadline: str
    step: str
    index: int
    action: str | None
    due_at: datetime
    fire_at: datetime
    policy_id: str
    id: int | None = None
    outcome: str | None = None
    moved: bool = False  # it took the lead from its owner (reassigned, queued, returned)
    notices: tuple[int, int] = (0, 0)  # the range of desk.notices it wrote
    events: tuple[int, int] = (0, 0)  # the range of desk events it recorded
    generation: int = 0  # bumped for a clock when its remaining steps are re-planned
    new_owner: str | None = None  # the rep a reassign gave the lead to

    @classmethod
    def stored(cls, row: Any) -> Due:
        return cls(row.deadline, row.step, row.step_index, row.action, row.due_at, row.fire_at, row.policy_id, row.id)

    @classmethod
    def planned(cls, timer: Timer, due_at: datetime, policy_id: str) -> Due:
        return cls(timer.deadline, timer.step, timer.index, timer.action, due_at, timer.fire_at, policy_id)


@dataclass
class Clockwork:
    """Applies the due steps of one handoff, then writes what became of each."""

    uow: UnitOfWork
    handoff: Handoff
    lead: Lead
    later: list[Due] = field(default_factory=list)  # steps planned now, due after `now`
    done: list[Due] = field(default_factory=list)
    lead_changed: bool = False
    reassigned_at: set = field(default_factory=set)  # moments an SLA step reassigned the lead in this run
    generation: dict[str, int] = field(default_factory=dict)  # clock -> current plan of its remaining steps

    @property
    def desk(self) -> HandoffDesk:
        return desk_of(self.uow)

    @property
    def now(self) -> datetime:
        return self.uow.now

    @property
    def policy(self) -> Policy | None:
        return next((p for p in self.desk.rules.handoff.policies.values() if p.id == self.handoff.policy_id), None)

    def run(self, due: list[Due]) -> list[Due]:
        """Fire `due` (and the steps they plan that are due too), oldest first; return them with outcomes."""
        first_notice = len(self.desk.notices)
        heap = [(d.fire_at, n, d) for n, d in enumerate(due)]
        heapq.heapify(heap)
        order = len(heap)
        while heap:
            _, _, step = heapq.heappop(heap)
            start, first_event = len(self.desk.notices), self.desk.event_count
            planned: list[Due] = []
            if step.outcome is None:  # a step planned as skipped (loaded history) is only written
                step.outcome, planned = self.fire(step)
            step.notices = (start, len(self.desk.notices))
            step.events = (first_event, self.desk.event_count)
            self.done.append(step)
            for new in planned:
                if new.fire_at <= self.now:
                    order += 1
                    heapq.heappush(heap, (new.fire_at, order, new))
                else:
                    self.later.append(new)
        self._hold_back_overtaken(first_notice)
        self._write()
        return self.done

    def fire(self, step: Due) -> tuple[str, list[Due]]:
        handoff, desk = self.handoff, self.desk
        if not handoff.status.is_open:
            return f"skipped: handoff {handoff.status.value}", []
        if step.step == ESCALATION and step.generation < self.generation.get(step.deadline, 0):
            return "skipped: re-planned for the new owner", []
        met_at = handoff.met_at(step.deadline)
        if met_at is not None and met_at <= step.due_at:
            return "met", []
        if met_at is not None and step.step != BREACH:
            return "skipped: met late", []  # the breach is recorded; warning or escalating it now would be noise
        at, owner = step.fire_at, handoff.owner
        quiet = handoff.quiet_at(at)
        sla: dict[str, Any] = {"policy": step.policy_id, "deadline": step.deadline, "due_at": utc_iso(step.due_at)}
        if step.step == ESCALATION:
            sla |= {"step": step.index, "action": step.action}
        if step.step == WARNING:
            desk.record(SlaWarned(at=at, lead_id=handoff.lead_id, handoff_id=handoff.id, cause=self.cause,
                                  clock=step.deadline, due_at=step.due_at, owner=owner), quiet=quiet)
            desk.notice("sla.warning", self.lead, at, sla=sla, owner=owner, handoff=handoff, quiet=quiet,
                        why=f"{_clock_name(step.deadline)} due {said_at(step.due_at)}",
                        recipients=_only(desk.people(owner), "owner"))
            return WARNING, []
        if step.step == BREACH:
            if owner is not None and handoff.status.owned:
                handoff.exclude(owner)  # whoever reassigns it later (a step or a person) passes this rep by
                desk.save(handoff, "excluded_reps")
            desk.record(SlaBreached(at=at, lead_id=handoff.lead_id, handoff_id=handoff.id, cause=self.cause,
                                    clock=step.deadline, due_at=step.due_at, owner=owner), quiet=quiet)
            desk.notice("sla.breached", self.lead, at, sla=sla, owner=owner, handoff=handoff, quiet=quiet,
                        why=f"{_clock_name(step.deadline)} missed (due {said_at(step.due_at)})",
                        recipients=desk.people(owner))
            ladder = self._ladder(step, after_index=0)
            if self._ladder_runs(step):
                return f"breach ({self._ladder_runs(step)})", []
            if quiet:
                # Loaded history: steps already past at load time are not escalated; later ones run.
                for rung in ladder:
                    if handoff.quiet_at(rung.fire_at):
                        rung.outcome = "skipped: loaded history, not escalated"
                return "breach (loaded history: recorded, nobody alerted)", ladder
            return BREACH, ladder
        return self.escalate(step, sla)

    @property
    def cause(self) -> str:
        return f"rule:sla.{self.handoff.policy_id}"

    def escalate(self, step: Due, sla: dict) -> tuple[str, list[Due]]:
        handoff, desk, policy = self.handoff, self.desk, self.policy
        at, owner, action = step.fire_at, handoff.owner, step.action
        rung = policy.rung(step.deadline, step.index) if policy else None
        why = f"{_clock_name(step.deadline)} missed (due {said_at(step.due_at)}): step {step.index}, {action}"
        planned: list[Due] = []
        if action == NOTIFY_REP:
            result = "notified the owner"
            desk.notice("sla.escalated", self.lead, at, sla=sla, owner=owner, escalated_to=desk.person(owner),
                        reason=action, why=why, handoff=handoff, recipients=_only(desk.people(owner), "owner"))
        elif action == NOTIFY_MANAGER:
            rep = desk.directory.reps.get(owner) if owner is not None else None
            result = "notified the manager"
            desk.notice("sla.escalated", self.lead, at, sla=sla, owner=owner, reason=action, why=why, handoff=handoff,
                        escalated_to=rep.manager_email if rep else None,
                        recipients=_only(desk.people(owner), "manager"))
        elif action == REASSIGN:
            result, planned = self.reassign(step, rung, sla, why)
        elif action == RETURN_TO_MARKETING:
            result = "returned to marketing"
            step.moved = True
            desk.withdraw_stale(handoff.lead_id, owner, "returned to marketing before it was sent")
            desk.write_pending()
            if self.lead.stage in SALES_STAGES:
                assert self.lead.id is not None  # read from its row
                desk.returning(self.lead.id, self.cause, returned_by="sla", why=why, sla=sla)  # not a rep's rejection
                move_lead(self.uow, self.lead, Transition.REJECT, Stage.LEAD, actor=self.cause,
                          reason="sla_breached", now=at)
                if handoff.id not in {x.id for x in desk.open_handoffs([handoff.lead_id]).values()}:
                    handoff.status = HandoffStatus.CLOSED  # the move closed it
            if handoff.status.is_open:
                desk.close(handoff, HandoffOutcome.REJECTED, "sla_breached", at, cause=self.cause)
            desk.notice("sla.escalated", self.lead, at, sla=sla, owner=owner, reason=action, why=why,
                        escalated_to="marketing", recipients=desk.people(owner))
        else:
            result = f"unknown action {action}"
        desk.record(Escalated(at=at, lead_id=handoff.lead_id, handoff_id=handoff.id, cause=self.cause,
                              clock=step.deadline, step=step.index, action=action or "", result=result, owner=owner))
        return f"{ESCALATION}:{action}" + ("" if result.startswith(("notified", "returned", "reassigned"))
                                          else f" ({result})"), planned

    def reassign(self, step: Due, rung, sla: dict, why: str) -> tuple[str, list[Due]]:
        handoff, desk, policy = self.handoff, self.desk, self.policy
        at, owner = step.fire_at, handoff.owner if handoff.status.owned else None
        cap = policy.max_reassignments if policy else None
        if cap is not None and handoff.reassignments >= cap:
            return f"skipped: reassignment cap reached ({handoff.reassignments} of {cap})", []
        if at in self.reassigned_at:  # one miss, one reassignment: another clock's ladder just did it
            return f"skipped: already reassigned at {said_at(at)}", []
        same_ok = bool(rung and rung.to_same_rep)
        if same_ok and owner in handoff.excluded:
            handoff.excluded = tuple(rep for rep in handoff.excluded if rep != owner)  # the step allows it
        decision = desk.assign(handoff, self.lead, at, actor=self.cause, clocks="keep",
                               exclude=frozenset() if same_ok or owner is None else frozenset({owner}),
                               why=why)
        if same_ok and decision.owner is None and owner is not None:
            decision = desk.assign(handoff, self.lead, at, actor=self.cause, clocks="keep", why=why)
        handoff.reassignments += 1
        self.reassigned_at.add(at)
        desk.save(handoff, "reassignments", "excluded_reps")
        self.lead_changed = True
        step.moved = decision.owner is not None and decision.owner != owner  # queued: the news still matters
        if decision.owner != owner:
            step.new_owner = decision.owner
            desk.withdraw_stale(handoff.lead_id, owner,
                                f"reassigned to {decision.owner or 'the queue'} before it was sent")
        planned: list[Due] = []
        if decision.owner is not None and policy is not None:
            calendar = desk.directory.reps[decision.owner].calendar
            if rung is not None and rung.restart_clock:
                for clock in self._restarting(step.deadline):  # a shared ladder restarts both response clocks
                    self._replan(clock)
                    desk.cancel_timers(handoff.id, clock, "skipped: re-planned for the new owner",
                                       from_index=step.index + 1 if clock == step.deadline else None)
                    due, timers = restart(policy, clock, at, calendar)
                    handoff.due[clock] = due
                    desk.save(handoff, DUE_COLUMNS[clock])
                    planned += [self._mark(Due.planned(t, due, policy.id)) for t in timers]
            elif policy.business and owner is not None and owner in desk.directory.reps \
                    and desk.directory.reps[owner].calendar != calendar:
                # The new owner takes over the remaining steps, on their own working hours.
                self._replan(step.deadline)
                desk.cancel_timers(handoff.id, step.deadline, "skipped: re-planned for the new owner",
                                   from_index=step.index + 1)
                planned = self._ladder(step, after_index=step.index, calendar=calendar)
        if decision.owner is None and rung is not None and rung.restart_clock:
            # The clock restarts for whoever takes the lead from the queue ("resume"); until then the
            # steps that remain still run, so a lead nobody can take still goes back to marketing.
            handoff.due.pop(step.deadline, None)
            desk.save(handoff, DUE_COLUMNS[step.deadline])
        desk.write_pending()
        queued_for = None
        if decision.owner is None:
            queued_for = decision.team or handoff.to_function
            result = f"queued for {queued_for}: nobody else can take it"
            # The notice says so too: owner and escalated_to are null, and "step 3, reassign" alone reads as if
            # someone had the lead now.
            team = f"team {decision.team}" if decision.team else f"the {handoff.to_function} queue"
            why = f"{why}: queued for {team}, nobody else could take it"
        else:
            result = f"reassigned to {decision.owner}"
        desk.notice("sla.escalated", self.lead, at, sla=sla, owner=decision.owner, reason=REASSIGN, why=why,
                    escalated_to=decision.owner, queued_for=queued_for, handoff=handoff, previous_owner=owner,
                    recipients=desk.people(decision.owner))
        return result, planned

    def _ladder(self, step: Due, *, after_index: int, calendar=None) -> list[Due]:
        """The clock's escalation steps after a breach (those after `after_index`)."""
        policy = self.policy
        if policy is None:
            return []
        if calendar is None:
            rep = self.desk.directory.reps.get(self.handoff.owner) if self.handoff.owner else None
            calendar = rep.calendar if rep else None
        return [self._mark(Due.planned(t, step.due_at, policy.id))
                for t in escalation_timers(policy, step.deadline, step.due_at, calendar, after_index=after_index)]

    def _restarting(self, clock: str) -> list[str]:
        """The clocks a restarting reassign on `clock` restarts: it, and with a shared ladder the other
        response clock when that one is not met yet."""
        policy, handoff = self.policy, self.handoff
        assert policy is not None  # only a reassign under the handoff's policy restarts clocks
        clocks = [clock]
        if policy.shared_ladder and clock in SHARED_CLOCKS:
            other = next(iter(SHARED_CLOCKS - {clock}))
            if policy.window(other) is not None and handoff.met_at(other) is None:
                clocks.append(other)
        return clocks

    def _replan(self, clock: str) -> None:
        """The clock's remaining steps are planned anew: those planned before will not fire."""
        self.generation[clock] = self.generation.get(clock, 0) + 1
        for step in self.later:
            if step.deadline == clock and step.step == ESCALATION and step.generation < self.generation[clock]:
                step.outcome = "skipped: re-planned for the new owner"

    def _mark(self, step: Due) -> Due:
        step.generation = self.generation.get(step.deadline, 0)
        return step

    def _ladder_runs(self, step: Due) -> str | None:
        """Why a breach starts no ladder: a list ladder is shared by the accept and first-touch clocks and
        runs once per handoff, so the second of them to breach joins the one already running."""
        policy = self.policy
        if policy is None or not policy.shared_ladder or step.deadline not in SHARED_CLOCKS:
            return None
        other = next(iter(SHARED_CLOCKS - {step.deadline}))
        if any(s.deadline == other and s.step == BREACH and s.outcome == BREACH for s in self.done) or \
                self.desk.store.ladder_started(self.handoff.id, other):
            return f"the ladder already runs for the {_clock_name(other)} clock"
        return None

    def _hold_back_overtaken(self, first_notice: int) -> None:
        """Unsend the notices of steps a later step (also due now) overtook by moving the lead,
        and warnings whose breach is due too; and tell nobody about a lead they never heard was theirs."""
        old = not_news([Fired(s.fire_at, s.step, s.deadline, s.action, s.moved) for s in self.done])
        drop: list[tuple[int, int]] = []
        for n, why in old.items():
            step = self.done[n]
            start, end = step.notices
            if end > start:
                drop.append((start, end))
                assert step.outcome is not None  # `run` gave every step it did one
                step.outcome += f" (caught up: not sent, {why})"
        for start, end in sorted(drop, reverse=True):
            del self.desk.notices[start:end]
            self.desk.silenced += end - start
        for step in self.done:
            if "not sent" in (step.outcome or ""):
                self.desk.quieten(*step.events)  # it happened; nobody was told
        # A rep whose assignment was not announced (a later step overtook it) hears nothing of what
        # happened to the lead after: the notices of the steps that remain skip them (managers still hear).
        unannounced = {self.desk.people(step.new_owner).get("owner") for step in self.done
                       if step.new_owner and "not sent" in (step.outcome or "")} - {None}
        if unannounced:
            notices = self.desk.notices
            for index in range(first_notice, len(notices)):
                if notices[index].recipients.get("owner") in unannounced:
                    notices[index] = replace(notices[index], recipients={  # nor their team through them
                        role: email for role, email in notices[index].recipients.items() if role == "manager"})

    def _write(self) -> None:
        outcomes: list[tuple[int, str, bool]] = []
        rows = []
        for step in self.done + self.later:
            skipped = step.outcome is not None and step.outcome.startswith(("met", "skipped"))
            if step.id is not None:
                assert step.outcome is not None  # a stored timer was run (the steps planned later are new)
                outcomes.append((step.id, step.outcome, not skipped))
                continue
            fired = step.outcome is not None and not skipped
            rows.append({"handoff_id": self.handoff.id, "lead_id": self.handoff.lead_id, "policy_id": step.policy_id,
                         "deadline": step.deadline, "step": step.step, "step_index": step.index,
                         "action": step.action, "due_at": step.due_at, "fire_at": step.fire_at,
                         "fired_at": self.now if fired else None, "cancelled_at": self.now if skipped else None,
                         "outcome": step.outcome})
        self.desk.store.write_timers(outcomes, rows, self.now)


def _only(people: dict[str, str | tuple[str, ...]], role: str) -> dict[str, str | tuple[str, ...]]:
    return {role: people[role]} if role in people else {}


def _clock_name(clock: str) -> str:
    return {"accept": "accept", "first_touch": "first touch", "touches": "touches",
            "follow_up": "no-show follow-up"}.get(clock, clock)
