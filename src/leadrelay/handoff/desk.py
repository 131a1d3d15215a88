"""The handoff: what a stage move between teams sets off, inside the same transaction.

A move into a stage another team owns opens a handoff, routes it to a rep (or queues it),
plans its SLA timers, suppresses marketing email while sales owns the lead, and writes
the notices. A move back to marketing (recycle, reject, an escalation) closes it and lifts
the suppression; so does a won deal (a customer is marketing's to talk to again). Every
routing decision is stored with its candidates, and every decision as a domain event.

The state rules live in the pure `Handoff` aggregate (`handoff/model.py`); this desk
loads and stores handoffs, routes, plans timers and buffers what one transaction writes.

`quiet=True` is for loading history (a file of old events, a CSV import): everything is
recorded at its historical time, and nobody is told (`silenced` counts what was not sent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from leadrelay.core.app import App
from leadrelay.core.events import DomainEvent
from leadrelay.core.time import utc_iso
from leadrelay.delivery.notices import Notice
from leadrelay.handoff.events import (
    HandoffClosed,
    HandoffOpened,
    LeadAssigned,
    LeadQueued,
    Suppressed,
    SuppressionLifted,
)
from leadrelay.handoff.meeting_store import move_credit
from leadrelay.handoff.model import MARKETING, Handoff, HandoffOutcome, HandoffStatus, handoff_need
from leadrelay.handoff.routing import Decision, Directory, Load, Router
from leadrelay.handoff.rows import DUE_COLUMNS, handoff_values
from leadrelay.handoff.sla import CLOCKS, FOLLOW_UP, plan, restart
from leadrelay.handoff.store import HandoffStore, SqlHandoffStore, handoff_store
from leadrelay.lead.activities import Activity
from leadrelay.lead.alerts import AlertFired
from leadrelay.lead.engine import activity_fields
from leadrelay.lead.events import AlertRaised, StageChanged
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage
from leadrelay.storage.api_tables import api_tokens
from leadrelay.storage.unit_of_work import UnitOfWork

PEOPLE_KEYS = ("owner", "escalated_to", "previous_owner", "host")
REP_KEYS = ("owner", "previous_owner", "host")  # always a rep: an id becomes a Person, known to the playbook or not
HANDED_BACK = "rule:playbook.reps"  # the actor of a hand-back: the playbook no longer names the lead's owner
LATER = object()  # `assign(unless_queued_as=LATER)`: see there
_NOBODY: dict[str, str] = {}  # no rep excluded (never changed)


class HandoffDesk:
    """One transaction's view of handoffs: the directory, rep loads, and what to write and send."""

    def __init__(self, store: HandoffStore, app: App, now: datetime, *, quiet: bool = False):
        self.store, self.app, self.now = store, app, now
        self.quiet = quiet
        self.rules = app.playbook.rules
        self.version = app.playbook.version
        self._directory: Directory | None = None
        self._router: Router | None = None
        self._candidate_rows: dict[str | None, tuple[list, list[dict]]] = {}  # team -> its last candidates, stored
        self._loads: dict[str, Load] | None = None
        self._load_day: dict[str, str] = {}  # rep -> the local day `Load.today` counts
        self._synced_at: datetime | None = None
        self._days: dict[tuple[str, datetime], str] = {}  # (rep, moment) -> the rep's local day then
        self._isos: dict[datetime, str] = {}
        # account owners by account id and by domain, as far as looked up (`account_owner`)
        self._owners: tuple[dict[int, str], dict[str, str]] = ({}, {})
        self._owners_of: tuple[set[int], set[str]] = (set(), set())  # what was looked up
        self._decisions: list[dict] = []
        self._counts: Counter = Counter()  # (rep, day) -> assignments to add to the counters
        self._timers: dict[tuple, list[tuple[int, int]]] = {}  # plan key -> (handoff, lead) getting its timers
        self._updates: list[dict] = []
        self._plans: dict[tuple, tuple] = {}  # (policy, start, owner) -> plan: a queue assigned at once shares them
        self._events: list[tuple[DomainEvent, bool]] = []
        self._written_events = 0
        self.notices: list[Notice] = []
        self.silenced = 0  # notices recorded but not sent (loaded history, steps a later step overtook)
        self.opened = 0  # handoffs opened
        self._returns: dict[tuple[int, str], dict[str, Any]] = {}  # (lead id, actor) -> the engine's return
        self._actor_words: dict[str, str] = {}  # actor -> who they are in words (`actor_words`)
        self._teams: dict[str, tuple[str, ...]] = {}  # team -> its reps' addresses (`_team_emails`)

    @property
    def conn(self) -> Connection:
        """The SQL store's connection, for callers with SQL of their own (the sales signals)."""
        return cast(SqlHandoffStore, self.store).conn  # an in-memory store has none: asking for it fails loudly

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = self.store.directory(self.app)
            self._router = Router(self._directory)
        return self._directory

    @property
    def loads(self) -> dict[str, Load]:
        if self._loads is None:
            self._loads = self.store.loads(self.directory)
        return self._loads

    def loads_at(self, at: datetime) -> dict[str, Load]:
        """Rep loads with `today` counting the assignments of each rep's local day of `at`."""
        if at == self._synced_at and self._loads is not None:
            return self._loads
        days = {rep.id: _local_day(rep, at) for rep in self.directory.reps.values()}
        if self._loads is None:  # read with the day's counters: one statement, not two (none assigned here yet)
            self._loads = self.store.loads(self.directory, days)
            self._load_day.update(days)
        loads = self._loads
        stale = {rep: day for rep, day in days.items() if self._load_day.get(rep) != day}
        if stale:
            counts = self.store.daily_counts(stale)
            for rep, day in stale.items():
                loads.setdefault(rep, Load()).today = counts.get((rep, day), 0) + self._counts[(rep, day)]
                self._load_day[rep] = day
        self._synced_at = at
        return loads

    # --- stage moves -------------------------------------------------------------------

    def on_stage_changes(self, changes: Sequence[StageChange]) -> None:
        """Open, close or retarget handoffs for stage moves already stored."""
        if not changes:
            return
        current = self.open_handoffs([_stored_id(c.lead) for c in changes])
        for change in changes:
            lead = change.lead
            assert lead.id is not None  # stored with its move
            self.record(StageChanged(
                at=change.at, lead_id=lead.id, cause=change.actor, from_stage=_value(change.from_stage),
                to_stage=change.to_stage.value, transition=change.transition.value, reason=change.reason))
            need = handoff_need(change, self.rules.stage_owners)
            handoff = current.get(lead.id)
            if change.to_stage is Stage.MQL:
                self.notice("lead.mql", lead, change.at, actor=change.actor, reason=change.reason,
                            why=change.reason, trigger=_trigger(change))
            if need.close and handoff is not None:
                self.close(handoff, need.close, change.reason, change.at, cause=change.actor)
                del current[lead.id]
                handoff = None
            if need.close is HandoffOutcome.DISQUALIFIED:
                previous_owner, lead.owner = lead.owner, None
                self.lift_sales_suppressions(lead.id, "disqualified", change.at)
                self.notice("lead.disqualified", lead, change.at, actor=change.actor, reason=change.reason,
                            why=f"disqualified: {change.reason} (by {self.actor_words(change.actor)})",
                            trigger=_trigger(change), previous_owner=previous_owner,
                            recipients=self.people(previous_owner))
            if change.to_stage is Stage.CUSTOMER:
                # A customer is marketing's to talk to again: its channels reopen.
                self.lift_sales_suppressions(lead.id, "customer", change.at)
            if need.kind is None:
                continue
            if need.to_function == MARKETING:
                self.return_to_marketing(lead, change, need)
            elif not any(team.function == need.to_function for team in self.rules.handoff.directory.teams.values()):
                continue  # no team serves that function (a playbook without customer success): nobody to hand to
            elif handoff is not None and handoff.to_function == need.to_function:
                self.retarget(handoff, lead, need.kind, change)
            else:
                current[lead.id] = self.open(lead, need.kind, need.from_function, need.to_function, change.at,
                                             cause=change.actor, why=change.reason, trigger=_trigger(change),
                                             suppress=change.to_stage is not Stage.CUSTOMER)

    def on_alerts(self, fired: Sequence[AlertFired]) -> None:
        """Log each alert that fired and tell the people and channels its rule names."""
        for alert in fired:
            rule, lead = alert.rule, alert.lead
            activity = getattr(alert.activity, "message_id", None)
            self.record(AlertRaised(at=alert.at, lead_id=lead.id, cause=f"rule:alert.{rule.id}", alert=rule.id,
                                    why=alert.why))
            self.notice("alert.fired", lead, alert.at, recipients=self.people(lead.owner), channels=rule.channels,
                        emails=rule.email, why=alert.why, owner=lead.owner,
                        alert={"id": rule.id, "description": rule.description, "rearm": rule.rearm_text},
                        trigger={"rule": f"alert.{rule.id}", "reason": alert.why, "activity": activity})

    def open_handoffs(self, lead_ids: Iterable[int]) -> dict[int, Handoff]:
        return self.store.open_handoffs(lead_ids)

    def open(self, lead: Lead, kind: str, from_function: str, to_function: str, at: datetime, *,
             owner: str | None = None, actor: str = "rule:routing", suppress: bool = True,
             why: str | None = None, cause: str | None = None, trigger: dict | None = None) -> Handoff:
        """A new handoff to another team, routed at once when someone can take it.

        `owner` gives it to that rep instead of routing (an expansion goes to the account
        owner); `suppress=False` leaves marketing's channels open (a customer stays in them).
        """
        assert lead.id is not None  # handoffs are for stored leads
        handoff = Handoff(id=self.store.new_handoff_id(), lead_id=lead.id, kind=kind,
                          from_function=from_function, to_function=to_function, opened_at=at,
                          quiet_until=self.now if self.quiet else None)
        self.store.insert_handoff(handoff, self.version)
        self.opened += 1
        self.record(HandoffOpened(at=at, lead_id=lead.id, handoff_id=handoff.id, cause=cause or actor, kind=kind,
                                  from_function=from_function, to_function=to_function))
        if suppress:
            self.suppress_for_sales(lead.id, handoff.id, at)
        self.notice("lead.handoff_opened", lead, at, function=to_function, kind=kind, why=why,
                    trigger=trigger or {"rule": cause or actor, "reason": why})
        self.assign(handoff, lead, at, actor=actor, owner=owner, why=why)
        return handoff

    def assign(self, handoff: Handoff, lead: Lead, at: datetime, *, actor: str,
               exclude: frozenset[str] = frozenset(), owner: str | None = None, clocks: str = "fresh",
               defer: bool = False, unless_queued_as: Any = None, why: str | None = None,
               quiet: bool = False, because: str | None = None) -> Decision:
        """Route at `at` (or give to `owner`), store the decision, and start or keep the SLA clocks.

        `clocks`: "fresh" plans the policy's deadlines from `at` (a handoff's first owner),
        "restart" cancels the pending ones first (a person reassigned it), "keep" leaves them
        (an SLA step reassigned it: the new owner takes over the clock and its remaining steps),
        "resume" starts only the clocks a `restart_clock` step stopped while nobody could take it.
        Reps in `exclude` and the handoff's excluded reps are never picked. `defer` buffers the
        writes for `write_pending()` (bulk assignment of a queue). `unless_queued_as`: the
        candidates of the last decision; a lead still queued for the same reasons stores nothing.
        `unless_queued_as=LATER`: a lead still queued stores nothing now; the caller compares
        and calls `record_still_queued` (a queue loads the last candidates of those only).
        `because`: why the lead is routed again, stored before routing's own reason (decision and event).
        """
        assert lead.id is not None  # handoffs are for stored leads
        directory = self.directory
        loads = self.loads_at(at)
        previous = handoff.owner if handoff.status.owned else None
        avoid = {rep: "missed this lead's SLA before" for rep in handoff.excluded} | \
            {rep: "current owner" for rep in exclude} if handoff.excluded or exclude else _NOBODY
        if owner is not None:
            rep = directory.reps[owner]
            decision = Decision("manual", rep.team, owner, f"assigned by {self.actor_words(actor)}")
        else:
            assert self._router is not None  # made with the directory
            decision = self._router.route(lead.lead_fields(lead.scoring.engagement), handoff.to_function, loads, at,
                                          account_owner=self.account_owner(lead), exclude=avoid)
        if decision.owner is None and unless_queued_as is LATER:
            return decision
        candidates = self._stored_candidates(decision)
        if decision.owner is None and unless_queued_as is not None and candidates == unless_queued_as:
            return decision  # still waiting, for the same reasons: nothing new to record
        reason = f"{because}: {decision.reason}" if because else decision.reason
        self._decisions.append({
            "lead_id": lead.id, "handoff_id": handoff.id, "at": at, "rule_id": decision.rule,
            "team": decision.team, "owner": decision.owner, "reason": reason,
            "candidates": candidates, "actor": actor, "playbook_version": self.version})
        if previous is not None and previous in loads:
            loads[previous].open = max(loads[previous].open - 1, 0)
        if decision.owner is None:
            handoff.queue(decision.team)
            values: dict[str, Any] = {"status": handoff.status.value, "team": decision.team, "owner": None}
            self.record(LeadQueued(at=at, lead_id=lead.id, handoff_id=handoff.id, cause=actor, team=decision.team,
                                   reason=reason, previous_owner=previous), quiet=quiet)
        else:
            self._count_assignment(decision.owner, at)
            handoff.assign(decision.owner, decision.team, at)
            values = {"status": handoff.status.value, "team": decision.team, "owner": decision.owner,
                      "assigned_at": at}
            if clocks == "restart":
                self.cancel_timers(handoff.id, None, "reassigned")
            if clocks in ("fresh", "restart"):
                values |= self.schedule(handoff, decision.owner, at)
            elif clocks == "resume":
                stopped = self.stopped_clocks(handoff)
                for clock in stopped:  # the steps left from before the queue give way to the fresh ladder
                    self.cancel_timers(handoff.id, clock, "restarted for the new owner", from_index=0)
                values |= self.schedule(handoff, decision.owner, at, only=stopped)
            if clocks == "restart" and handoff.follow_up_from is not None and handoff.follow_up_met_at is None:
                values |= self.start_follow_up(handoff, max(at, handoff.follow_up_from), defer=True)  # a no-show's
            if previous is not None and previous != decision.owner:
                self._move_meeting_credit(lead.id, previous, decision.owner, at, actor)
            self.record(LeadAssigned(at=at, lead_id=lead.id, handoff_id=handoff.id, cause=actor,
                                     owner=decision.owner, team=decision.team, rule=decision.rule,
                                     reason=reason, previous_owner=previous), quiet=quiet)
            self.notice("lead.assigned", lead, at, owner=decision.owner, team=decision.team,
                        reason=reason, why=why or reason, handoff=handoff, previous_owner=previous,
                        recipients=self.people(decision.owner), quiet=quiet)
        lead.owner = decision.owner
        self._updates.append(values | {"b_id": handoff.id})
        if not defer:
            self.write_pending()
        return decision

    def record_still_queued(self, handoff: Handoff, lead: Lead, decision: Decision, at: datetime, *, actor: str,
                            unless_queued_as: Any) -> bool:
        """Store the decision to keep a lead waiting, unless its candidates are those of the last one."""
        candidates = self._stored_candidates(decision)
        if candidates == unless_queued_as:
            return False
        self._decisions.append({
            "lead_id": lead.id, "handoff_id": handoff.id, "at": at, "rule_id": decision.rule,
            "team": decision.team, "owner": None, "reason": decision.reason,
            "candidates": candidates, "actor": actor, "playbook_version": self.version})
        unchanged = handoff.status is HandoffStatus.QUEUED and handoff.team == decision.team
        handoff.queue(decision.team)
        self.record(LeadQueued(at=at, lead_id=lead.id, handoff_id=handoff.id, cause=actor, team=decision.team,
                               reason=decision.reason))
        if not unchanged:  # a lead waiting in the same team's queue: its row already says so
            self._updates.append({"status": handoff.status.value, "team": decision.team, "owner": None,
                                  "b_id": handoff.id})
        return True

    def _stored_candidates(self, decision: Decision) -> list[dict]:
        """A decision's candidates as stored: [{"rep", "skipped"}, ...]. Decisions routed alike share one
        list (`routing.Router`), and so share what is stored of it; nothing changes either afterwards."""
        last = self._candidate_rows.get(decision.team)
        if last is not None and last[0] is decision.candidates:
            return last[1]
        rows = [{"rep": c.rep, "skipped": c.skipped} for c in decision.candidates]
        self._candidate_rows[decision.team] = (decision.candidates, rows)
        return rows

    def hand_back(self, handoff: Handoff, lead: Lead, at: datetime, *, why: str) -> Decision:
        """The lead's owner is no longer a rep of the playbook: routing gives it to someone else, or it waits
        in the queue; `why` is stored with the decision and the event. The deadlines were the old owner's: a new
        owner gets fresh ones (as after a person's reassignment), a lead that waits gets them from whoever takes
        it from the queue. The caller stores the lead (its owner changed)."""
        decision = self.assign(handoff, lead, at, actor=HANDED_BACK, clocks="restart", why=why, because=why,
                               defer=True)
        if decision.owner is None:
            self.cancel_timers(handoff.id, None, why)
            handoff.due = {}
            self.save(handoff, *DUE_COLUMNS.values())
        self.write_pending()
        return decision

    def credit(self, rep_id: str | None, n: int) -> None:
        """Round-robin credit outside an assignment: a booked meeting (n > 0), or one taken back (n < 0)."""
        if not n or rep_id is None or rep_id not in self.directory.reps:
            return
        load = self.loads.setdefault(rep_id, Load())
        load.total += n
        self._counts[(rep_id, "")] += n

    def _move_meeting_credit(self, lead_id: int, previous: str, new: str, at: datetime, actor: str) -> None:
        """A reassigned lead's meetings still to come credit the new owner, when the playbook says so."""
        credit = self.rules.handoff.meetings.credit
        if credit.booked and credit.reassigned == "move":
            moved = move_credit(self.conn, lead_id, previous, new, at, actor=actor)
            self.credit(previous, -moved)
            self.credit(new, moved)

    def start_follow_up(self, handoff: Handoff, at: datetime, *, defer: bool = False) -> dict[str, Any]:
        """Start (or restart, for a new owner) the follow-up clock of a meeting no-show: its deadline and timers.

        Returns the handoff's columns to write (written now unless `defer`)."""
        policy = self.rules.handoff.policies.get(handoff.kind)
        if policy is None or policy.follow_up is None or policy.id != handoff.policy_id or handoff.owner is None:
            return {}
        self.cancel_timers(handoff.id, FOLLOW_UP, "restarted", from_index=0)
        self.cancel_timers(handoff.id, FOLLOW_UP, "restarted")
        due, timers = restart(policy, FOLLOW_UP, at, self.directory.reps[handoff.owner].calendar)
        handoff.due[FOLLOW_UP] = due
        self.store.insert_timers(policy.id, {FOLLOW_UP: due}, timers, [(handoff.id, handoff.lead_id)])
        values = {DUE_COLUMNS[FOLLOW_UP]: due}
        if not defer:
            self._updates.append(values | {"b_id": handoff.id})
        return values

    def _count_assignment(self, rep_id: str, at: datetime) -> None:
        load = self.loads.setdefault(rep_id, Load())
        load.open, load.total = load.open + 1, load.total + 1
        key = (rep_id, at)
        day = self._days.get(key)
        if day is None:
            day = self._days[key] = _local_day(self.directory.reps[rep_id], at)
        if self._load_day.get(rep_id) == day:
            load.today += 1
        self._counts[(rep_id, day)] += 1
        self._counts[(rep_id, "")] += 1

    def write_pending(self) -> None:
        """Write buffered routing decisions, counters, timers and handoff updates in batches."""
        if self._decisions:
            self.store.insert_decisions(self._decisions)
        if self._counts:
            self.store.add_counts(self._counts)
        self._insert_timers()
        # One UPDATE ... WHERE id IN (...) per distinct set of values (a queue assigned at once: one per
        # owner) rather than one statement per handoff. Later updates of a handoff override earlier ones.
        latest: dict[int, dict] = {}
        for row in self._updates:
            latest[row["b_id"]] = latest.get(row["b_id"], {}) | row
        same: dict[tuple, list[int]] = {}
        for handoff_id, row in latest.items():  # rows made alike have their keys in one order: no need to sort
            key = tuple((k, _hashable(v)) for k, v in row.items() if k != "b_id")
            same.setdefault(key, []).append(handoff_id)
        for values, ids in same.items():
            row = latest[ids[0]]
            self.store.update_handoffs(ids, {k: row[k] for k, _ in values})
        self._decisions, self._timers, self._updates = [], {}, []
        self._counts = Counter()

    def save(self, handoff: Handoff, *columns: str) -> None:
        """Buffer the given columns of `handoff` for writing."""
        values = handoff_values(handoff)
        self._updates.append({column: values[column] for column in columns} | {"b_id": handoff.id})

    def _insert_timers(self) -> None:
        """The planned timers: handoffs sharing a plan (a queue assigned at once: one per owner) get
        them together."""
        for key, handoffs in self._timers.items():
            due, timers = self._plans[key]
            self.store.insert_timers(key[0], due, timers, handoffs)

    def account_owner(self, lead: Lead) -> str | None:
        """The rep who owns the lead's company (its account, or an account with its email domain)."""
        self.find_account_owners((lead,))
        by_account, by_domain = self._owners
        return (by_account.get(lead.account_id) if lead.account_id is not None else None) or \
            (by_domain.get(lead.company_domain) if lead.company_domain else None)

    def find_account_owners(self, leads: Iterable[Lead]) -> None:
        """Look up the owners of these leads' companies not looked up yet in this transaction: in one go for a
        queue assigned at once, else lead by lead as `account_owner` asks."""
        leads, (ids, domains) = list(leads), self._owners_of
        new_ids = {lead.account_id for lead in leads if lead.account_id is not None} - ids
        new_domains = {lead.company_domain for lead in leads if lead.company_domain} - domains
        if not new_ids and not new_domains:
            return
        by_account, by_domain = self.store.account_owners(new_ids, new_domains)
        self._owners[0].update(by_account)
        self._owners[1].update(by_domain)
        ids |= new_ids
        domains |= new_domains

    def stopped_clocks(self, handoff: Handoff) -> frozenset[str]:
        """The policy's clocks this handoff has no deadline for (a restart waiting for an owner)."""
        policy = self.rules.handoff.policies.get(handoff.kind)
        if policy is None or policy.id != handoff.policy_id:
            return frozenset()
        return frozenset(clock for clock in CLOCKS if policy.window(clock) is not None and clock not in handoff.due)

    def schedule(self, handoff: Handoff, owner: str, start: datetime,
                 only: frozenset[str] | None = None) -> dict[str, Any]:
        """Plan the policy's deadlines and timers from `start` on the owner's calendar (buffered);
        `only` those clocks, when given."""
        policy = self.rules.handoff.policies.get(handoff.kind)
        if policy is None:
            handoff.policy_id = None
            return {"policy_id": None}
        if only is not None and not only:
            return {}
        key = (policy.id, start, owner, only)
        if key not in self._plans:
            due, timers = plan(policy, start, self.directory.reps[owner].calendar)
            if only is not None:
                due = {clock: at for clock, at in due.items() if clock in only}
                timers = [timer for timer in timers if timer.deadline in only]
            self._plans[key] = (due, timers)
        due, _ = self._plans[key]
        self._timers.setdefault(key, []).append((handoff.id, handoff.lead_id))  # written by write_pending
        handoff.policy_id, handoff.due = policy.id, handoff.due | dict(due) if only else dict(due)
        handoff.touches_required = policy.touches[0] if policy.touches else None
        return {"policy_id": policy.id, "touches_required": handoff.touches_required} | \
            {DUE_COLUMNS[name]: at for name, at in due.items()}

    def retarget(self, handoff: Handoff, lead: Lead, kind: str, change: StageChange) -> None:
        """A hand-raiser on a lead sales already has: keep the owner, put it on the hand-raiser clock."""
        handoff.kind = kind
        values: dict[str, Any] = {"kind": kind}
        if handoff.owner is not None:
            self.cancel_timers(handoff.id, None, "hand-raiser clock")
            values |= self.schedule(handoff, handoff.owner, max(change.at, handoff.opened_at))
        self._updates.append(values | {"b_id": handoff.id})
        self.write_pending()
        self.notice("lead.handoff_opened", lead, change.at, function=handoff.to_function, team=handoff.team,
                    kind=kind,
                    reason="hand-raiser on a lead sales already had", why=change.reason, handoff=handoff,
                    trigger=_trigger(change),
                    recipients=self.people(handoff.owner))

    def close(self, handoff: Handoff, outcome: HandoffOutcome, reason: str | None, at: datetime, *,
              cause: str) -> None:
        owned_by = handoff.owner if handoff.status.owned else None
        closed_at = max(at, handoff.opened_at)
        handoff.close(outcome, reason, closed_at)
        self.save(handoff, "status", "outcome", "reason", "closed_at")
        self.write_pending()
        self.cancel_timers(handoff.id, None, f"handoff {outcome.value}")
        if owned_by is not None and owned_by in self.loads:
            self.loads[owned_by].open = max(self.loads[owned_by].open - 1, 0)
        self.record(HandoffClosed(at=closed_at, lead_id=handoff.lead_id, handoff_id=handoff.id, cause=cause,
                                  outcome=outcome.value, reason=reason, owner=handoff.owner))

    def merge(self, loser: Lead, survivor: Lead, at: datetime) -> None:
        """Two leads became one person: the lead merged away keeps no open handoff. If the survivor has none,
        the loser's goes over to it, owner, clocks and all; if both have one, the survivor's carries on and the
        loser's is closed as merged, which frees its rep's seat (a person is never handed over twice)."""
        assert loser.id is not None and survivor.id is not None  # both stored before merges are told
        opened = self.open_handoffs([loser.id, survivor.id])
        theirs = opened.get(loser.id)
        if theirs is None:
            return
        if survivor.id in opened:
            self.close(theirs, HandoffOutcome.MERGED, f"lead {loser.id} merged into lead {survivor.id}, whose "
                       f"handoff {opened[survivor.id].id} carries on", at, cause="rule:identity.merge")
        else:
            theirs.lead_id = survivor.id
            self.store.update_handoffs([theirs.id], {"lead_id": survivor.id})
            survivor.owner = theirs.owner if theirs.status.owned else None
        loser.owner = None

    def returning(self, lead_id: int, actor: str, *, returned_by: str, why: str, **data: Any) -> None:
        """`actor`'s next move of this lead back to marketing is the engine's, not a person's (an SLA ladder's
        `return_to_marketing`): announce it as `lead.returned`, with `why` and `data` (the SLA step), rather
        than as a rep's `lead.rejected`. Said just before making the move."""
        self._returns[(lead_id, actor)] = {"returned_by": returned_by, "why": why, **data}

    def return_to_marketing(self, lead: Lead, change: StageChange, need) -> None:
        """Recycle or reject: record the handoff back to marketing, lift what sales ownership imposed."""
        assert lead.id is not None and change.from_stage is not None  # a stored lead leaving a team's stage
        self.store.insert_handoff(Handoff(
            id=self.store.new_handoff_id(), lead_id=lead.id, kind=need.kind, from_function=need.from_function,
            to_function=MARKETING, opened_at=change.at, status=HandoffStatus.CLOSED, outcome=HandoffOutcome.RETURNED,
            reason=change.reason, closed_at=change.at), self.version)
        previous_owner, lead.owner = lead.owner, None
        self.lift_sales_suppressions(lead.id, need.kind, change.at)
        automatic = self._returns.pop((lead.id, change.actor), None)
        if automatic is not None:
            why = automatic.pop("why")
            self.notice("lead.returned", lead, change.at, actor=change.actor, reason=change.reason,
                        from_stage=change.from_stage.value, transition=change.transition.value,
                        why=f"returned to marketing: {why}", trigger=_trigger(change), previous_owner=previous_owner,
                        recipients=self.people(previous_owner), **automatic)
            return
        self.notice(f"lead.{'recycled' if need.kind == 'recycle' else 'rejected'}", lead, change.at,
                    actor=change.actor, reason=change.reason, from_stage=change.from_stage.value,
                    why=f"{'recycled to nurture' if need.kind == 'recycle' else 'returned to marketing'}: "
                        f"{change.reason} (by {self.actor_words(change.actor)})", trigger=_trigger(change),
                    previous_owner=previous_owner,
                    recipients=self.people(previous_owner))

    def cancel_timers(self, handoff_id: int, deadline: str | None, why: str, *, from_index: int | None = None) -> None:
        """Cancel pending timers (see `HandoffStore.cancel_timers`)."""
        self.store.cancel_timers(handoff_id, deadline, why, self.now, from_index=from_index)

    # --- suppression -------------------------------------------------------------------

    def suppress_for_sales(self, lead_id: int, handoff_id: int, at: datetime) -> None:
        channels = self.rules.handoff.suppress_while_sales
        active = self.active_suppressions(lead_id)
        rows = [{"lead_id": lead_id, "channel": channel, "reason": "owned by sales", "source": f"handoff:{handoff_id}",
                 "permanent": False, "created_at": at} for channel in channels if channel not in active]
        if rows:
            self.store.insert_suppressions(rows)
            for row in rows:
                self.record(Suppressed(at=at, lead_id=lead_id, handoff_id=handoff_id, cause=f"handoff:{handoff_id}",
                                       channel=row["channel"], reason=row["reason"], permanent=False))

    def lift_sales_suppressions(self, lead_id: int, why: str, at: datetime) -> None:
        lifted = self.store.lift_suppressions(lead_id, why, at)
        if lifted:
            self.record(SuppressionLifted(at=at, lead_id=lead_id, cause=f"handoff:{why}", channels=sorted(lifted),
                                          reason=why))

    def active_suppressions(self, lead_id: int) -> set[str]:
        return self.store.active_suppressions(lead_id)

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
            self.store.insert_suppressions(rows)
            for row in rows:
                self.record(Suppressed(at=row["created_at"], lead_id=row["lead_id"], cause=row["source"],
                                       channel=row["channel"], reason=row["reason"], permanent=True))

    # --- events and notices --------------------------------------------------------------

    def record(self, event: DomainEvent, *, quiet: bool = False) -> None:
        """Keep a domain event for the log (written with the rest of the transaction)."""
        self._events.append((event, quiet or (self.quiet and event.at <= self.now)))

    @property
    def event_count(self) -> int:
        """How many events this transaction recorded so far (a position for `quieten`)."""
        return self._written_events + len(self._events)

    def quieten(self, start: int, end: int) -> None:
        """Mark events `start` to `end` (positions from `event_count`) as recorded without telling anyone."""
        offset = self._written_events
        for index in range(max(start - offset, 0), max(end - offset, 0)):
            self._events[index] = (self._events[index][0], True)

    def withdraw_stale(self, lead_id: int, rep_id: str | None, why: str) -> None:
        """The lead is no longer `rep_id`'s: their emails about it still waiting to go out ("you have a new
        lead", "your deadline is near") are withdrawn. What happened to them (breaches) stays."""
        email = self.people(rep_id).get("owner")
        if isinstance(email, str) and email:
            self.store.withdraw_notices(lead_id, email, ("lead.assigned", "sla.warning"), why)

    def person(self, rep_id: str | None) -> dict[str, Any] | None:
        """A rep as notices name them: {"id", "name", "email"}; a rep the playbook no longer has keeps their id,
        with no name or email (a receiver still gets the one shape the schema promises)."""
        if rep_id is None:
            return None
        rep = self.rules.handoff.directory.reps.get(rep_id)
        return {"id": rep.id, "name": rep.name, "email": rep.email} if rep else {"id": rep_id, "name": None,
                                                                                  "email": None}

    def actor_words(self, actor: str) -> str:
        """Who an actor is, for text people read: `token:6` (how the API stores a manager's or an admin's token)
        becomes the person it belongs to, `Hank Oduya via token 6`: a manager token's team manager, a rep token's
        rep, else the token's label (`an admin via token 1` without one). Stored actors keep their form
        (`token:6`, `user:dana`, `rule:...`)."""
        kind, _, ident = actor.partition(":")
        if kind != "token" or not ident.isdigit():
            return actor
        words = self._actor_words.get(actor)
        if words is None:
            words = self._actor_words[actor] = self._token_holder(int(ident))
        return words

    def _token_holder(self, token_id: int) -> str:
        row = self.conn.execute(select(api_tokens.c.role, api_tokens.c.rep_id, api_tokens.c.team, api_tokens.c.label)
                                .where(api_tokens.c.id == token_id)).first()
        if row is None:
            return f"token:{token_id}"
        name = None
        if row.team is not None:
            team = next((t for t in self.app.playbook.model.teams if t.id == row.team), None)
            name = team.manager.name if team is not None and team.manager is not None else f"the {row.team} manager"
        elif row.rep_id is not None:
            rep = self.rules.handoff.directory.reps.get(row.rep_id)
            name = rep.name if rep is not None else row.rep_id
        if name is None:
            name = row.label or f"{'an' if row.role[0] in 'aeiou' else 'a'} {row.role}"
        return f"{name} via token {token_id}"

    def people(self, rep_id: str | None) -> dict[str, str | tuple[str, ...]]:
        """Who the roles an email rule names are for a lead this rep owns: owner, manager, team (its active reps)."""
        rep = self.directory.reps.get(rep_id) if rep_id else None
        if rep is None:
            return {}
        people: dict[str, str | tuple[str, ...]] = {"owner": rep.email, "team": self._team_emails(rep.team)}
        return people | ({"manager": rep.manager_email} if rep.manager_email else {})

    def _team_emails(self, team: str) -> tuple[str, ...]:
        """The addresses of a team's active reps not away now: worked out once per team and unit of work (every
        notice names its people; a queue assigned at once sends thousands)."""
        found = self._teams.get(team)
        if found is None:
            found = self._teams[team] = tuple(r.email for r in self.directory.reps.values()
                                              if r.team == team and r.active and r.email and not _away(r, self.now))
        return found

    def notice(self, event: str, lead: Lead, at: datetime, *, recipients: dict | None = None,
               handoff: Handoff | None = None, quiet: bool = False, channels: tuple[str, ...] | None = None,
               emails: tuple[str, ...] | None = None, **data: Any) -> None:
        """Tell people: who the lead is, what happened, and why (`why`: the trigger in words)."""
        if quiet or (self.quiet and at <= self.now):  # loaded history: what happened before the load is not news
            self.silenced += 1
            return
        data = {k: v for k, v in data.items() if v is not None}
        reps = self.rules.handoff.directory.reps
        for key in PEOPLE_KEYS:  # a rep id becomes {"id", "name", "email"}: one shape per key
            value = data.get(key)
            if isinstance(value, str) and (key in REP_KEYS or value in reps):  # escalated_to may be an address
                data[key] = self.person(value)
        data.setdefault("why", data.get("reason") or event)
        data["lead"] = lead_summary(lead)
        data.setdefault("fit", round(lead.scoring.fit, 1))
        data["scores"] = {"fit": round(lead.scoring.fit, 1), "engagement": round(lead.scoring.engagement, 1)}
        if handoff is not None:
            data["handoff"] = {"id": handoff.id, "kind": handoff.kind, "status": handoff.status.value,
                               "deadlines": {clock: self._iso(due) for clock, due in handoff.due.items()}}
        data["playbook_version"] = self.version
        self.notices.append(Notice(event, at, lead.id, data, recipients or {}, channels, emails))

    def _iso(self, moment: datetime) -> str:
        """`utc_iso`, remembered: a queue assigned at once shares a handful of deadlines."""
        text = self._isos.get(moment)
        if text is None:
            text = self._isos[moment] = utc_iso(moment)
        return text

    def flush(self) -> None:
        """Write what is buffered, the domain events into their log and the notices into the outbox."""
        self.write_pending()
        if self._events:
            self.store.insert_events([
                {"type": event.type, "at": event.at, "recorded_at": self.now, "lead_id": event.lead_id,
                 "handoff_id": event.handoff_id, "cause": event.cause, "data": event.data(), "quiet": quiet,
                 "playbook_version": self.version}
                for event, quiet in self._events])
            self._written_events += len(self._events)
            self._events = []
        if not self.notices:
            return
        self.store.enqueue(self.notices, self.app.playbook.model.notifications, self.now)
        self.notices = []


