"""Tables for the predictive score: outcomes imported with leads, model versions, and each lead's probability.

They live on the shared `metadata` of `storage/tables.py`; migration 0013 creates them.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Integer, LargeBinary, String, Table

from leadrelay.storage.tables import Document, Id, UTCDateTime, metadata

# Whether a lead converted, as a CSV import said (`leadrelay import --outcome COLUMN`). Outcomes the store itself
# holds (won and lost deals, customers, leads sales rejected) are read where they are, never copied here.
lead_outcomes = Table(
    "lead_outcomes", metadata,
    Column("lead_id", Id, ForeignKey("leads.id"), primary_key=True),
    Column("converted", Boolean, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("source", String(64), nullable=False),  # the import's --source
    Column("recorded_at", UTCDateTime, nullable=False),
)

# Every model ever trained, with what it was trained on and how it scored; never updated but `active`.
model_versions = Table(
    "model_versions", metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("trained_at", UTCDateTime, nullable=False),
    Column("trigger", String(12), nullable=False),  # manual | schedule
    Column("playbook_version", String(12), nullable=False),
    Column("library", String(40), nullable=False),  # scikit-learn version that can read `estimator`
    Column("outcomes", Integer, nullable=False),
    Column("converted", Integer, nullable=False),
    Column("features", Document, nullable=False),  # [{name, kind, typical}] in column order
    Column("report", Document, nullable=False),  # the evaluation: metrics beside the baselines, warnings
    Column("estimator", LargeBinary, nullable=False),  # the fitted model, pickled
    Column("active", Boolean, nullable=False),
)

# The active model's probability for each lead, with the factors that moved it most.
lead_predictions = Table(
    "lead_predictions", metadata,
    Column("lead_id", Id, ForeignKey("leads.id"), primary_key=True),
    Column("model_version", Integer, ForeignKey("model_versions.version"), nullable=False, index=True),
    Column("probability", Float, nullable=False),
    Column("factors", Document, nullable=False),  # [{field, value, effect}] largest first
    Column("scored_at", UTCDateTime, nullable=False),
)
