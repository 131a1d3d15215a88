"""Notices in words, for people (Slack and email): who, what, when and why in one line.

Rendering reads the conventional keys of a notice's data (see leadrelay.delivery.notices)
and leaves out whatever is missing, so a sparse notice still reads well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leadrelay.core.numbers import score_text

# event type -> (Slack emoji, title)
EVENT_TEXT: dict[str, tuple[str, str]] = {
    "lead.mql": (":sparkles:", "New MQL"),
    "lead.handoff_opened": (":handshake:", "Handoff opened"),
    "lead.assigned": (":bust_in_silhouette:", "Lead assigned"),
    "lead.accepted": (":white_check_mark:", "Lead accepted"),
    "lead.rejected": (":no_entry_sign:", "Lead rejected"),
    "lead.recycled": (":recycle:", "Lead recycled"),
    "lead.disqualified": (":x:", "Lead disqualified"),
    "lead.stale": (":hourglass:", "Lead gone stale"),
    "lead.returned": (":leftwards_arrow_with_hook:", "Lead returned"),
    "sla.warning": (":warning:", "SLA warning"),
    "sla.breached": (":rotating_light:", "SLA breached"),
    "sla.escalated": (":mega:", "SLA escalated"),
    "alert.fired": (":bell:", "Alert"),
    "followup.due": (":envelope:", "Follow-up due"),
    "lead.pql": (":rocket:", "Product-qualified lead"),
    "meeting.booked": (":calendar:", "Meeting booked"),
    "meeting.rescheduled": (":calendar:", "Meeting rescheduled"),
    "meeting.held": (":handshake:", "Meeting held"),
    "meeting.no_show": (":ghost:", "Meeting no-show"),
    "meeting.canceled": (":calendar:", "Meeting canceled"),
    "opportunity.opened": (":briefcase:", "Opportunity opened"),
    "opportunity.changed": (":pencil2:", "Opportunity changed"),
    "opportunity.won": (":trophy:", "Opportunity won"),
    "opportunity.lost": (":small_red_triangle_down:", "Opportunity lost"),
    "test.ping": (":wave:", "Test message from LeadRelay"),
}


# SLA deadline names as people say them
DEADLINE_WORDS = {"accept": "acceptance", "first_touch": "first touch", "touches": "follow-up touches",
                  "follow_up": "no-show follow-up"}


def title(event_type: str) -> str:
    return EVENT_TEXT.get(event_type, ("", event_type))[1]


def emoji(event_type: str) -> str:
    return EVENT_TEXT.get(event_type, (":bell:", ""))[0] or ":bell:"


def lead_label(data: dict[str, Any], lead_id: Any = None) -> str | None:
    """`jane@acme.io (Acme)`, `Jane Doe (Acme)` or `#42`."""
    lead = data.get("lead")
    if not isinstance(lead, dict):
        lead = {}
    who = lead.get("email") or lead.get("name")
    ident = lead.get("id", data.get("lead_id", lead_id))
    label = str(who) if who else (f"#{ident}" if ident is not None else None)
    company = lead.get("company") or lead.get("account")
    if label and company:
        label += f" ({company})"
    return label


def person(value: Any) -> str | None:
    """`Alice` from "Alice" or {"name": "Alice", "email": ...}."""
    if isinstance(value, dict):
        return value.get("name") or value.get("email") or value.get("id")
    return str(value) if value not in (None, "") else None


def clock_time(value: Any, reference: datetime | None = None) -> str:
    """`14:05 UTC` (with the date when it is not the reference day)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if reference is not None and moment.date() != reference.astimezone(UTC).date():
        return f"{moment:%b} {moment.day} {moment:%H:%M} UTC"
    return moment.strftime("%H:%M UTC")


def parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def details(data: dict[str, Any], reference: datetime | None = None) -> list[str]:
    """The why and who of a notice as short phrases, in reading order."""
    out: list[str] = []
    from_stage, to_stage = data.get("from_stage"), data.get("to_stage")
    if from_stage and to_stage:
        out.append(f"{from_stage} → {to_stage}")
    elif to_stage:
        out.append(f"now {to_stage}")
    sla = data.get("sla")
    if isinstance(sla, dict) and sla.get("due_at"):
        kind = str(sla.get("kind") or sla.get("deadline") or "response")
        kind = DEADLINE_WORDS.get(kind, kind.replace("_", " "))
        out.append(f"{kind} due {clock_time(sla['due_at'], reference)}")
    elif data.get("due_at"):
        out.append(f"due {clock_time(data['due_at'], reference)}")
    if owner := person(data.get("owner")):
        out.append(f"owner {owner}")
    if data.get("team"):
        out.append(f"team {data['team']}")
    elif data.get("function"):
        out.append(f"for {str(data['function']).replace('_', ' ')}")
    if escalated := person(data.get("escalated_to")):
        out.append(f"escalated to {escalated}")
    why, reason = data.get("why"), data.get("reason")
    if why:
        out.append(f"why: {why}")
    if reason and (not why or str(reason) not in str(why)):
        out.append(f"reason: {reason}")
    scores = [f"{k} {score_text(data[k])}" for k in ("fit", "engagement") if isinstance(data.get(k), int | float)]
    if scores:
        out.append(", ".join(scores))
    if actor := person(data.get("actor")):
        out.append(f"by {actor}")
    return out


def summary(payload: dict[str, Any], lead_id: Any = None) -> str:
    """`SLA breached: lead jane@acme.io (Acme) — acceptance due 14:05 UTC, owner Alice` (no emoji)."""
    event_type = str(payload.get("type", ""))
    data = payload.get("data") or {}
    reference = parse_time(payload.get("timestamp"))
    text = title(event_type)
    label = lead_label(data, lead_id)
    if label:
        text += f": lead {label}"
    parts = details(data, reference)
    if parts:
        text += " — " + ", ".join(parts)
    return text
