"""Tables for the handoff: handoffs, routing decisions, SLA timers, touches, meetings, rep overrides, suppressions,
the domain event log and the per-rep assignment counters routing reads."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text, false

from leadrelay.storage.tables import Document, Id, UTCDateTime, metadata

handoffs = Table(
    "handoffs", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # mql | hand_raise | sal | sql | ... | recycle | reject
    Column("from_function", String(20), nullable=False),
    Column("to_function", String(20), nullable=False),
    Column("team", String(80)),
    Column("owner", String(80)),
    Column("status", String(10), nullable=False),  # queued | assigned | accepted | working | closed
    Column("outcome", String(20)),  # advanced | rejected | recycled | disqualified | returned | superseded
    Column("reason", Text),
    Column("policy_id", String(80)),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("assigned_at", UTCDateTime),
    Column("accepted_at", UTCDateTime),
    Column("first_touch_at", UTCDateTime),
    Column("last_touch_at", UTCDateTime),
    Column("touches", Integer, nullable=False, default=0),
    Column("touches_required", Integer),
    Column("accept_due_at", UTCDateTime),
    Column("first_touch_due_at", UTCDateTime),
    Column("touches_due_at", UTCDateTime),
    Column("stale_alerted_at", UTCDateTime),
    Column("closed_at", UTCDateTime),
    Column("playbook_version", String(12)),
    Column("reassignments", Integer, nullable=False, default=0, server_default="0"),  # by SLA rules
    Column("excluded_reps", Document),  # reps it must not go back to (they breached it)
    Column("quiet_until", UTCDateTime),  # loaded history: deadlines up to here are recorded, never alerted
    Column("follow_up_due_at", UTCDateTime),  # the follow-up task a meeting no-show opened
    Column("follow_up_from", UTCDateTime),
    Column("follow_up_met_at", UTCDateTime),
    Index("ix_handoffs_status_owner", "status", "owner"),
    Index("ix_handoffs_status_team_opened_at", "status", "team", "opened_at"),
)

routing_decisions = Table(
    "routing_decisions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("handoff_id", Id, ForeignKey("handoffs.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("rule_id", String(80)),
    Column("team", String(80)),
    Column("owner", String(80), index=True),
    Column("reason", Text, nullable=False),
    Column("candidates", Document, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("playbook_version", String(12)),
    # a handoff's decisions, latest last: what assigning a queue reads of each waiting lead (migration 0019)
    Index("ix_routing_decisions_handoff_id_id", "handoff_id", "id"),
)

sla_timers = Table(
    "sla_timers", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("handoff_id", Id, ForeignKey("handoffs.id"), nullable=False, index=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("policy_id", String(80), nullable=False),
    Column("deadline", String(12), nullable=False),  # accept | first_touch | touches
    Column("step", String(12), nullable=False),  # warning | breach | escalation
    Column("step_index", Integer, nullable=False),
    Column("action", String(24)),
    Column("due_at", UTCDateTime, nullable=False),  # the deadline this timer belongs to
    Column("fire_at", UTCDateTime, nullable=False),
    Column("fired_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    Column("outcome", Text),
    Index("ix_sla_timers_pending", "fired_at", "cancelled_at", "fire_at"),
)

touches = Table(
    "touches", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("handoff_id", Id, ForeignKey("handoffs.id")),
    Column("rep", String(80), nullable=False),
    Column("kind", String(16), nullable=False),  # call | email | meeting | social | other
    Column("outcome", String(40), nullable=False),
    Column("note", Text),
    Column("at", UTCDateTime, nullable=False),
)

meetings = Table(
    "meetings", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("handoff_id", Id, ForeignKey("handoffs.id")),
    Column("host", String(80)),  # the rep who meets the lead
    Column("status", String(10), nullable=False),  # booked | held | no_show | canceled
    Column("starts_at", UTCDateTime),
    Column("booked_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),  # held, no-show or canceled at
    Column("reschedules", Integer, nullable=False, default=0),
    Column("source", String(10), nullable=False),  # rep | api | segment
    Column("external_id", String(200)),  # the scheduler's id for it
    Column("credited_to", String(80)),  # the rep round robin credits for it
    Column("credit", Integer, nullable=False, default=0),
    Column("updated_by", String(120), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_meetings_external_id", "external_id"),
)

rep_overrides = Table(
    "rep_overrides", metadata,
    Column("rep", String(80), primary_key=True),
    Column("active", Boolean),
    Column("capacity", Integer),
    Column("daily_quota", Integer),
    Column("weight", Float),
    Column("away", Document),  # [[from, to], ...] added through the CLI
    Column("updated_by", String(120), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

account_owners = Table(
    "account_owners", metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("rep", String(80), nullable=False),
    Column("set_by", String(120), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

suppressions = Table(
    "suppressions", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),
    Column("channel", String(10), nullable=False),  # email | ads | calls
    Column("reason", Text, nullable=False),
    Column("source", String(120), nullable=False),  # handoff:<id>, rule:<id>, user:<who>
    Column("permanent", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lifted_at", UTCDateTime),
    Column("lifted_reason", Text),
    Index("ix_suppressions_channel_lifted_at", "channel", "lifted_at"),
)

domain_events = Table(
    "domain_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(40), nullable=False),  # StageChanged, LeadAssigned, SlaBreached, ...
    Column("at", UTCDateTime, nullable=False),  # when it happened (event time)
    Column("recorded_at", UTCDateTime, nullable=False),  # when the engine decided it
    Column("lead_id", Id),
    Column("handoff_id", Id),
    Column("cause", Text, nullable=False),  # the rule, person or activity behind it
    Column("data", Document, nullable=False),
    Column("quiet", Boolean, nullable=False, default=False, server_default=false()),  # recorded, nobody told
    Column("playbook_version", String(12)),
    Index("ix_domain_events_type_at", "type", "at"),
    # A lead's events, and those of one type newest first (`leads show`: its alerts, its meeting notes) without
    # going through every event of that type (migration 0020).
    Index("ix_domain_events_lead_id_type_at", "lead_id", "type", "at"),
)

rep_assignment_counts = Table(
    "rep_assignment_counts", metadata,
    Column("rep", String(80), primary_key=True),
    Column("day", String(10), primary_key=True),  # the rep's local date (YYYY-MM-DD), or '' for all time
    Column("assigned", Integer, nullable=False),
)
