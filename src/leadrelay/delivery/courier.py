"""A running worker's delivery: the outbox sent continuously, one lane per endpoint, beside the SLA sweeps.

`dispatcher.deliver_due` is one pass that waits for every endpoint. A running worker cannot wait so: an
endpoint taking 10 s per request must not hold up the other endpoints' next messages, nor the next
timers. The courier claims what is due for the endpoints that have nothing in hand, gives each endpoint's
rows to a lane of its own (one send at a time, in order), and claims again as soon as any lane is free,
as soon as a commit leaves messages due now (`storage.wake`: in this process, or by NOTIFY on PostgreSQL),
or else after `idle` seconds (polling is the fallback). Claim, lease, round-robin, send window and record
are the dispatcher's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from leadrelay.delivery import webhook
from leadrelay.delivery.dispatcher import (
    SEND_WINDOW_SECONDS,
    Claimed,
    DeliveryReport,
    Lane,
    by_lane,
    claim,
    deliver_lane,
)
from leadrelay.settings import Settings
from leadrelay.storage import wake

if TYPE_CHECKING:
    from leadrelay.playbook.notifications import Notifications

log = logging.getLogger(__name__)

LANES = 32  # endpoints a courier serves at once (a lane is a thread, mostly waiting on the network)


class Courier:
    """Delivers continuously, one lane per endpoint, apart from the SLA sweeps (see the module docstring).

    `notifications()` gives the channels of the playbook running now (it changes when a version is
    activated); `refresh()` is called when a claimed message names an endpoint they do not know —
    a version activated a moment ago may have added it — before the lanes are handed their rows.
    """

    def __init__(self, engine: Engine, settings: Settings, notifications: Callable[[], Notifications], *,
                 clock: Callable[[], datetime], refresh: Callable[[], object] = lambda: None,
                 environ: Mapping[str, str] | None = None, limit: int = 100, lanes: int = LANES,
                 idle: float = 1.0):
        self.engine, self.settings, self.environ = engine, settings, environ
        self.notifications, self.refresh, self.clock = notifications, refresh, clock
        self.limit, self.lanes, self.idle = limit, lanes, idle
        self._in_hand: dict[Lane, object] = {}  # lanes with rows still to send -> the hand-out's ticket
        self._report = DeliveryReport()
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()  # messages were committed, a lane came free, or a stop was asked for
        self._lane_awaited = False  # the last claim left rows for a lane to come free: a lane done wakes the courier

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, then let each lane finish the send in flight and hand back the rest.

        Woken by the commits that leave messages due (`storage.wake.listening`); it looks every `idle`
        seconds besides, which is all it does while a lost listening connection is being restored. A
        database error while claiming is logged and the claim tried again after `idle` seconds; a lane
        that could not record a result leaves its rows leased, to be sent again (same webhook-id) after
        the lease. Anything else is a bug: it stops the courier and is raised here.
        """
        webhook.shared_client()  # built now (its TLS context takes a while), not on the first message's clock
        with ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="outbox-lane") as pool, \
                wake.listening(self.engine, wake.OUTBOX, self._wake):
            while not stop.is_set() and self._failure is None:
                try:
                    more = self._claim_and_hand_out(pool, stop)
                except DBAPIError as exc:
                    log.warning("claiming outbox messages failed, retrying in %.2fs: %s", self.idle, _first_line(exc))
                    more = False
                if not more:
                    self._wake.wait(self.idle)
                    self._wake.clear()
            stop.set()  # the lanes start nothing new (also when the courier itself failed)
        if self._failure is not None:
            raise self._failure

    def wake(self) -> None:
        """Look at the outbox now rather than after `idle` seconds (a stop was asked for, say)."""
        self._wake.set()

    def take_report(self) -> DeliveryReport:
        """What was claimed and what became of it since the last call."""
        with self._lock:
            report, self._report = self._report, DeliveryReport()
        return report

    def _claim_and_hand_out(self, pool: ThreadPoolExecutor, stop: threading.Event) -> bool:
        """Claim for the free lanes and hand the rows out; whether more may be due for free lanes at once (a
        full claim; rows of a disabled endpoint in the way), else the courier waits for a wake-up.

        Rows of a busy lane, or of lanes past the free ones, are left for when a lane comes free
        (`_lane_awaited`); otherwise a lane coming free has nothing waiting for it, and the courier
        need not claim again (an empty claim takes SQLite's write lock for nothing).
        """
        with self._lock:
            busy = list(self._in_hand)
            self._lane_awaited = bool(busy)
        if len(busy) >= self.lanes:
            return False
        now = self.clock()
        claimed, held = claim(self.engine, now, self.limit, busy=busy, lanes=self.lanes - len(busy))
        lanes = by_lane(claimed)
        with self._lock:
            self._report.claimed += len(claimed)
            self._report.outcomes += held
            self._lane_awaited = self._lane_awaited or len(busy) + len(lanes) >= self.lanes
        if not claimed:
            return bool(held)
        notifications = self.notifications()
        if not all(_known(notifications, row) for row in claimed):
            self.refresh()
            notifications = self.notifications()
        deadline = time.monotonic() + SEND_WINDOW_SECONDS
        for lane, rows in lanes.items():
            ticket = object()
            with self._lock:
                self._in_hand[lane] = ticket
            future = pool.submit(deliver_lane, self.engine, self.settings, notifications, now, lane, rows,
                                 self.environ, deadline, stop, partial(self._lane_free, lane, ticket))
            future.add_done_callback(partial(self._lane_done, lane, ticket))
        return len(claimed) >= self.limit or bool(held)

    def _lane_free(self, lane: Lane, ticket: object) -> None:
        """The lane's rows are all sent (the last result is being recorded): its next rows may be claimed."""
        with self._lock:
            if self._in_hand.get(lane) is ticket:
                del self._in_hand[lane]
            wanted = self._lane_awaited
        if wanted:
            self._wake.set()

    def _lane_done(self, lane: Lane, ticket: object, future: Future) -> None:
        error = future.exception()
        with self._lock:
            if self._in_hand.get(lane) is ticket:  # not freed by `_lane_free`, nor handed out again since
                del self._in_hand[lane]
            if error is None:
                self._report.outcomes += future.result()
            elif isinstance(error, DBAPIError):
                log.warning("recording deliveries to %s '%s' failed; they are sent again after the lease: %s",
                            lane[0], lane[1], _first_line(error))
            else:
                self._failure = self._failure or error
            wanted = self._lane_awaited or self._failure is not None
        if wanted:
            self._wake.set()


def _known(notifications: Notifications, row: Claimed) -> bool:
    """Whether the playbook's notifications have the endpoint `row` is for."""
    if row.channel == "webhook":
        return notifications.webhook(row.target) is not None
    if row.channel == "slack":
        return notifications.slack_channel(row.target) is not None
    if row.channel == "email":
        return notifications.email is not None
    return True


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig or exc).splitlines()[0]
