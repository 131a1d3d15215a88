"""Nurture sequences: a lead's progress through a named series of marketing emails.

The email tool reports, through Segment's email events, each email it delivered, and each
one the lead opened or clicked. A playbook sequence names which of those events belong to
it (`match`, a condition over the activity) and how many emails it has; the lead's progress
is then readable by conditions as `sequences.ID.sent`, `.opened`, `.clicked`, `.engaged`
(opened or clicked: distinct emails) and `.completed` (every email delivered). Like the
scores, progress is a function of the activities alone: a replay rebuilds it.

An email is known by its `email_id` property (else its `email_subject`), so a second open
of the same email counts once. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadrelay.lead.model import Lead
from leadrelay.lead.rules import Sequence

SENT = frozenset({"email delivered", "email sent"})
OPENED = frozenset({"email opened"})
CLICKED = frozenset({"email link clicked", "email clicked"})  # Segment's name, and a common one
EMAIL_EVENTS = SENT | OPENED | CLICKED  # case-folded
EMAIL_EVENT_NAMES = ("Email Delivered", "Email Sent", "Email Opened", "Email Link Clicked", "Email Clicked")
KINDS = ("sent", "opened", "clicked")
MAX_EMAILS = 200  # per sequence and kind: a sequence is a handful of emails


def track(lead: Lead, sequences: tuple[Sequence, ...], fields: Mapping[str, Any]) -> None:
    """Count an email event of a sequence into the lead's progress."""
    event = fields.get("event")
    if not isinstance(event, str):
        return
    name = event.casefold()
    kind = "sent" if name in SENT else "opened" if name in OPENED else "clicked" if name in CLICKED else None
    if kind is None:
        return
    properties = fields.get("properties") or {}
    email = properties.get("email_id") or properties.get("email_subject")
    if not isinstance(email, (str, int)) or isinstance(email, bool):
        return
    for sequence in sequences:
        if sequence.match(fields):
            seen = lead.sequences.setdefault(sequence.id, {k: [] for k in KINDS})[kind]
            if str(email) not in seen and len(seen) < MAX_EMAILS:
                seen.append(str(email))


def progress(lead: Lead, sequences: tuple[Sequence, ...]) -> dict[str, dict[str, Any]]:
    """What conditions read as `sequences.ID.*`, for every sequence of the playbook."""
    out = {}
    for sequence in sequences:
        state = lead.sequences.get(sequence.id) or {}
        sent, opened, clicked = (set(state.get(kind, ())) for kind in KINDS)
        out[sequence.id] = {"sent": len(sent), "opened": len(opened), "clicked": len(clicked),
                            "engaged": len(opened | clicked), "emails": sequence.emails,
                            "completed": len(sent) >= sequence.emails}
    return out
