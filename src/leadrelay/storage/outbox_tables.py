"""The transactional outbox and the notification endpoints it delivers to.

Outbox rows are written in the same transaction as the state change that causes them
(`leadrelay.delivery.outbox.enqueue`) and delivered by the worker
(`leadrelay.delivery.dispatcher.deliver_due`). Migration: 0003_outbox_and_endpoints.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from leadrelay.storage.tables import Document, Id, UTCDateTime, metadata

# Outbox statuses: waiting (or leased by a worker), delivered, given up, held for a disabled endpoint.
PENDING, SENT, DEAD, DISABLED, WITHDRAWN = "pending", "sent", "dead", "disabled", "withdrawn"
STATUSES = (PENDING, SENT, DEAD, DISABLED, WITHDRAWN)  # withdrawn: overtaken before it was sent
CHANNELS = ("webhook", "slack", "email")

outbox = Table(
    "outbox", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", String(64), nullable=False, unique=True),  # the webhook-id: stable across retries
    Column("event_type", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # webhook | slack | email
    Column("target", String(320), nullable=False),  # channel id (webhook, slack) or email address
    Column("lead_id", Id, index=True),  # no foreign key: a notice may outlive a merged lead; deliveries never block
    Column("payload", Document, nullable=False),  # {"type", "timestamp", "data"} (Standard Webhooks shape)
    Column("status", String(16), nullable=False),  # pending | sent | dead | disabled
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

endpoints = Table(
    "endpoints", metadata,
    Column("id", String(80), primary_key=True),  # the notification channel id from the playbook
    Column("kind", String(16), nullable=False),  # webhook | slack
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", Text),
)
