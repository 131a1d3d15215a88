"""The shape of every notification payload, per event type: what a webhook receiver can rely on.

Each webhook body is `{"type", "timestamp", "data"}` (Standard Webhooks). The models below
say what `data` holds for each `type`; `notification_schema()` turns them into the JSON
Schema published as `docs/notifications.schema.json` (a test keeps the file in step with
this module, and another checks every payload the engine writes against it). Fields may
be added over time; none is removed or changes type without a new event type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class LeadRef(_Open):
    """Who the lead is."""

    id: int
    email: str | None
    name: str | None
    title: str | None
    company: str | None
    stage: str | None


class Person(_Open):
    """A rep: id, name and email. A rep the active playbook no longer has keeps their id; name and email are null."""

    id: str
    name: str | None
    email: str | None


class Scores(_Open):
    fit: float
    engagement: float


class Trigger(_Open):
    """What made it happen: the rule or person, and the reason with the scores it read."""

    rule: str
    reason: str | None
    transition: str | None = None
    activity: str | None = Field(None, description="The message id of the activity that triggered it.")


class Sla(_Open):
    policy: str
    deadline: Literal["accept", "first_touch", "touches", "follow_up"] = Field(
        description="follow_up: the task a meeting no-show opened.")
    due_at: str
    step: int | None = Field(None, description="Escalations: the step of the clock's ladder (from 1).")
    action: str | None = Field(None, description="Escalations: notify_rep, notify_manager, reassign, "
                               "return_to_marketing.")


class HandoffRef(_Open):
    id: int
    kind: str
    status: str
    deadlines: dict[str, str]


class Common(_Open):
    """In every notice about a lead."""

    lead_id: int
    lead: LeadRef
    why: str = Field(description="The trigger in words: the hand-raiser, the stage criteria with the scores, "
                     "or the SLA step.")
    fit: float
    scores: Scores
    playbook_version: str


class LeadMql(Common):
    trigger: Trigger
    actor: str
    reason: str | None = None


class HandoffOpened(Common):
    function: str = Field(description="Who receives it: sdr, ae, customer_success, ...")
    team: str | None = Field(None, description="The team, when the lead already had one (a retargeted handoff).")
    kind: str
    trigger: Trigger
    reason: str | None = None
    handoff: HandoffRef | None = None


class LeadAssigned(Common):
    owner: Person
    team: str | None
    reason: str
    handoff: HandoffRef
    previous_owner: Person | None = Field(None, description="Who had it before (a reassignment).")


class LeadAccepted(Common):
    owner: Person
    actor: str
    handoff: HandoffRef


class LeadSentBack(Common):
    """Rejected or recycled: back to marketing. `actor` says who: a rep (`user:ID`); a recycle may also be the
    stale check's (`rule:stale`: nobody touched the lead for `stale.after_days`)."""

    trigger: Trigger
    actor: str
    reason: str | None
    from_stage: str
    previous_owner: Person | None = None


class LeadReturned(Common):
    """Handed back to marketing by the engine, not by a person: an SLA ladder's `return_to_marketing` step. A rep's
    rejection is `lead.rejected`."""

    trigger: Trigger
    actor: str = Field(description="The rule that returned it: rule:sla.POLICY.")
    reason: str = Field(description="A reason code: sla_breached.")
    returned_by: str = Field(description="What returned it: sla (an SLA ladder's return_to_marketing step).")
    transition: str = Field(description="The stage move it made: reject (back to stage lead).")
    from_stage: str
    sla: Sla = Field(description="The step that returned it: policy, deadline, due_at, step (from 1) and action.")
    previous_owner: Person | None = None


class LeadDisqualified(Common):
    trigger: Trigger
    actor: str
    reason: str | None
    previous_owner: Person | None = None


class LeadStale(Common):
    owner: Person | None = None
    reason: str


class SlaNotice(Common):
    sla: Sla
    owner: Person | None = None
    handoff: HandoffRef | None = None


class SlaEscalated(SlaNotice):
    reason: str = Field(description="The step's action.")
    escalated_to: Person | str | None = Field(None, description="The new owner (reassign), the manager's "
                                              "email (notify_manager), the owner (notify_rep) or 'marketing'.")
    previous_owner: Person | None = None
    queued_for: str | None = Field(None, description="A reassign that found nobody else: the team whose queue the "
                                   "lead waits in (the receiving function, sdr or ae, when no routing rule names a "
                                   "team); owner and escalated_to are then null.")


class AlertRef(_Open):
    id: str
    description: str | None
    rearm: str = Field(description="once, crossing, or a duration (at most once per that long).")


class AlertFired(Common):
    """An alert rule of the playbook held for the lead (not a stage move)."""

    alert: AlertRef
    trigger: Trigger
    owner: Person | None = Field(None, description="The lead's owner, when sales has it.")


class FollowupRef(_Open):
    id: str
    description: str | None
    within: str = Field(description="The wait, as the playbook says it: 30m, 7d.")
    started_at: str