def lead_summary(lead: Lead) -> dict[str, Any]:
    """Who the lead is, for a notice: name, title, company, email, stage."""
    traits = lead.traits
    title, company = traits.get("title"), lead.account.get("name") or traits.get("company")
    if isinstance(company, dict):  # Segment's `company` trait may be an object: {"name": ..., ...}
        company = company.get("name")
    return {"id": lead.id, "email": lead.email, "name": _name(traits),
            "title": title if isinstance(title, str) else None,
            "company": company if isinstance(company, str) else None,
            "stage": lead.stage.value if lead.stage else None}


def _name(traits: dict) -> str | None:
    """The person's name from the traits: first and last name (snake or camel case), or `name`."""
    first = traits.get("first_name") or traits.get("firstName")
    last = traits.get("last_name") or traits.get("lastName")
    name = " ".join(p for p in (first, last) if isinstance(p, str) and p)
    if name:
        return name
    full = traits.get("name")
    return full if isinstance(full, str) else None


def _trigger(change: StageChange) -> dict[str, Any]:
    """What made a stage move: the rule or person, and the reason with the scores it read."""
    return {"rule": change.actor, "reason": change.reason, "transition": change.transition.value,
            "activity": getattr(change.activity, "message_id", None)}


def _stored_id(lead: Lead) -> int:
    """The id of a lead storage has given one (every lead a stage move or a handoff is about)."""
    assert lead.id is not None
    return lead.id


def _value(stage: Stage | None) -> str | None:
    return stage.value if stage else None


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _away(rep, at: datetime) -> bool:
    """Whether the rep is away (`reps away`) on their local day of `at`: their team's emails skip them."""
    return bool(rep.away) and rep.away_on(at.astimezone(ZoneInfo(rep.calendar.timezone)).date()) is not None


def _local_day(rep, at: datetime) -> str:
    return at.astimezone(ZoneInfo(rep.calendar.timezone)).date().isoformat()


def _open_desk(uow: UnitOfWork) -> HandoffDesk:
    return HandoffDesk(handoff_store(uow), uow.app, uow.now, quiet=uow.quiet)


def desk_of(uow: UnitOfWork) -> HandoffDesk:
    """The handoff desk of this unit of work: one per transaction, made on first use, flushed at commit."""
    return uow.part(_open_desk)
