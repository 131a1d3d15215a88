"""A rescore on PostgreSQL in parallel: the leads in partitions of ids, each rescored by one worker process.

The parent splits the leads to judge again into ranges of ids (`LEADS_PER_TRANSACTION`
each) and hands them out through a queue: every partition goes to exactly one worker, which
rescores it as one transaction, holding its leads' rows locked (`FOR UPDATE`) against any
other writer until it commits. The workers are forked from the parent (they share its
compiled playbook and its `now`) and open connections of their own: the parent closes its
idle ones first, so no connection is shared across processes.

A lead whose stage would move is left as it was by the worker and named back to the
parent (`rescore_batch(defer_moves=True)`): the parent moves those afterwards, in lead id
order, so routing (which takes turns and counts loads) assigns them as a rescore in one
process does, whichever worker was faster. Moves are few next to the leads rescored.

A worker that fails stops the rescore with its error: the partitions committed stay
rescored, and a rescore run again redoes everything (it is idempotent).
"""

from __future__ import annotations

import multiprocessing
import queue
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.activity import rescore_store as store
from leadrelay.activity.rescore_batch import Batch, rescore_batch
from leadrelay.core.app import App
from leadrelay.core.errors import LeadRelayError
from leadrelay.core.gc import collector_paused
from leadrelay.storage.unit_of_work import UnitOfWork

LEADS_PER_TRANSACTION = 500
POLL_SECONDS = 1.0  # how often the parent looks whether a worker died without a word


@dataclass
class _Failed:
    """A worker's error, as text (an exception may not survive pickling)."""

    detail: str


class RescoreWorkerFailed(LeadRelayError):
    """A worker process of a parallel rescore failed; what it committed stays, running rescore again finishes."""


def can_fork() -> bool:
    """Whether worker processes can be forked here (not on Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def partitions(app: App) -> list[tuple[int, int]]:
    """The leads to judge again, as ranges of ids of `LEADS_PER_TRANSACTION` leads each, in order."""
    with app.engine.connect() as conn:
        return store.partitions(conn, LEADS_PER_TRANSACTION)


def rescore_partitions(app: App, parts: list[tuple[int, int]], now: datetime, processes: int,
                       on_batch: Callable[[Batch], None]) -> list[int]:
    """Rescore every partition in `processes` worker processes; the ids of the leads left for a move, in order."""
    context = multiprocessing.get_context("fork")
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    for part in parts:
        tasks.put(part)
    for _ in range(processes):
        tasks.put(None)
    app.engine.dispose()  # the workers open their own connections; none of the parent's may be shared
    workers = [context.Process(target=_work, args=(app, now, tasks, results), daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    deferred: list[int] = []
    try:
        for _ in parts:
            message = _next(results, workers)
            if isinstance(message, _Failed):
                raise RescoreWorkerFailed(f"a rescore worker failed: {message.detail}")
            on_batch(message)
            deferred.extend(message.deferred)
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
    return sorted(deferred)


def _next(results: Any, workers: list[Any]) -> Batch | _Failed:
    """The next message of a worker; a failure when a worker process died without a word."""
    while True:
        try:
            return results.get(timeout=POLL_SECONDS)
        except queue.Empty:
            dead = [w for w in workers if not w.is_alive() and w.exitcode != 0]
            if dead:
                return _Failed(f"a worker process ended with exit code {dead[0].exitcode}")


def _work(app: App, now: datetime, tasks: Any, results: Any) -> None:
    """A worker: rescore partitions until the queue says stop; say each batch's result, or the error."""
    app.engine.dispose(close=False)  # nothing of the parent's pool (it was emptied before the fork)
    rules = app.playbook.rules
    try:
        while (part := tasks.get()) is not None:
            with collector_paused(), UnitOfWork(app, now) as uow:
                batch = rescore_batch(uow, store.ids_between(uow.conn, *part), rules, now, defer_moves=True)
                uow.commit()
            results.put(batch)
    except BaseException:  # noqa: BLE001 - everything is said to the parent, which stops the rescore
        results.put(_Failed(traceback.format_exc(limit=-8)))
