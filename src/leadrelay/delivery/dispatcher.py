"""The outbox worker: claim due messages, send them, record what happened.

One sweep (`deliver_due`):

1. **Claim**, in one short transaction: the oldest due rows (`status = 'pending' AND
   next_attempt_at <= now`) are read — on PostgreSQL `FOR UPDATE SKIP LOCKED`, so
   workers running side by side never get the same row; on SQLite the transaction is
   `BEGIN IMMEDIATE` (one writer) — and leased: `attempts + 1`, `next_attempt_at = now +
   LEASE`. The claim commits *before* any network call, so no other worker picks the
   rows up while they are in flight, and a crashed worker's rows come back after the lease.
   Rows for a disabled endpoint become `disabled` instead. Rows are taken round-robin
   across endpoints, so one endpoint's backlog cannot crowd the others out.
2. **Send**, outside any transaction, one thread per endpoint (email: one SMTP connection):
   an endpoint that is slow, down or failing only holds up its own messages. After an
   endpoint times out or refuses the connection, its other messages in this sweep are
   not tried (each counts a failed attempt: it would have failed).
3. **Record** each result at once: 2xx → `sent`; 410 → the endpoint is disabled and all its
   pending messages become `disabled`; any other failure → retried after `BACKOFF[attempts]`
   (or the receiver's Retry-After, if longer), and after `MAX_ATTEMPTS` → `dead`.

Delivery is at least once: a worker that dies between sending and recording sends again
after the lease. Receivers dedupe by the message id (webhook-id), which never changes. So
on PostgreSQL claim and record commit without waiting for the disk (`_bookkeeping`): a
database crash can only lose a lease or a result, which is such a resend.

`deliver_due` is one pass that waits for every endpoint: what `worker --once`, the demo
and tests want, a moment at a time. A running worker delivers with a `Courier` instead
(`delivery.courier`), with the same claim, lanes and record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, not_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.delivery import email as email_channel
from leadrelay.delivery import slack as slack_channel
from leadrelay.delivery import targets, webhook
from leadrelay.delivery.webhook import SecretError, SendResult
from leadrelay.settings import Settings
from leadrelay.storage import wake
from leadrelay.storage.outbox_tables import DEAD, DISABLED, PENDING, SENT, endpoints, outbox

if TYPE_CHECKING:
    from leadrelay.playbook.notifications import Notifications

log = logging.getLogger(__name__)

# The Standard Webhooks retry schedule (spec 1.0.0, "Deliverability and reliability"):
# BACKOFF[n] is the wait before attempt n + 1, so attempt 1 is immediate and a message
# that fails all len(BACKOFF) attempts (about 3 days 3.5 hours) goes to the dead letters.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF)

# A claimed row is leased for LEASE: no other worker takes it before that. A sweep starts
# new sends only during its first SEND_WINDOW seconds, so that every send (timeouts are at
# most 30 s, SMTP 10 s) ends well inside the lease; rows not reached are handed back.
LEASE = timedelta(minutes=2)
SEND_WINDOW_SECONDS = 45.0
MAX_RETRY_AFTER = timedelta(hours=24)
SCAN_FACTOR = 10  # rows read per row claimed, to share a sweep fairly between endpoints
DEFAULT_THREADS = 8

Lane = tuple[str, str]  # (channel, target); all email shares one lane, ("email", ""): one SMTP connection


@dataclass(frozen=True)
class Claimed:
    id: int
    message_id: str
    event_type: str
    channel: str
    target: str
    lead_id: int | None
    payload: dict[str, Any]
    attempts: int  # including this one


@dataclass(frozen=True)
class Outcome:
    id: int
    message_id: str
    channel: str
    target: str
    status: str  # sent | retry | dead | disabled | released
    attempts: int
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass
class DeliveryReport:
    claimed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def sent(self) -> int:
        return self.count("sent")

    @property
    def retrying(self) -> int:
        return self.count("retry")

    @property
    def dead(self) -> int:
        return self.count("dead")

    @property
    def disabled(self) -> int:
        return self.count("disabled")

    @property
    def released(self) -> int:
        return self.count("released")

    def as_dict(self) -> dict[str, int]:
        return {"claimed": self.claimed, "sent": self.sent, "retrying": self.retrying, "dead": self.dead,
                "disabled": self.disabled, "released": self.released}


def backoff_after(attempts: int) -> timedelta | None:
    """How long to wait after `attempts` failed attempts; None when there is no attempt left."""
    return BACKOFF[attempts] if 0 < attempts < MAX_ATTEMPTS else None


def deliver_due(engine: Engine, settings: Settings, notifications: Notifications, now: datetime, *,
                limit: int = 100, threads: int = DEFAULT_THREADS,
                environ: Mapping[str, str] | None = None) -> DeliveryReport:
    """One sweep over the outbox at time `now`; see the module docstring. Never raises for a
    failed delivery: failures are recorded on the message and counted in the report."""
    claimed, held = claim(engine, now, limit)
    report = DeliveryReport(claimed=len(claimed))
    report.outcomes += held
    if not claimed:
        return report
    groups = by_lane(claimed)
    deadline = time.monotonic() + SEND_WINDOW_SECONDS
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(groups))), thread_name_prefix="outbox") as pool:
        futures = [pool.submit(deliver_lane, engine, settings, notifications, now, key, rows, environ, deadline)
                   for key, rows in groups.items()]
        for future in futures:
            report.outcomes += future.result()
    return report


def _lane(row: Any) -> Lane:
    return ("email", "") if row.channel == "email" else (row.channel, row.target)


def by_lane(rows: Iterable[Claimed]) -> dict[Lane, list[Claimed]]:
    groups: dict[Lane, list[Claimed]] = defaultdict(list)
    for row in rows:
        groups[_lane(row)].append(row)
    return groups


# --------------------------------------------------------------------------- claim


def claim(engine: Engine, now: datetime, limit: int, *, busy: Collection[Lane] = (),
           lanes: int | None = None) -> tuple[list[Claimed], list[Outcome]]:
    """Lease up to `limit` due rows, round-robin; none of the `busy` lanes' (they have rows in hand), and of at
    most `lanes` lanes (the courier's free ones)."""
    o = outbox.c
    with _bookkeeping(engine) as conn:  # SQLite: BEGIN IMMEDIATE (storage.database)
        due = (select(o.id, o.message_id, o.event_type, o.channel, o.target, o.lead_id, o.payload, o.attempts)
               .where(o.status == PENDING, o.next_attempt_at <= now, *_not_in(busy))
               .order_by(o.next_attempt_at, o.id)
               .limit(limit * SCAN_FACTOR))
        if conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = conn.execute(due).all()
        if not rows:
            return [], []
        disabled = set(conn.execute(select(endpoints.c.id).where(endpoints.c.disabled_at.is_not(None))).scalars())
        held = [r for r in rows if r.channel != "email" and r.target in disabled]
        sendable = [r for r in rows if not (r.channel != "email" and r.target in disabled)]
        picked = _round_robin(sendable if lanes is None else _first_lanes(sendable, lanes), limit)
        if held:
            conn.execute(update(outbox).where(o.id.in_([r.id for r in held]))
                         .values(status=DISABLED, last_error="endpoint disabled"))
        if picked:
            conn.execute(update(outbox).where(o.id.in_([r.id for r in picked]))
                         .values(attempts=o.attempts + 1, next_attempt_at=now + LEASE))
    claimed = [Claimed(r.id, r.message_id, r.event_type, r.channel, r.target, r.lead_id, r.payload, r.attempts + 1)
               for r in picked]
    return claimed, [Outcome(r.id, r.message_id, r.channel, r.target, "disabled", r.attempts, "endpoint disabled")
                     for r in held]


def _not_in(busy: Collection[Lane]) -> list[Any]:
    """SQL conditions leaving out the rows of the `busy` lanes."""
    o = outbox.c
    return [o.channel != "email" if channel == "email" else not_(and_(o.channel == channel, o.target == target))
            for channel, target in busy]


def _first_lanes(rows: Sequence[Any], lanes: int) -> list[Any]:
    """The rows of the first `lanes` lanes met (rows come oldest due first)."""
    chosen: set[Lane] = set()
    kept = []
    for row in rows:
        lane = _lane(row)
        if lane not in chosen and len(chosen) < lanes:
            chosen.add(lane)
        if lane in chosen:
            kept.append(row)
    return kept


def _round_robin(rows: Sequence[Any], limit: int) -> list[Any]:
    """Up to `limit` rows, oldest first within each endpoint, taking one per endpoint in turn."""
    queues: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
    for row in rows:
        queues.setdefault((row.channel, row.target), []).append(row)
    picked: list[Any] = []
    depth = 0
    while len(picked) < limit and queues:
        for key in list(queues):
            queue = queues[key]
            if depth < len(queue):
                picked.append(queue[depth])
                if len(picked) == limit:
                    break
            else:
                del queues[key]
        depth += 1
    return picked


# --------------------------------------------------------------------------- send


Sender = Callable[[Claimed], SendResult]


def deliver_lane(engine: Engine, settings: Settings, notifications: Notifications, now: datetime,
                   key: Lane, rows: list[Claimed], environ: Mapping[str, str] | None,
                   deadline: float, stopping: threading.Event | None = None,
                   sent: Callable[[], None] | None = None) -> list[Outcome]:
    """Send one endpoint's messages in order and record each result as it comes.

    Rows not started by `deadline` (the send window), or once `stopping` is set, are handed back.
    `sent` is called when the last row was delivered, before its result is recorded: the endpoint's
    next messages may be sent from then on (they come after these; the courier need not wait for a
    record, which on SQLite waits its turn for the write lock). After a failure it is not called.
    """
    outcomes: list[Outcome] = []
    sender, close = _sender(key[0], key[1], settings, notifications, now, environ)
    try:
        down: SendResult | None = None
        for index, row in enumerate(rows):
            if time.monotonic() > deadline or (stopping is not None and stopping.is_set()):
                outcomes += _release(engine, rows[index:], now)
                break
            if down is not None:
                result = SendResult(ok=False, transport=True,
                                    error=f"not tried: the endpoint failed earlier in this sweep ({down.error})")
            else:
                result = _safely(sender, row)
            if sent is not None and result.ok and index == len(rows) - 1:
                sent()
            outcome = _record(engine, row, result, now)
            outcomes.append(outcome)
            if result.gone and row.channel != "email":
                outcomes += [Outcome(r.id, r.message_id, r.channel, r.target, "disabled", r.attempts,
                                     "endpoint disabled") for r in rows[index + 1:]]
                break
            if result.transport and down is None:
                down = result  # the endpoint (or SMTP server) is down: the rest would fail alike
    finally:
        close()
    return outcomes


def _safely(sender: Sender, row: Claimed) -> SendResult:
    try:
        return sender(row)
    except Exception as exc:  # a bug or an odd payload must not stop the other deliveries
        log.exception("delivering outbox message %s failed", row.message_id)
        return SendResult(ok=False, error=f"internal error: {type(exc).__name__}: {exc}")


def _sender(channel: str, target: str, settings: Settings, notifications: Notifications, now: datetime,
            environ: Mapping[str, str] | None) -> tuple[Sender, Callable[[], None]]:
    """A function sending one claimed row to `target`, and one releasing its connection."""

    def failing(reason: str) -> tuple[Sender, Callable[[], None]]:
        return (lambda row: SendResult(ok=False, error=reason)), (lambda: None)

    def refusing(reason: str) -> tuple[Sender, Callable[[], None]]:  # retrying cannot help: dead letter at once
        return (lambda row: SendResult(ok=False, error=reason, permanent=True)), (lambda: None)

    if channel == "webhook":
        hook = notifications.webhook(target)
        if hook is None:
            return failing(f"no webhook '{target}' in the playbook's notifications")
        try:
            keys = webhook.signing_keys(hook.secrets(environ), target)  # two while the secret is rotated
        except SecretError as exc:
            return failing(str(exc))
        reason = targets.refused(hook.url, allow_private=settings.private_webhooks)
        if reason:
            return refusing(f"webhook '{target}': {reason}")
        client = webhook.shared_client()
        # Signed with the real time of the attempt: receivers check it against their own clock, whatever
        # moment the sweep pretends it is (`worker --now`).
        return (lambda row: webhook.send(client, hook.url, keys=keys, message_id=row.message_id, payload=row.payload,
                                         now=datetime.now(UTC), timeout=hook.timeout_seconds)), _keep
    if channel == "slack":
        channel_spec = notifications.slack_channel(target)
        if channel_spec is None:
            return failing(f"no Slack channel '{target}' in the playbook's notifications")
        url = channel_spec.resolve_url(environ)
        if url is None:
            return failing(f"environment variable {channel_spec.url_env} (URL of Slack channel '{target}') is not set")
        reason = targets.refused(url, allow_private=settings.private_webhooks)
        if reason:
            return refusing(f"Slack channel '{target}': {reason}")
        client = webhook.shared_client()
        return (lambda row: slack_channel.send(client, url, row.payload, lead_id=row.lead_id,
                                               timeout=channel_spec.timeout_seconds)), _keep
    if channel == "email":
        if notifications.email is None:
            return failing("the playbook's notifications have no email section")
        smtp = email_channel.SmtpSender(settings)
        sender_address = notifications.email.from_
        return (lambda row: smtp.send(email_channel.build(sender_address, row.target, row.payload, row.message_id,
                                                          row.lead_id))), smtp.close
    return failing(f"unknown channel {channel!r}")


# --------------------------------------------------------------------------- record


def _record(engine: Engine, row: Claimed, result: SendResult, now: datetime) -> Outcome:
    o = outbox.c
    mine = and_(o.id == row.id, o.status == PENDING)
    with _bookkeeping(engine) as conn:
        if result.ok:  # it was delivered, whatever happened to the row meanwhile
            conn.execute(update(outbox).where(o.id == row.id).values(status=SENT, sent_at=now, last_error=None))
            return _outcome(row, "sent")
        if result.gone and row.channel != "email":
            reason = f"{result.error} at {utc_iso(now)}"
            _disable_endpoint(conn, row.channel, row.target, reason, now)
            conn.execute(update(outbox).where(or_(o.id == row.id, and_(o.status == PENDING,
                                                                       o.channel == row.channel,
                                                                       o.target == row.target)))
                         .values(status=DISABLED, last_error=result.error))
            return _outcome(row, "disabled", result.error)
        wait = backoff_after(row.attempts)
        if result.permanent or wait is None:
            conn.execute(update(outbox).where(mine).values(status=DEAD, last_error=result.error))
            return _outcome(row, "dead", result.error)
        if result.retry_after is not None:
            wait = max(wait, min(timedelta(seconds=result.retry_after), MAX_RETRY_AFTER))
        conn.execute(update(outbox).where(mine).values(next_attempt_at=now + wait, last_error=result.error))
        return _outcome(row, "retry", result.error, now + wait)


def _release(engine: Engine, rows: Iterable[Claimed], now: datetime) -> list[Outcome]:
    """Hand back claimed rows that were not tried: due again at once, the claim's attempt not counted."""
    rows = list(rows)
    o = outbox.c
    with _bookkeeping(engine) as conn:
        conn.execute(update(outbox).where(o.id.in_([r.id for r in rows]), o.status == PENDING)
                     .values(attempts=o.attempts - 1, next_attempt_at=now))
    return [_outcome(row, "released") for row in rows]


@contextmanager
def _bookkeeping(engine: Engine) -> Iterator[Connection]:
    """A transaction of the delivery's own bookkeeping (claim, record, release). On PostgreSQL it commits without
    waiting for the WAL to reach the disk (a few ms, on the way to the next send): what a database crash could
    lose is a lease or a result, and the message is then sent again after its lease, with the same webhook-id,
    which delivery at least once allows. Other transactions see the commit at once either way."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        yield conn


def _outcome(row: Claimed, status: str, error: str | None = None, next_at: datetime | None = None) -> Outcome:
    return Outcome(row.id, row.message_id, row.channel, row.target, status, row.attempts, error, next_at)


def _disable_endpoint(conn, kind: str, endpoint_id: str, reason: str | None, now: datetime) -> None:
    values = {"id": endpoint_id, "kind": kind, "disabled_at": now, "disabled_reason": reason}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(endpoints).values(**values)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[endpoints.c.id],
        set_={"kind": kind, "disabled_at": now, "disabled_reason": reason}))


# --------------------------------------------------------------------------- retry


@dataclass
class RetryReport:
    reset: list[int] = field(default_factory=list)  # outbox ids now pending again
    skipped: list[int] = field(default_factory=list)  # asked for, but already pending
    enabled: str | None = None  # endpoint re-enabled
    still_disabled: list[str] = field(default_factory=list)  # endpoints of reset rows that stay disabled


def retry(engine: Engine, ids: Iterable[int] | None = None, now: datetime | None = None, *,
          dead: bool | None = None, enable_endpoint: str | None = None) -> RetryReport:
    """Put messages back in the queue, due at `now`, with a fresh set of attempts.

    `ids`: these messages (sent ones too: a replay keeps its message id, so a receiver that
    dedupes will ignore it). `dead`: every dead message — the default when neither ids nor
    an endpoint is given. `enable_endpoint`: re-enable that endpoint and requeue the
    messages held for it.
    """
    if now is None:
        raise InvalidInput("retry needs the current time")
    wanted = sorted(set(ids or ()))
    if dead is None:
        dead = ids is None and enable_endpoint is None
    o, e = outbox.c, endpoints.c
    report = RetryReport()
    with wake.begin(engine) as conn:  # a running worker is woken for the messages put back
        if wanted:
            found = {r.id: r.status for r in conn.execute(select(o.id, o.status).where(o.id.in_(wanted)))}
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound(f"no outbox message with id {', '.join(map(str, missing))}")
            report.skipped = [i for i in wanted if found[i] == PENDING]
        chosen: list[ColumnElement[bool]] = [o.id.in_(wanted)] if wanted else []
        if dead:
            chosen.append(o.status == DEAD)
        if enable_endpoint is not None:
            endpoint = conn.execute(select(e.id).where(e.id == enable_endpoint)).first()
            if endpoint is None:
                raise NotFound(f"endpoint '{enable_endpoint}' was never disabled")
            conn.execute(update(endpoints).where(e.id == enable_endpoint)
                         .values(disabled_at=None, disabled_reason=None))
            chosen.append(and_(o.status == DISABLED, o.target == enable_endpoint, o.channel != "email"))
            report.enabled = enable_endpoint
        if chosen:
            selected = and_(or_(*chosen), o.status != PENDING)
            report.reset = sorted(conn.execute(select(o.id).where(selected)).scalars())
            if report.reset:
                conn.execute(update(outbox).where(o.id.in_(report.reset))
                             .values(status=PENDING, attempts=0, next_attempt_at=now, sent_at=None))
                wake.request(conn, wake.OUTBOX)
                disabled = set(conn.execute(select(e.id).where(e.disabled_at.is_not(None))).scalars())
                targets = conn.execute(select(o.target).where(o.id.in_(report.reset), o.channel != "email")
                                       .distinct()).scalars()
                report.still_disabled = sorted(t for t in targets if t in disabled)
    return report


def _keep() -> None:
    """The shared HTTP client outlives a sweep: nothing to close."""
