"""Playbook sections for the handoff: calendars, teams, reps, routing, SLA policies, stale leads, suppression."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator

from leadrelay.handoff.calendar import BusinessCalendar, parse_duration
from leadrelay.handoff.meetings import DEFAULT_EVENTS
from leadrelay.lead.stages import Team
from leadrelay.playbook.conditions import Compare, Condition
from leadrelay.playbook.schema_base import ACTIVITY_FIELDS, LEAD_FIELDS, RuleId, Strict, reads


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"give a duration with a unit, e.g. '{value}m' or '{value}h'")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like '5m', '48h' or '2d', got {value!r}")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Hours = dict[str, str | list[str]]


def _office_hours() -> Hours:
    return {"mon-fri": "09:00-17:00"}


class CalendarSpec(Strict):
    """Working hours in a timezone, with holidays: the clock business-hours SLAs run on."""

    timezone: str
    hours: Hours = Field(default_factory=_office_hours)
    holidays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> CalendarSpec:
        self.build()
        return self

    def build(self) -> BusinessCalendar:
        return BusinessCalendar.parse(self.timezone, self.hours, self.holidays)


class Person(Strict):
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class TeamSpec(Strict):
    id: RuleId
    function: Team = Field(description="Which stage owner this team serves: sdr, ae, customer_success, marketing.")
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"
    calendar: str | None = Field(None, description="Name of a calendar in `calendars`.")
    manager: Person | None = None
    working_hours_only: bool = Field(False, description="Skip reps who are outside their working hours now.")


class AwayPeriod(Strict):
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> AwayPeriod:
        if self.end < self.start:
            raise ValueError(f"'to' ({self.end}) is before 'from' ({self.start})")
        return self


class RepSpec(Strict):
    id: RuleId
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    team: str
    manager: Person | None = Field(None, description="Overrides the team's manager.")
    timezone: str | None = Field(None, description="Overrides the team calendar's timezone.")
    working_hours: Hours | None = Field(None, description="Overrides the team calendar's hours.")
    out_of_office: list[AwayPeriod] = Field(default_factory=list)
    active: bool = True
    capacity: int | None = Field(None, ge=0, description="Most open leads at once, e.g. 500.")
    daily_quota: int | None = Field(None, ge=0, description="Most new leads per day.")
    weight: float = Field(1.0, gt=0, description="Share of round-robin assignments relative to teammates.")


class RouteRule(Strict):
    id: RuleId
    when: Condition | None = Field(None, description="No condition: a catch-all.")
    team: str | None = None
    rep: str | None = None

    _reads = reads("when", LEAD_FIELDS, "a routing rule")

    @model_validator(mode="after")
    def _target(self) -> RouteRule:
        if (self.team is None) == (self.rep is None):
            raise ValueError("a routing rule names exactly one of `team` or `rep`")
        return self


class Routing(Strict):
    account_owner_first: bool = Field(default=True,
                                      description="A lead whose company has an account owner goes to that owner.")
    rules: list[RouteRule] = Field(default_factory=list)


EscalationAction = Literal["notify_rep", "notify_manager", "reassign", "return_to_marketing"]


class EscalationStep(Strict):
    after: Duration = Field(description="Time after the breach (on the policy's clock).")
    action: EscalationAction
    restart_clock: bool = Field(False, description="reassign only: the new owner gets a fresh deadline and the "
                                "whole ladder again (needs the policy's max_reassignments).")
    to_same_rep: bool = Field(False, description="reassign only: the rep who missed the deadline may get the "
                              "lead back when nobody else can take it.")

    @model_validator(mode="after")
    def _reassign_options(self) -> EscalationStep:
        for option in ("restart_clock", "to_same_rep"):
            if getattr(self, option) and self.action != "reassign":
                raise ValueError(f"`{option}` applies to a reassign step, not {self.action}")
        return self

    @field_validator("after", mode="before")
    @classmethod
    def _zero_ok(cls, value: object) -> object:
        return timedelta(0) if value in ("0", "0m", "0s", 0) else value


class Persistence(Strict):
    count: int = Field(ge=1, description="Touches required...")
    within: Duration = Field(description="...within this long after the handoff opens.")


HandoffKind = Literal["mql", "hand_raise", "sal", "sql", "expansion"]


class Ladders(Strict):
    """One escalation ladder per SLA clock; a clock without one only warns and records its breach."""

    accept: list[EscalationStep] = Field(default_factory=list)
    first_touch: list[EscalationStep] = Field(default_factory=list)
    touches: list[EscalationStep] = Field(default_factory=list)
    follow_up: list[EscalationStep] = Field(default_factory=list)


# A list, or a mapping of clock -> list: told apart up front, so a mistake is reported once, in its own terms.
Escalation = Annotated[
    Annotated[list[EscalationStep], Tag("list")] | Annotated[Ladders, Tag("ladders")],
    Discriminator(lambda value: "list" if isinstance(value, list) else "ladders"),
]


class SlaPolicy(Strict):
    id: RuleId
    handoff: HandoffKind = Field(description="Which handoffs it applies to.")
    clock: Literal["business", "wall"] = "business"
    accept_within: Duration | None = None
    first_touch_within: Duration | None = None
    touches: Persistence | None = None
    follow_up_within: Duration | None = Field(None, description="After a meeting no-show the owner must follow "
                                              "up (log a touch or book again) within this long.")
    warn_before: Duration | None = None
    escalation: Escalation = Field(
        default_factory=list, description="A list: the ladder of the accept and first-touch clocks (the touches "
        "and follow-up clocks then only record their breach). A mapping: a ladder per clock (accept, first_touch, "
        "touches, follow_up).")
    max_reassignments: int | None = Field(None, ge=0, description="Most reassignments by SLA steps per handoff; "
                                          "past it a reassign step is skipped and the steps after it run.")

    @model_validator(mode="after")
    def _some_deadline(self) -> SlaPolicy:
        if not (self.accept_within or self.first_touch_within or self.touches or self.follow_up_within):
            raise ValueError("an SLA policy needs at least one of accept_within, first_touch_within, touches, "
                             "follow_up_within")
        return self

    def running(self) -> dict[str, object]:
        """Clock name -> what sets it (None: the policy does not run that clock)."""
        return {"accept": self.accept_within, "first_touch": self.first_touch_within, "touches": self.touches,
                "follow_up": self.follow_up_within}

    def ladders(self) -> dict[str, list[EscalationStep]]:
        """Clock name -> its ladder, for the clocks this policy runs."""
        running = self.running()
        if isinstance(self.escalation, list):
            return {clock: self.escalation for clock in ("accept", "first_touch") if running[clock]}
        return {clock: steps for clock, steps in vars(self.escalation).items() if steps}


class MarketingSla(Strict):
    mqls_per_month: int = Field(ge=1, description="MQLs marketing promises to deliver each calendar month.")


class Sla(Strict):
    policies: list[SlaPolicy] = Field(default_factory=list)
    marketing: MarketingSla | None = None

    @model_validator(mode="after")
    def _one_per_kind(self) -> Sla:
        seen: dict[str, str] = {}
        for policy in self.policies:
            if policy.handoff in seen:
                raise ValueError(f"policies '{seen[policy.handoff]}' and '{policy.id}' both apply to "
                                 f"'{policy.handoff}' handoffs")
            seen[policy.handoff] = policy.id
        return self


class MeetingEvents(Strict):
    """The Segment track events a scheduler sends for each meeting step (case-insensitive)."""

    booked: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS["book"]))
    rescheduled: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS["reschedule"]))
    held: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS["held"]))
    no_show: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS["no_show"]))
    canceled: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS["cancel"]))

    @model_validator(mode="after")
    def _each_event_once(self) -> MeetingEvents:
        seen: dict[str, str] = {}
        for step, names in vars(self).items():
            for name in names:
                if not name.strip():
                    raise ValueError(f"{step}: an event name cannot be empty")
                if name.casefold() in seen and seen[name.casefold()] != step:
                    raise ValueError(f"'{name}' is both a {seen[name.casefold()]} and a {step} event")
                seen[name.casefold()] = step
        return self


class MeetingCredit(Strict):
    """Round-robin credit for booked meetings, in assignments."""

    booked: int = Field(default=0, ge=0, le=100, description="What a booked meeting adds to its host's round-robin "
                        "count (0: meetings do not count).")
    no_show: Literal["keep", "refund"] = Field(default="refund",
                                               description="A no-show keeps its credit or gives it back.")
    canceled: Literal["keep", "refund"] = Field(default="refund", description="A cancellation keeps its credit or "
                                                "gives it back.")
    reassigned: Literal["move", "keep"] = Field(default="move", description="A meeting still to come when the lead "
                                                "is reassigned: its credit moves to the new owner, or stays.")


class Meetings(Strict):
    events: MeetingEvents = Field(default_factory=MeetingEvents)
    credit: MeetingCredit = Field(default_factory=MeetingCredit)


class Stale(Strict):
    after_days: float = Field(gt=0, description="A lead in a sales stage with no touch for this long is stale.")
    recycle: bool = Field(False, description="Recycle stale leads (else only alert).")
    reason: RuleId = "no_response"


Channel = Literal["email", "ads", "calls"]


class PermanentSuppression(Strict):
    id: RuleId
    when: Condition
    channel: Channel = "email"
    reason: str

    _reads = reads("when", ACTIVITY_FIELDS, "a suppression rule")


def _default_permanent() -> list[PermanentSuppression]:
    return [
        PermanentSuppression(id="unsubscribed", when=Compare(field="event", op="==", value="Email Unsubscribed"),
                             reason="unsubscribed"),
        PermanentSuppression(id="bounced", when=Compare(field="event", op="==", value="Email Bounced"),
                             reason="bounced"),
    ]


def _email_only() -> list[Channel]:
    return ["email"]


class Suppression(Strict):
    while_owned_by_sales: list[Channel] = Field(default_factory=_email_only)
    permanent: list[PermanentSuppression] = Field(default_factory=_default_permanent)


__all__ = [
    "CalendarSpec", "Duration", "EscalationStep", "HandoffKind", "Ladders", "Meetings", "Person", "RepSpec",
    "RouteRule", "Routing",
    "Sla", "SlaPolicy", "Stale", "Suppression", "TeamSpec",
]
