"""Erasing a person on request: their personal data goes, the facts the reports count stay, a tombstone remains.

What goes, for the lead and every lead merged into it:

- the lead's email, user id, traits (and when each was set); its identity rows;
- each activity's anonymous id, user id, email and payload (properties, traits, context):
  the activity keeps its type, event or page name, source, message id, company (group id)
  and times, so counts by type and time stay right;
- rep notes on touches; free-text qualification answers (the answer becomes "[erased]",
  still given, so the SQL gate reads the same); yes/no, choice, number and date answers stay;
- the payload of every outbox message about them (replaced by a stub naming the erasure;
  one still waiting is withdrawn, not sent); predictions (their factors quote traits) and
  imported outcomes (a model must not keep learning from the person);
- their identifiers and names wherever free text or a document mentions them: stage-move
  reasons, handoff reasons, routing decisions, SLA outcomes, suppressions, the event log
  (meeting notes included), deal names, follow-up timers' data, rejected messages naming
  them (the raw message goes, the reason is scrubbed), outbox messages naming them.

What stays: scores and every score change, stage history, handoffs, routing decisions,
SLA timers, touches (kind, outcome, time), meetings, deals, suppressions, the rollups, the
lead's source, campaign, country, persona, company domain and account. Reports count the
same before and after.

The tombstone (`erasures`) records who asked, when and why, what it changed, and a keyed
digest of each identity (`gate`): later messages naming one are refused until the person
opts in again. Erasing again is harmless: it does what is left to do, or answers the
erasure already made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso
from leadrelay.handoff.desk import desk_of
from leadrelay.handoff.model import HandoffOutcome
from leadrelay.lead.store import chunks, lock_identities
from leadrelay.privacy import store
from leadrelay.privacy.gate import digest, salt
from leadrelay.privacy.scrub import ERASED, Scrubber, personal_strings
from leadrelay.sales.frameworks import TEXT
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import outbox_tables as o
from leadrelay.storage import predict_tables as p
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.packing import payloads
from leadrelay.storage.unit_of_work import UnitOfWork

MAX_REASON = 1000


def erase(app: App, ref: str | int, *, reason: str, by: str) -> dict[str, Any]:
    """Erase the person `ref` names (lead id, email, user id or anonymous id); the erasure as a dict.

    Raises NotFound for a ref that names nobody (and no erased person), InvalidInput without a reason.
    """
    reason, by = (reason or "").strip(), (by or "").strip()
    if not reason:
        raise InvalidInput("give the reason for the erasure (--reason): it is kept in the audit record")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    if not by:
        raise InvalidInput("say who asks for the erasure (--by)")
    now = app.clock()
    with UnitOfWork(app, now) as uow:
        conn = uow.conn
        lead_id = store.person_lead_id(conn, ref)
        ids = store.family(conn, lead_id)
        keys = store.identities_of(conn, ids)
        lock_identities(conn, keys)  # an ingest naming them waits, then meets the tombstone
        if conn.dialect.name == "postgresql":
            conn.execute(select(t.leads.c.id).where(t.leads.c.id.in_(ids)).with_for_update())
        previous = _latest_erasure(conn, lead_id)
        if previous is not None and not keys:
            return _as_dict(previous, already=True)
        counts = _erase_rows(app, conn, ids, keys, now)
        key = salt(conn)
        erasure_id = conn.execute(insert(pt.erasures).values(
            lead_id=lead_id, leads=ids, erased_at=now, erased_by=by[:120], reason=reason, identities=len(keys),
            counts=counts)).inserted_primary_key[0]
        if keys:
            conn.execute(insert(pt.erased_identities), [
                {"digest": digest(key, kind, value), "kind": kind, "erasure_id": erasure_id}
                for kind, value in sorted(keys)])
        _stop_the_work(uow, ids, erasure_id, by, now)
        erasure = conn.execute(select(pt.erasures).where(pt.erasures.c.id == erasure_id)).one()
        uow.commit()
    return _as_dict(erasure, already=False)


def _stop_the_work(uow: UnitOfWork, ids: list[int], erasure_id: int, by: str, now: datetime) -> None:
    """Nobody is to work a person who asked to be erased: an open handoff is closed (its SLA timers cancelled,
    its rep's seat freed) and a waiting follow-up will not fire."""
    desk = desk_of(uow)
    for handoff in desk.open_handoffs(ids).values():
        desk.close(handoff, HandoffOutcome.ERASED, f"the person was erased on request (erasure {erasure_id})", now,
                   cause=f"user:{by[:80]}")
    f = t.followup_timers.c
    uow.conn.execute(update(t.followup_timers).where(f.lead_id.in_(ids), f.status == "pending")
                     .values(status="cancelled", closed_at=now))


def _erase_rows(app: App, conn, ids: list[int], keys: set[tuple[str, str]], now: datetime) -> dict[str, int]:
    """Remove the personal data of leads `ids` (see the module docstring); rows changed per table."""
    identifiers = {value for _, value in keys}
    scrubber = Scrubber(identifiers, personal_strings(store.traits_of(conn, ids)))
    counts: dict[str, int] = {}

    def count(name: str, n: int) -> None:
        if n:
            counts[name] = counts.get(name, 0) + n

    count("leads", store.blank_rows(conn, t.leads, "id", ids, email=None, user_id=None, traits={}, trait_times={},
                                    version=t.leads.c.version + 1, updated_at=now))
    count("identities", store.delete_rows(conn, t.identities, "lead_id", ids))
    count("activities", store.blank_rows(conn, t.activities, "lead_id", ids, anonymous_id=None, user_id=None,
                                         email=None, payload=payloads(conn).pack({"erased": True})))
    count("followup_timers", store.blank_rows(conn, t.followup_timers, "lead_id", ids, data={}))
    count("touches", store.blank_rows(conn, h.touches, "lead_id", ids, note=None))
    count("qualification_answers", _erase_text_answers(app, conn, ids))
    for table, column, fields in store.SCRUBBED:
        count(table.name, store.scrub_rows(conn, table, column, ids, fields, scrubber))
    deals = [r.id for r in store.rows(conn, s.opportunities, "lead_id", ids)]
    count("opportunity_history", store.scrub_rows(conn, s.opportunity_history, "opportunity_id", deals,
                                                  ("changes", "reason"), scrubber))
    count("outbox", _stub_outbox(conn, ids, now))
    # Notices without a lead (digests) and rejected messages that name them: found by their identifiers.
    named, quoted = store.needles(keys)
    count("outbox", store.scrub_rows(conn, o.outbox, "id", store.rows_naming(conn, o.outbox, ("payload",), named),
                                     ("payload", "target"), scrubber))
    rejected = store.rows_naming(conn, t.rejections, ("payload", "reason"), named + quoted)
    count("rejections", store.blank_rows(conn, t.rejections, "id", rejected, payload=None))
    store.scrub_rows(conn, t.rejections, "id", rejected, ("reason", "position"), scrubber)
    count("lead_predictions", store.delete_rows(conn, p.lead_predictions, "lead_id", ids))
    count("lead_outcomes", store.delete_rows(conn, p.lead_outcomes, "lead_id", ids))
    return counts


def _erase_text_answers(app: App, conn, ids: list[int]) -> int:
    """Free-text answers become "[erased]" (still given: the gate reads them the same); the others stay."""
    framework = app.playbook.rules.sales.framework
    q = s.qualification_answers.c
    erased = []
    for row in store.rows(conn, s.qualification_answers, "lead_id", ids):
        criterion = next((c for c in framework.criteria if c.id == row.criterion), None)
        structured = row.framework == framework.id and criterion is not None and criterion.answer != TEXT
        if not structured and row.answer != ERASED:
            erased.append(row.id)
    for part in chunks(erased):
        conn.execute(update(s.qualification_answers).where(q.id.in_(part)).values(answer=ERASED))
    return len(erased)


def _stub_outbox(conn, ids: list[int], now: datetime) -> int:
    """Every outbox message about these leads keeps its type and times; its payload becomes a stub, and one
    still waiting is withdrawn (a receiver would get nothing it could use)."""
    c = o.outbox.c
    changed = 0
    for row in store.rows(conn, o.outbox, "lead_id", ids):
        stub = {"type": row.event_type, "timestamp": (row.payload or {}).get("timestamp"),
                "data": {"lead_id": row.lead_id, "erased": True}}
        if row.payload == stub:
            continue
        values: dict[str, Any] = {"payload": stub}
        if row.status == o.PENDING:
            values |= {"status": o.WITHDRAWN, "last_error": "withdrawn: the person was erased on request"}
        conn.execute(update(o.outbox).where(c.id == row.id).values(**values))
        changed += 1
    return changed


def _latest_erasure(conn, lead_id: int):
    x = pt.erasures.c
    return conn.execute(select(pt.erasures).where(x.lead_id == lead_id).order_by(x.id.desc()).limit(1)).first()


def _as_dict(row, *, already: bool) -> dict[str, Any]:
    return {"erasure": row.id, "lead_id": row.lead_id, "leads": list(row.leads), "erased_at": utc_iso(row.erased_at),
            "erased_by": row.erased_by, "reason": row.reason, "identities": row.identities,
            "changed": dict(row.counts), "already_erased": already}
