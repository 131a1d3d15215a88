"""Tables for the sales side: qualification answers, PQL, opportunities and their history, forecast snapshots.

They live on the shared `metadata` of `storage/tables.py`; migration 0005 creates them.
Money is `Numeric(18, 2)`: exact on PostgreSQL, and on SQLite exact to the cent for any
amount below 10^13 (read back as Decimal).
"""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, Numeric, String, Table, Text, UniqueConstraint

from leadrelay.storage.tables import Document, Id, UTCDateTime, metadata

Money = Numeric(18, 2)
Percent = Numeric(5, 2)

# Append-only: the latest row per (lead, framework, criterion) is the answer; older rows are its history.
qualification_answers = Table(
    "qualification_answers", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("framework", String(80), nullable=False),
    Column("criterion", String(80), nullable=False),
    Column("answer", Text, nullable=False),  # stored form: yes/no, a choice, a plain number, an ISO date, text
    Column("answered_by", String(120), nullable=False),  # user:<rep>
    Column("answered_at", UTCDateTime, nullable=False),
    Column("playbook_version", String(12)),
    Index("ix_qualification_answers_lead_id_framework", "lead_id", "framework"),
)

# Product signals a lead has shown (first time each), and the PQL mark once they add up.
pql_signals = Table(
    "pql_signals", metadata,
    Column("lead_id", Id, ForeignKey("leads.id"), primary_key=True),
    Column("signal", String(80), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("activity_id", Id),
)

product_qualified = Table(
    "product_qualified", metadata,
    Column("lead_id", Id, ForeignKey("leads.id"), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("signals", Document, nullable=False),  # the signal ids that qualified it
    Column("playbook_version", String(12)),
)

opportunities = Table(
    "opportunities", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("lead_id", Id, ForeignKey("leads.id"), index=True),  # the contact it was converted from
    Column("kind", String(16), nullable=False),  # new_business | expansion
    Column("name", Text, nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("close_date", Date, nullable=False),  # expected; the actual day once won or lost
    Column("owner", String(80), nullable=False),
    Column("stage", String(80), nullable=False),
    Column("probability", Percent, nullable=False),  # the stage's default
    Column("probability_override", Percent),  # a rep's own figure, until the next stage move
    Column("forecast_category", String(12), nullable=False),  # pipeline | best_case | commit | closed | omitted
    Column("status", String(8), nullable=False),  # open | won | lost
    Column("lost_reason", String(80)),
    Column("created_by", String(120), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("version", Integer, nullable=False, default=0),
    Column("playbook_version", String(12)),
    Index("ix_opportunities_status_owner", "status", "owner"),
)

opportunity_history = Table(
    "opportunity_history", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("opportunity_id", Id, ForeignKey("opportunities.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("action", String(16), nullable=False),  # opened | stage | probability | updated | won | lost
    Column("changes", Document, nullable=False),  # {field: [old, new]}
    Column("reason", Text),
)

# One per ISO week: the forecast's totals then, and every deal as it stood (for movement and accuracy).
forecast_snapshots = Table(
    "forecast_snapshots", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("week", String(8), nullable=False),  # 2026-W40
    Column("taken_at", UTCDateTime, nullable=False),
    Column("taken_by", String(120), nullable=False),
    Column("totals", Document, nullable=False),  # {currency: {open_pipeline, weighted_pipeline, ...}}
    Column("playbook_version", String(12)),
    UniqueConstraint("week", name="uq_forecast_snapshots_week"),
)

forecast_snapshot_deals = Table(
    "forecast_snapshot_deals", metadata,
    Column("snapshot_id", Id, ForeignKey("forecast_snapshots.id"), primary_key=True),
    Column("opportunity_id", Id, ForeignKey("opportunities.id"), primary_key=True),
    Column("owner", String(80), nullable=False),
    Column("team", String(80)),
    Column("stage", String(80), nullable=False),
    Column("forecast_category", String(12), nullable=False),
    Column("status", String(8), nullable=False),
    Column("amount", Money, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("probability", Percent, nullable=False),  # the effective one
    Column("close_date", Date, nullable=False),
)

# Marketing spend per month, source and campaign ('' for the whole source), in one currency: the
# cost side of the sources report. Importing the same key again replaces its amount.
spend = Table(
    "spend", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("month", String(7), nullable=False),  # YYYY-MM
    Column("source", String(120), nullable=False),
    Column("campaign", String(200), nullable=False, default=""),
    Column("currency", String(3), nullable=False),
    Column("amount", Money, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    UniqueConstraint("month", "source", "campaign", "currency", name="uq_spend_month_source_campaign_currency"),
)
