"""The database schema, as SQLAlchemy Core tables. Alembic migrations are generated from this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on SQLite (which keeps no zone) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        zone = value.tzinfo
        if zone is None:
            raise ValueError(f"naive datetime {value!r}: LeadRelay stores UTC only")
        if zone is not UTC:  # most values are UTC already: no conversion on the hot paths
            value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Document = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY

playbooks = Table(
    "playbooks", metadata,
    Column("version", String(12), primary_key=True),
    Column("name", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

accounts = Table(
    "accounts", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("group_id", String(200), unique=True),
    Column("domain", String(253), index=True),
    Column("name", Text),
    Column("traits", Document, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

leads = Table(
    "leads", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), index=True),
    Column("user_id", String(200)),
    Column("company_domain", String(253)),
    Column("country", String(2)),
    Column("persona", String(80)),
    Column("traits", Document, nullable=False),
    Column("trait_times", Document, nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), index=True),
    Column("stage", String(16), index=True),
    Column("furthest_stage", String(16)),
    Column("stage_changed_at", UTCDateTime),
    Column("segment", String(16), nullable=False, default="new"),
    Column("source", String(120), index=True),  # first touch: see leadrelay.lead.attribution
    Column("campaign", String(200)),
    Column("owner", String(80), index=True),
    Column("fit_score", Float, nullable=False, default=0.0),
    Column("engagement_score", Float, nullable=False, default=0.0),
    Column("engagement_as_of", Float),  # epoch seconds the engagement score is valid at
    Column("predicted", Float),  # the active model's probability (`leadrelay.predict`); written only by scoring
    Column("engine_state", Document, nullable=False),  # rule caps, fit rules that hold, armed criteria
    Column("disqualified_by", String(80)),
    Column("disqualified_from", String(16)),
    Column("first_seen_at", UTCDateTime),
    Column("last_activity_at", UTCDateTime),
    Column("merged_into", Id, ForeignKey("leads.id")),
    Column("version", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The leads merged into one (`leads show` lists them): few, so the index holds only those.
    Index("ix_leads_merged_into", "merged_into", sqlite_where=text("merged_into IS NOT NULL"),
          postgresql_where=text("merged_into IS NOT NULL")),
)

identities = Table(
    "identities", metadata,
    Column("kind", String(10), primary_key=True),  # anonymous | user | email
    Column("value", String(320), primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
)

activities = Table(
    "activities", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("message_id", String(200), nullable=False),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("type", String(10), nullable=False),
    Column("name", Text),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("anonymous_id", String(200)),
    Column("user_id", String(200)),
    Column("email", String(320)),
    Column("group_id", String(200)),
    # properties, traits, context, previous_id: JSON packed by zstandard (`leadrelay.storage.packing`)
    Column("payload", LargeBinary, nullable=False),
    UniqueConstraint("source", "message_id", name="uq_activities_source_message_id"),
    Index("ix_activities_lead_id_occurred_at", "lead_id", "occurred_at"),
)

# The zstd dictionaries activity payloads are packed with, trained on the store's own payloads; never changed.
payload_dictionaries = Table(
    "payload_dictionaries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # the id zstd writes into each frame
    Column("data", LargeBinary, nullable=False),
    Column("samples", Integer, nullable=False),  # how many payloads it was trained on
)

score_changes = Table(
    "score_changes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("kind", String(12), nullable=False),  # fit | engagement
    Column("rule_id", String(80), nullable=False),
    Column("delta", Float, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("activity_id", Id),
    Column("playbook_version", String(12), nullable=False),
)

stage_changes = Table(
    "stage_changes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("from_stage", String(16)),
    Column("to_stage", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("transition", String(16), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", Text),
    Column("activity_id", Id),
    Column("playbook_version", String(12)),
    Index("ix_stage_changes_lead_id_at", "lead_id", "at"),
)

# Absence timers (the playbook's `followups`): started by what a lead did, cancelled by what it did next, fired
# by the worker once due (`leadrelay.lead.followups`).
followup_timers = Table(
    "followup_timers", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("followup", String(80), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(12), nullable=False),  # pending | fired | cancelled | dropped
    Column("closed_at", UTCDateTime),
    Column("activity", Text),  # the message id of the activity that started it
    Column("data", Document, nullable=False),  # that activity's event, path and properties
    Index("ix_followup_timers_status_due_at", "status", "due_at"),
    Index("ix_followup_timers_lead_id", "lead_id"),
)

rejections = Table(
    "rejections", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("message_id", String(200)),
    Column("position", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text),
    Column("received_at", UTCDateTime, nullable=False),  # the first time it was turned away
    # The same message turned away for the same reason is one row however often it is sent (see
    # `insert_rejections`); rows stored before migration 0015 have none and are never merged.
    Column("fingerprint", String(64)),
    Column("seen", Integer, nullable=False, default=1, server_default="1"),
    Column("last_seen_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "fingerprint", name="uq_rejections_source_fingerprint"),
)
