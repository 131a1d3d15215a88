"""A fake unit of work: the handoff's logic on stores kept in memory, for fast tests to the second.

`FakeUnitOfWork` is the real `UnitOfWork` with no database: it `provide`s an in-memory
handoff store and lead writer where the SQL ones would be made, so the handoff desk, the
SLA clockwork, `move_lead` and the worker's `fire_timers` run unchanged. The memory store
keeps rows as the database does (the same row mappers turn them into Handoffs), and a unit
of work left without `commit()` puts everything back. Anything that still reads SQL fails
loudly: `conn` is not there.

`World` is a playbook, a clock and that memory, with the few verbs the tests need: a lead,
a stage move, a worker sweep.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from leadrelay.bootstrap import wire
from leadrelay.core.app import App
from leadrelay.delivery.notices import Notice
from leadrelay.handoff.model import OPEN_STATUSES, OWNED_STATUSES, Handoff
from leadrelay.handoff.routing import Directory, Load
from leadrelay.handoff.rows import COLUMNS, handoff_from_row, handoff_values
from leadrelay.handoff.sla import Timer
from leadrelay.handoff.store import sql_handoff_store
from leadrelay.lead.lifecycle import StageChange
from leadrelay.lead.model import Lead
from leadrelay.lead.service import move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.lead.store import sql_lead_writer
from leadrelay.playbook.loader import parse_playbook
from leadrelay.storage.unit_of_work import UnitOfWork
from leadrelay.worker import SweepReport, fire_timers
from tests.conftest import T0, Clock

OWNED_VALUES = set(OWNED_STATUSES)
OPEN_VALUES = set(OPEN_STATUSES)


class MemoryDb:
    """What the database would hold, as rows (dicts keyed by column) where the database has rows."""

    def __init__(self) -> None:
        self.handoffs: dict[int, dict] = {}
        self.timers: list[dict] = []
        self.decisions: list[dict] = []
        self.counts: Counter = Counter()  # (rep, day) -> assignments; day "" is all time
        self.suppressions: list[dict] = []
        self.events: list[dict] = []
        self.outbox: list[Notice] = []
        self.withdrawn: list[tuple] = []
        self.leads: dict[int, Lead] = {}
        self.stage_changes: list[StageChange] = []
        self.account_owners: tuple[dict[int, str], dict[str, str]] = ({}, {})
        self.next_id = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class MemoryHandoffStore:
    """`leadrelay.handoff.store.HandoffStore` in memory."""

    def __init__(self, db: MemoryDb):
        self.db = db

    def flush(self) -> None:
        """Written at once, like the SQL store."""

    # --- the reps as routing sees them
    def directory(self, app: App) -> Directory:
        return app.playbook.rules.handoff.directory

    def loads(self, directory: Directory, days: dict[str, str] | None = None) -> dict[str, Load]:
        loads = {rep: Load() for rep in directory.reps}
        for row in self.db.handoffs.values():
            if row["status"] in OWNED_VALUES and row["owner"] in loads:
                loads[row["owner"]].open += 1
        for (rep, day), count in self.db.counts.items():
            if day == "" and rep in loads:
                loads[rep].total = count
        for (rep, day), count in self.daily_counts(days or {}).items():
            if rep in loads:
                loads[rep].today = count
        return loads

    def daily_counts(self, days: dict[str, str]) -> dict[tuple[str, str], int]:
        return {(rep, day): self.db.counts[(rep, day)] for rep, day in days.items() if (rep, day) in self.db.counts}

    def add_counts(self, counts: Counter) -> None:
        self.db.counts.update(counts)

    def account_owners(self, account_ids, domains) -> tuple[dict[int, str], dict[str, str]]:
        by_account, by_domain = self.db.account_owners
        return ({k: v for k, v in by_account.items() if k in set(account_ids)},
                {k: v for k, v in by_domain.items() if k in set(domains)})

    # --- handoffs
    def open_handoffs(self, lead_ids: Iterable[int]) -> dict[int, Handoff]:
        wanted = set(lead_ids)
        return {row["lead_id"]: _handoff(row) for row in self.db.handoffs.values()
                if row["lead_id"] in wanted and row["status"] in OPEN_VALUES}

    def handoffs(self, ids: Iterable[int]) -> dict[int, Handoff]:
        return {i: _handoff(self.db.handoffs[i]) for i in ids}

    def new_handoff_id(self) -> int:
        return self.db.new_id()

    def insert_handoff(self, handoff: Handoff, version: str) -> None:
        self.db.handoffs[handoff.id] = {"id": handoff.id, "playbook_version": version, **handoff_values(handoff)}

    def update_handoffs(self, ids: Sequence[int], values: dict[str, Any]) -> None:
        for handoff_id in ids:
            self.db.handoffs[handoff_id].update(values)

    def insert_decisions(self, rows: list[dict]) -> None:
        self.db.decisions += copy.deepcopy(rows)

    # --- SLA timers
    def claim_due_timers(self, now: datetime, limit: int) -> list[Any]:
        due = [t for t in self.db.timers if t["fired_at"] is None and t["cancelled_at"] is None and t["fire_at"] <= now]
        return [SimpleNamespace(**t) for t in sorted(due, key=lambda t: (t["fire_at"], t["id"]))[:limit]]

    def insert_timers(self, policy_id: str, due: dict[str, datetime], timers: Sequence[Timer],
                      handoffs: Sequence[tuple[int, int]]) -> None:
        for timer in timers:
            for handoff_id, lead_id in sorted(handoffs):
                self._insert_timer({
                    "handoff_id": handoff_id, "lead_id": lead_id,
                    "policy_id": policy_id, "deadline": timer.deadline, "step": timer.step, "step_index": timer.index,
                    "action": timer.action, "due_at": due[timer.deadline], "fire_at": timer.fire_at,
                    "fired_at": None, "cancelled_at": None, "outcome": None})

    def _insert_timer(self, row: dict) -> None:
        self.db.timers.append({"id": self.db.new_id()} | row)

    def cancel_timers(self, handoff_id: int, deadline: str | None, why: str, now: datetime, *,
                      from_index: int | None = None) -> None:
        for t in self.db.timers:
            if t["handoff_id"] != handoff_id or t["fired_at"] is not None or t["cancelled_at"] is not None:
                continue
            if deadline is not None:
                if t["deadline"] != deadline:
                    continue
                if from_index is not None and not (t["step"] == "escalation" and t["step_index"] >= from_index):
                    continue
                if from_index is None and t["due_at"] < now:
                    continue
            t["cancelled_at"], t["outcome"] = now, why

    def ladder_started(self, handoff_id: int, clock: str) -> bool:
        return any(t["handoff_id"] == handoff_id and t["deadline"] == clock and t["step"] == "escalation"
                   for t in self.db.timers)

    def write_timers(self, outcomes: list[tuple[int, str, bool]], rows: list[dict], now: datetime) -> None:
        by_id = {t["id"]: t for t in self.db.timers}
        for timer_id, outcome, fired in outcomes:
            by_id[timer_id].update(cancelled_at=None if fired else now, fired_at=now if fired else None,
                                   outcome=outcome)
        for row in rows:
            self._insert_timer(dict(row))

    # --- suppressions
    def active_suppressions(self, lead_id: int) -> set[str]:
        return {s["channel"] for s in self.db.suppressions if s["lead_id"] == lead_id and s.get("lifted_at") is None}

    def insert_suppressions(self, rows: list[dict]) -> None:
        self.db.suppressions += [dict(row, lifted_at=None) for row in rows]

    def lift_suppressions(self, lead_id: int, why: str, now: datetime) -> list[str]:
        lifted = []
        for s in self.db.suppressions:
            if s["lead_id"] == lead_id and not s["permanent"] and s["lifted_at"] is None:
                s["lifted_at"], s["lifted_reason"] = now, why
                lifted.append(s["channel"])
        return lifted

    # --- the log and the outbox
    def insert_events(self, rows: list[dict]) -> None:
        self.db.events += copy.deepcopy(rows)

    def enqueue(self, notices: Sequence[Notice], notifications: Any, now: datetime) -> None:
        self.db.outbox += list(notices)

    def withdraw_notices(self, lead_id: int, email: str, event_types: tuple[str, ...], why: str) -> int:
        self.db.withdrawn.append((lead_id, email, event_types, why))  # the outbox here holds no delivery state
        return 0


class MemoryLeadWriter:
    """`leadrelay.lead.store.LeadWriter` in memory."""

    def __init__(self, db: MemoryDb):
        self.db = db

    def flush(self) -> None:
        """Written at once."""

    def load_for_update(self, lead_ids: Sequence[int]) -> dict[int, Lead]:
        return {i: copy.deepcopy(self.db.leads[i]) for i in lead_ids}

    def insert_stage_changes(self, changes: Sequence[StageChange], version: str | None) -> None:
        self.db.stage_changes += list(changes)

    def save(self, lead: Lead, now: datetime) -> None:
        lead.version += 1
        self.db.leads[lead.id] = copy.deepcopy(lead)

    def update(self, changed: Iterable[Lead], now: datetime) -> None:
        for lead in changed:
            self.save(lead, now)


class FakeUnitOfWork(UnitOfWork):
    """A unit of work on a `MemoryDb`: see the module docstring."""

    def __init__(self, db: MemoryDb, app: App, now: datetime | None = None, *, quiet: bool = False):
        super().__init__(app, now, quiet=quiet)
        self.db = db
        self.provide(sql_handoff_store, MemoryHandoffStore(db))
        self.provide(sql_lead_writer, MemoryLeadWriter(db))
        self._before: dict | None = None

    def __enter__(self) -> FakeUnitOfWork:
        self._before = copy.deepcopy(vars(self.db))
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed and self._before is not None:
            vars(self.db).update(self._before)  # rolled back: nothing it wrote is kept

    @property
    def conn(self):
        raise AssertionError("the fake unit of work has no database connection: this path still reads SQL")

    def commit(self) -> None:
        for part in list(self._parts.values()):
            part.flush()
        self.committed = True


class World:
    """A playbook, a clock and a `MemoryDb`: the handoff's logic with nothing else around it."""

    def __init__(self, playbook_text: str, now: datetime = T0):
        self.db = MemoryDb()
        self.clock = Clock(now)
        self.app = App(engine=None, playbook=parse_playbook(playbook_text, "world.yaml"), settings=None,
                       clock=self.clock)
        wire(self.app.bus)

    def unit_of_work(self, app: App | None = None, now: datetime | None = None, *,
                     quiet: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.db, app or self.app, now or self.clock(), quiet=quiet)

    def lead(self, email: str, *, stage: Stage = Stage.LEAD, **traits: Any) -> Lead:
        lead = Lead(id=self.db.new_id(), email=email, company_domain=email.split("@")[1], stage=stage,
                    furthest_stage=stage, traits={"email": email, **traits})
        self.db.leads[lead.id] = lead
        return copy.deepcopy(lead)

    def move(self, lead_id: int, kind: Transition, target: Stage, at: datetime, *, quiet: bool = False,
             actor: str = "rule:test", reason: str = "test") -> StageChange:
        """Move a lead at `at` as `move_lead` does, in its own unit of work (at the clock's now: with
        `quiet`, history loaded now)."""
        with self.unit_of_work(now=self.clock(), quiet=quiet) as uow:
            lead = copy.deepcopy(self.db.leads[lead_id])
            change = move_lead(uow, lead, kind, target, actor=actor, reason=reason, now=at)
            uow.commit()
        return change

    def sweep(self, now: datetime) -> SweepReport:
        """The worker's SLA sweep at `now` (the queue and delivery are the database tests')."""
        self.clock.now = now
        report = SweepReport()
        fire_timers(self.app, now, report, unit_of_work=self.unit_of_work)
        return report

    # --- reading what happened
    def handoffs(self, lead_id: int) -> list[Handoff]:
        return [_handoff(row) for row in self.db.handoffs.values() if row["lead_id"] == lead_id]

    def events(self, *types: str) -> list[dict]:
        return [e for e in self.db.events if not types or e["type"] in types]

    def sent(self, *types: str) -> list[Notice]:
        return [n for n in self.db.outbox if not types or n.type in types]


def _handoff(row: dict) -> Handoff:
    return handoff_from_row(tuple(row.get(column) for column in COLUMNS))