class FollowupDue(Common):
    """An absence timer came due: the lead did X and not Y within the wait (form abandonment, an unused trial)."""

    followup: FollowupRef
    started_by: dict[str, Any] = Field(description="The activity that started the wait: type, event, path, "
                                                   "properties (the form, say).")
    trigger: Trigger
    owner: Person | None = None
    suppressed: list[str] = Field(default_factory=list, description=(
        "The lead's suppressed channels when the wait came due, as the playbook's suppression section names them "
        "(the starter's `email`: unsubscribed, bounced, or sales owns the lead): an email tool must not email a "
        "lead whose email is suppressed."))


class LeadPql(Common):
    """The lead met the playbook's product-qualified (PQL) signals: a flag for sales, not a stage move."""

    signals: list[str] = Field(description="The PQL signals the lead has shown.")
    trigger: Trigger


class MeetingRef(_Open):
    """A meeting as the API shows it (`GET /api/leads/{ref}/meetings`)."""

    id: int
    lead_id: int
    status: Literal["booked", "held", "no_show", "canceled"]
    host: str | None = Field(description="The rep who meets the lead (id).")
    starts_at: str | None = Field(description="When it starts; null when it was booked without a time.")
    booked_at: str
    ended_at: str | None = Field(description="When it was held, missed or canceled.")
    reschedules: int
    source: Literal["rep", "api", "segment"]
    external_id: str | None = Field(description="The scheduler's id for it (properties.meetingId).")
    credited_to: str | None = Field(description="The rep round robin credits for it.")
    credit: int = Field(description="Its round-robin credit now, in assignments (0 once taken back).")


class MeetingNotice(Common):
    """A meeting booked, rescheduled, held, missed (no-show) or canceled."""

    meeting: MeetingRef
    actor: str = Field(description="Who or what reported it: user:ID, token:NAME or activity:MESSAGE_ID.")
    owner: Person | None = Field(None, description="The lead's owner, when sales has it.")
    host: Person | None = None
    handoff: HandoffRef | None = None
    follow_up_due_at: str | None = Field(None, description="No-show: when the owner's follow-up is due.")


class AccountRef(_Open):
    id: int
    name: str | None
    domain: str | None


class Deal(_Open):
    """An opportunity as the API shows it (`GET /api/opportunities/{id}`)."""

    id: int
    name: str
    kind: Literal["new_business", "expansion"]
    account: AccountRef
    owner: str
    amount: float
    currency: str
    close_date: str
    stage: str
    probability: float
    forecast_category: str
    status: Literal["open", "won", "lost"]
    lost_reason: str | None
    version: int


class OpportunityNotice(Common):
    """An opportunity opened, changed (stage, probability, amount, close date, owner), won or lost."""

    opportunity: Deal
    changes: dict[str, list[Any]] = Field(description="What changed: field -> [old, new].")
    actor: str
    owner: Person | None = None
    reason: str | None = Field(None, description="Lost: the playbook's lost reason.")


DATA: dict[str, type[BaseModel]] = {
    "lead.mql": LeadMql,
    "lead.handoff_opened": HandoffOpened,
    "lead.assigned": LeadAssigned,
    "lead.accepted": LeadAccepted,
    "lead.rejected": LeadSentBack,
    "lead.recycled": LeadSentBack,
    "lead.disqualified": LeadDisqualified,
    "lead.stale": LeadStale,
    "lead.returned": LeadReturned,
    "sla.warning": SlaNotice,
    "sla.breached": SlaNotice,
    "sla.escalated": SlaEscalated,
    "alert.fired": AlertFired,
    "followup.due": FollowupDue,
    "lead.pql": LeadPql,
    "meeting.booked": MeetingNotice,
    "meeting.rescheduled": MeetingNotice,
    "meeting.held": MeetingNotice,
    "meeting.no_show": MeetingNotice,
    "meeting.canceled": MeetingNotice,
    "opportunity.opened": OpportunityNotice,
    "opportunity.changed": OpportunityNotice,
    "opportunity.won": OpportunityNotice,
    "opportunity.lost": OpportunityNotice,
}


def _envelope(event_type: str, data: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.title() for part in event_type.replace("_", ".").split(".")) + "Notification"
    return type(name, (BaseModel,), {
        "__annotations__": {"type": Literal[event_type], "timestamp": str, "data": data},
        "__doc__": f"A `{event_type}` notification.",
    })


_ENVELOPES = tuple(_envelope(event_type, model) for event_type, model in DATA.items())
Notification: TypeAdapter[Any] = TypeAdapter(Annotated[Union[_ENVELOPES], Field(discriminator="type")])  # noqa: UP007


def validate(payload: dict[str, Any]) -> None:
    """Raise pydantic.ValidationError unless `payload` has its event type's documented shape."""
    Notification.validate_python(payload)


def notification_schema() -> dict[str, Any]:
    """The JSON Schema of a notification body, one variant per event type."""
    schema = Notification.json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "LeadRelay notification", "description": __doc__.strip().splitlines()[0]} | schema
