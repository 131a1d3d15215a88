"""Notices: what the engine tells people and systems about what it decided.

A *notice* is the outward face of a domain event (a lead became an MQL, an SLA was
breached). The engine produces notices in the same transaction as the state change that
causes them; `leadrelay.delivery.outbox.enqueue` turns each one into outbox rows (one
per matching webhook, Slack channel or email recipient), and the worker delivers them.

Standard library only: no SQLAlchemy, no HTTP, no clock (time comes in as an argument).

`data` answers who, what, when and why, and must be JSON-able. The delivery channels read
these conventional keys when present (every one is optional; unknown keys are passed on
to webhooks untouched and listed in emails):

    lead         {"id": 42, "email": "jane@acme.io", "name": "Jane Doe", "company": "Acme"}
    actor        who or what caused it: "user:sam", "rule:stage.mql.entry", "sla"
    owner        the rep who owns the lead now: {"id", "name", "email"} (name and email null for a rep
                 the playbook no longer names); previous_owner and host likewise
    team         the team the lead is with or handed to: "sdr"
    from_stage   stage before a move                     to_stage   stage after it
    reason       why: a reason code ("not_ready") or a sentence
    sla          {"policy": "inbound", "deadline": "accept", "due_at": "2026-10-01T14:05:00Z"}
    escalated_to who an SLA breach was escalated to: a rep as `owner`, a manager's address, or "marketing"
    fit, engagement   scores at the time

`recipients` maps roles to email addresses ({"owner": "alice@acme.io", "manager":
"maria@acme.io"}); the playbook's email section names roles per event type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENT_TYPES: tuple[str, ...] = (
    "lead.mql",
    "lead.handoff_opened",
    "lead.assigned",
    "lead.accepted",
    "lead.rejected",
    "lead.recycled",
    "lead.disqualified",
    "lead.stale",
    "lead.returned",  # the engine handed the lead back to marketing (an SLA ladder), not a rep's rejection
    "sla.warning",
    "sla.breached",
    "sla.escalated",
    "alert.fired",
    "followup.due",
    "lead.pql",
    "meeting.booked",
    "meeting.rescheduled",
    "meeting.held",
    "meeting.no_show",
    "meeting.canceled",
    "opportunity.opened",
    "opportunity.changed",
    "opportunity.won",
    "opportunity.lost",
    "test.ping",
)

# Roles an email rule may name instead of an address; a notice's `recipients` fills them in (team: every active
# rep of the owner's team).
RECIPIENT_ROLES: tuple[str, ...] = ("owner", "manager", "team")


@dataclass(frozen=True)
class Notice:
    """Something the engine decided that someone should hear about."""

    type: str
    occurred_at: datetime
    lead_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    recipients: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    channels: tuple[str, ...] | None = None  # only these webhook and Slack ids (an alert's own); None: by event type
    emails: tuple[str, ...] | None = None  # roles or addresses to email (an alert's own); None: by event type

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown notice type {self.type!r}; known: {', '.join(EVENT_TYPES)}")
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"naive datetime {self.occurred_at!r}: notices carry UTC times")
