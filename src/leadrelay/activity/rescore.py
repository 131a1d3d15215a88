"""Rescoring: replay every stored activity through the current playbook after it changes.

Scores are rebuilt exactly (they depend only on activities and rules). Stages are then
judged at `now` against the new rules: entry criteria that hold move leads forward,
disqualifiers that hold disqualify, and leads a rule had disqualified are reopened when
none holds. Hand-raiser triggers apply to activities as they arrive, not in a rescore.
Every move has the consequences of any other: a new MQL is handed to sales (routed,
timed, suppressed, announced), a disqualified lead leaves its owner and its queue.

Leads are rescored in transactions of `LEADS_PER_TRANSACTION` (`rescore_batch`). On
PostgreSQL the batches run in parallel worker processes, one per core unless told
(`rescore_workers`); SQLite has one writer, so there they run one after another.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from leadrelay.activity import rescore_store as store
from leadrelay.activity.rescore_batch import Batch, rescore_batch
from leadrelay.activity.rescore_workers import LEADS_PER_TRANSACTION, can_fork, partitions, rescore_partitions
from leadrelay.activity.service import record_playbook
from leadrelay.core.app import App
from leadrelay.core.gc import collector_paused
from leadrelay.storage.unit_of_work import UnitOfWork

Progress = Callable[[int, int], None]  # (leads, activities) rescored since the last call


@dataclass
class RescoreReport:
    leads: int = 0
    activities: int = 0
    stage_changed: int = 0
    moves: Counter = field(default_factory=Counter)  # to-stage -> count
    playbook_version: str = ""
    handoffs_opened: int = 0
    processes: int = 1  # worker processes that rescored (not in `as_dict`: the outcome does not depend on it)

    def as_dict(self) -> dict:
        return {"leads": self.leads, "activities": self.activities, "stage_changed": self.stage_changed,
                "moves": dict(sorted(self.moves.items())), "handoffs_opened": self.handoffs_opened,
                "playbook_version": self.playbook_version}

    def add(self, batch: Batch) -> None:
        self.leads += batch.leads
        self.activities += batch.activities
        self.stage_changed += batch.stage_changed
        self.moves.update(batch.moves)
        self.handoffs_opened += batch.handoffs_opened


def count_rescorable(app: App) -> int:
    with app.engine.connect() as conn:
        return store.count(conn)


def default_processes(app: App) -> int:
    """One worker process per core on PostgreSQL; one process on SQLite (one writer at a time)."""
    if app.engine.dialect.name != "postgresql" or not can_fork():
        return 1
    return os.cpu_count() or 1


def rescore(app: App, *, now: datetime | None = None, on_progress: Progress | None = None,
            processes: int | None = None) -> RescoreReport:
    """Rebuild every lead's scores from its activities and re-judge its stage at `now`, in `processes` worker
    processes on PostgreSQL (`default_processes` when None; always one on SQLite)."""
    now = now or app.clock()
    rules = app.playbook.rules
    report = RescoreReport(playbook_version=rules.version)
    wanted = default_processes(app) if processes is None else processes
    parts = partitions(app) if wanted > 1 and default_processes(app) > 1 else []
    if len(parts) < 2:
        _rescore_in_order(app, now, report, on_progress)
        return report
    with UnitOfWork(app, now) as uow:
        record_playbook(uow.conn, app.playbook, now)
        uow.commit()
    report.processes = min(wanted, len(parts))

    def done(batch: Batch) -> None:
        report.add(batch)
        if on_progress:
            on_progress(*batch.seen)

    deferred = rescore_partitions(app, parts, now, report.processes, done)
    _rescore_in_order(app, now, report, None, only=deferred)  # the moves, in lead id order
    return report


def _rescore_in_order(app: App, now: datetime, report: RescoreReport, on_progress: Progress | None,
                      only: list[int] | None = None) -> None:
    """Rescore the leads (or `only` these, of those still to judge again) in transactions, in id order."""
    rules = app.playbook.rules
    last_id, position = 0, 0
    while True:
        with collector_paused(), UnitOfWork(app, now) as uow:
            conn = uow.conn
            if only is None:
                ids = store.next_ids(conn, last_id, LEADS_PER_TRANSACTION)
            else:
                ids = store.among(conn, only[position:position + LEADS_PER_TRANSACTION])
                position += LEADS_PER_TRANSACTION
            if not ids and (only is None or position >= len(only)):
                break
            last_id = ids[-1] if ids else last_id
            record_playbook(conn, app.playbook, now)
            batch = rescore_batch(uow, ids, rules, now)
            uow.commit()
        report.add(batch)
        if on_progress:
            on_progress(*batch.seen)
