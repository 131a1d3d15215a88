"""The sales side of the demo: reps who accept, call, recycle and sometimes forget, and a worker that keeps time.

The stream is replayed a day at a time with the clock following it, as if live. After
each day, every new handoff gets a seeded behaviour (most are accepted and worked in
time, some are recycled or rejected, some are ignored until the SLA escalates), and the
reps' actions and the worker's sweeps run in time order.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from leadrelay.core.app import App
from leadrelay.core.errors import LeadRelayError
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.storage import handoff_tables as h
from leadrelay.worker import sweep

SWEEP_EVERY = timedelta(hours=3)
RECYCLE_REASONS = ("not_ready", "no_budget_now", "under_contract", "no_response")
REJECT_REASONS = ("bad_fit", "not_a_buyer")


class SalesFloor:
    """Simulated reps and a worker, driven by a clock the demo moves forward."""

    def __init__(self, app: App, clock: Callable[[], datetime], set_clock: Callable[[datetime], None], seed: int):
        self.app, self.clock, self.set_clock = app, clock, set_clock
        self.rng = random.Random(seed)
        self.events: list[tuple[datetime, int, str, int]] = []  # (when, order, action, handoff id)
        self.seen: set[tuple[int, str]] = set()  # (handoff, kind): a hand-raiser retargets a handoff
        self.done: Counter[str] = Counter()
        self.next_sweep: datetime | None = None
        self._order = 0

    def plan_new_handoffs(self) -> None:
        """Give every newly assigned handoff a behaviour: the actions its owner will take, and when."""
        c = h.handoffs.c
        with self.app.engine.connect() as conn:
            rows = conn.execute(select(c.id, c.kind, c.assigned_at).where(c.status.in_(OWNED_STATUSES))
                                .order_by(c.id)).all()
        for handoff_id, kind, assigned_at in rows:
            if (handoff_id, kind) in self.seen:
                continue
            self.seen.add((handoff_id, kind))
            start = assigned_at or self.clock()
            roll = self.rng.random()
            if kind == "hand_raise":
                delay = (timedelta(minutes=self.rng.uniform(1, 4)) if roll < 0.6
                         else timedelta(hours=self.rng.uniform(1, 8)))
                self._at(start + delay, "touch", handoff_id)
                self._at(start + delay + timedelta(minutes=5), "accept", handoff_id)
                continue
            if roll < 0.2:
                continue  # forgotten: the SLA will escalate it
            accept_after = timedelta(hours=self.rng.uniform(0.5, 30))
            self._at(start + accept_after, "accept" if roll > 0.25 else "reject", handoff_id)
            if roll > 0.25:
                for n in range(self.rng.choice((1, 2, 3, 3))):
                    self._at(start + accept_after + timedelta(hours=2 + 30 * n), "touch", handoff_id)
                if roll > 0.85:
                    self._at(start + accept_after + timedelta(days=self.rng.uniform(3, 9)), "recycle", handoff_id)

    def run_until(self, moment: datetime) -> None:
        """Play reps' actions and worker sweeps in time order up to `moment`.

        The day's messages were ingested at the end of the day, so the clock may be ahead of
        an action: actions carry their own time, and sweeps take theirs as `now`.
        """
        if self.next_sweep is None:
            self.next_sweep = self.clock()
        while True:
            next_event = self.events[0][0] if self.events else None
            if next_event is not None and next_event <= moment and next_event <= self.next_sweep:
                when, _, action, handoff_id = heapq.heappop(self.events)
                self._act(action, handoff_id, when)
            elif self.next_sweep <= moment:
                self.set_clock(self.next_sweep)
                report = sweep(self.app, self.next_sweep, deliver=False)
                self.done.update({f"sweep {k}": v for k, v in report.timers.items()})
                self.done["assigned from queue"] += report.assigned
                self.next_sweep += SWEEP_EVERY
            else:
                self.set_clock(moment)
                return

    def _at(self, when: datetime, action: str, handoff_id: int) -> None:
        self._order += 1
        heapq.heappush(self.events, (when, self._order, action, handoff_id))

    def _act(self, action: str, handoff_id: int, when: datetime) -> None:
        with self.app.engine.connect() as conn:
            row = conn.execute(select(h.handoffs.c.lead_id, h.handoffs.c.owner, h.handoffs.c.status)
                               .where(h.handoffs.c.id == handoff_id)).one()
        if row.status not in OWNED_STATUSES or row.owner is None:
            return  # escalated, returned or recycled before the rep got to it
        try:
            if action == "accept":
                rep_actions.accept(self.app, row.lead_id, rep=row.owner, at=min(when, self.clock()))
            elif action == "touch":
                rep_actions.log_touch(self.app, row.lead_id, rep=row.owner, kind=self.rng.choice(("call", "email")),
                                      outcome=self.rng.choice(("connected", "voicemail", "no_answer", "replied")),
                                      at=min(when, self.clock()))
            elif action == "reject":
                rep_actions.reject(self.app, row.lead_id, rep=row.owner, reason=self.rng.choice(REJECT_REASONS))
            elif action == "recycle":
                rep_actions.recycle(self.app, row.lead_id, rep=row.owner, reason=self.rng.choice(RECYCLE_REASONS))
        except LeadRelayError:
            return  # e.g. already accepted after a reassignment: a real rep would shrug too
        self.done[action] += 1
