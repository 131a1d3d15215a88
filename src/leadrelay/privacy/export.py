"""Everything LeadRelay holds about one person, as one JSON document (a subject access request).

Read in one transaction, so the parts agree. The person is the lead a ref names and every
lead merged into it; their rows are given whole (every column), in id order. Outbox
messages and rejected messages are included when they are about the lead or name one of
its identifiers. A person already erased is exported too: what is left, and the erasure.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table

from leadrelay.core.app import App
from leadrelay.core.time import utc_iso
from leadrelay.privacy import store
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import outbox_tables as o
from leadrelay.storage import predict_tables as p
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack

# Section of the document -> (table, the column naming the lead). In the order a person reads their record.
SECTIONS = (
    ("identities", t.identities, "lead_id"),
    ("activities", t.activities, "lead_id"),
    ("score_changes", t.score_changes, "lead_id"),
    ("stage_changes", t.stage_changes, "lead_id"),
    ("handoffs", h.handoffs, "lead_id"),
    ("routing_decisions", h.routing_decisions, "lead_id"),
    ("sla_timers", h.sla_timers, "lead_id"),
    ("touches", h.touches, "lead_id"),
    ("meetings", h.meetings, "lead_id"),
    ("suppressions", h.suppressions, "lead_id"),
    ("followup_timers", t.followup_timers, "lead_id"),
    ("qualification_answers", s.qualification_answers, "lead_id"),
    ("product_signals", s.pql_signals, "lead_id"),
    ("product_qualified", s.product_qualified, "lead_id"),
    ("deals", s.opportunities, "lead_id"),
    ("events", h.domain_events, "lead_id"),
    ("predictions", p.lead_predictions, "lead_id"),
    ("outcomes", p.lead_outcomes, "lead_id"),
    ("erasures", pt.erasures, "lead_id"),
)


def export_person(app: App, ref: str | int) -> dict[str, Any]:
    """The document for the person `ref` names (lead id, email, user id or anonymous id). Raises NotFound."""
    with app.engine.connect() as conn, conn.begin():
        lead_id = store.person_lead_id(conn, ref)
        ids = store.family(conn, lead_id)
        leads = {row.id: _plain(row) for row in store.rows(conn, t.leads, "id", ids)}
        document: dict[str, Any] = {"exported_at": utc_iso(app.clock()), "ref": str(ref).strip(), "lead_id": lead_id,
                                    "lead": leads[lead_id], "merged_leads": [leads[i] for i in ids[1:]]}
        for section, table, column in SECTIONS:
            found = store.rows(conn, table, column, ids)
            document[section] = [_plain(row) | _unpacked(conn, table, row) for row in found]
        deals = [d["id"] for d in document["deals"]]
        document["deal_history"] = [_plain(r) for r in store.rows(conn, s.opportunity_history, "opportunity_id", deals)]
        keys = store.identities_of(conn, ids)
        named, quoted = store.needles(keys)  # as an erasure finds them
        outbox_ids = {r.id for r in store.rows(conn, o.outbox, "lead_id", ids)}
        outbox_ids |= set(store.rows_naming(conn, o.outbox, ("payload",), named))
        document["outbox"] = [_plain(r) for r in store.rows(conn, o.outbox, "id", sorted(outbox_ids))]
        rejected = store.rows_naming(conn, t.rejections, ("payload", "reason"), named + quoted)
        document["rejections"] = [_plain(r) for r in store.rows(conn, t.rejections, "id", rejected)]
    return document


def _unpacked(conn: Connection, table: Table, row: Any) -> dict[str, Any]:
    """An activity's payload as the JSON it was (it is stored packed)."""
    return {"payload": unpack(conn, row.payload)} if table is t.activities else {}


def _plain(row: Any) -> dict[str, Any]:
    """A row as JSON-ready values: times in UTC ISO form, money as text, bytes as base64."""
    return {key: _value(value) for key, value in row._mapping.items()}


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
