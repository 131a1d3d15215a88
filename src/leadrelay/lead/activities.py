"""Activities: what a lead did or said about itself, as received from a source.

An *activity* comes from outside (a page view, a form fill, an identify call). A *domain
event* is something the engine decided (a stage change). The two are named apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


@dataclass(slots=True)
class Activity:
    """One accepted Segment-spec message, normalised.

    `occurred_at` is when it happened (Segment's clock-skew rule applied), `received_at`
    when LeadRelay got it. `email` is normalised (lower case, trimmed) when present in
    traits or context.traits. `traits` is `context.traits` merged with `traits`.
    `name` is the track event name, or the page/screen name.
    """

    source: str
    message_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    anonymous_id: str | None = None
    user_id: str | None = None
    email: str | None = None
    name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    previous_id: str | None = None
    id: int | None = None  # storage id, once stored

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.message_id)


@dataclass(slots=True, frozen=True)
class Rejection:
    """A message that could not be accepted, with the reason and where in the input it was."""

    position: str  # e.g. "line 12" or "batch[3]"
    reason: str
    message_id: str | None = None
    raw: Any = None
