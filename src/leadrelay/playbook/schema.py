"""The playbook file format: what marketing and sales agreed, as validated Pydantic models.

Every model forbids unknown keys, so a typo is an error instead of a silently ignored
rule. Cross-field checks (unique rule ids, fields a condition may read) live here too,
so a playbook either loads whole or not at all.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from leadrelay.lead.sequences import EMAIL_EVENT_NAMES, EMAIL_EVENTS
from leadrelay.lead.stages import AUTOMATIC_STAGES, Stage, Team
from leadrelay.playbook.conditions import Condition, fields_of, required_values
from leadrelay.playbook.countries import normalise_country
from leadrelay.playbook.handoff_schema import (
    CalendarSpec,
    Duration,
    Meetings,
    RepSpec,
    Routing,
    Sla,
    Stale,
    Suppression,
    TeamSpec,
    _duration,
)
from leadrelay.playbook.notifications import Notifications, Recipient
from leadrelay.playbook.patterns import compile_pattern
from leadrelay.playbook.predict_schema import Predict
from leadrelay.playbook.sales_schema import Expansion, Frameworks, Opportunities, Pql, SqlGate
from leadrelay.playbook.schema_base import ACTIVITY_FIELDS, FIT_FIELDS, LEAD_FIELDS, RuleId, Strict, reads

__all__ = ["ACTIVITY_FIELDS", "FIT_FIELDS", "LEAD_FIELDS", "PlaybookModel", "RuleId", "Strict"]


class WebmailPolicy(Strict):
    disqualify: bool = Field(default=True, description="Disqualify leads whose email is at a webmail domain.")
    extra_domains: list[str] = Field(default_factory=list, description="Webmail domains beyond the built-in list.")


class SizeBounds(Strict):
    min: int | None = Field(None, ge=0, description="Fewest employees a served company has.")
    max: int | None = Field(None, ge=0, description="Most employees a served company has.")

    @model_validator(mode="after")
    def _ordered(self) -> SizeBounds:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class DisqualifierRule(Strict):
    id: RuleId
    when: Condition
    reason: str = Field(min_length=1)

    _reads = reads("when", FIT_FIELDS, "a disqualifier")


class Qualification(Strict):
    """Who is out, whatever their score: competitors, webmail, unserved countries, off-ICP."""

    competitors: list[str] = Field(default_factory=list, description="Competitor email/company domains.")
    served_countries: list[str] | None = Field(
        default=None, description="ISO 3166 codes or names of served countries; leads elsewhere are disqualified."
    )
    webmail: WebmailPolicy = Field(default_factory=WebmailPolicy)
    industries: list[str] | None = Field(default=None,
                                         description="If set, leads in other industries are disqualified.")
    company_size: SizeBounds | None = None
    rules: list[DisqualifierRule] = Field(default_factory=list)
    auto_reopen: bool = Field(
        default=True, description="Reopen a lead a rule disqualified once no disqualifier holds any more."
    )

    @field_validator("competitors")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().removeprefix("@") for d in value]

    @field_validator("served_countries")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        codes = [normalise_country(c) for c in value]
        unknown = [c for c, code in zip(value, codes) if code is None]
        if unknown:
            raise ValueError(f"not a country: {', '.join(map(repr, unknown))} (use ISO codes like US, DE, or names)")
        return [code for code in codes if code is not None]


class Persona(Strict):
    id: RuleId
    titles: list[str] = Field(min_length=1, description="Regular expressions matched against the job title.")

    @field_validator("titles")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            compile_pattern(pattern)  # ValueError with why
        return value


class Cap(Strict):
    per_day: float | None = Field(None, gt=0, description="Most points (by size) this rule adds per UTC day.")
    lifetime: float | None = Field(None, gt=0, description="Most points (by size) this rule adds ever.")


class FitRule(Strict):
    id: RuleId
    description: str | None = None
    when: Condition
    points: float

    _reads = reads("when", FIT_FIELDS, "a fit rule")


class EngagementRule(Strict):
    id: RuleId
    description: str | None = None
    when: Condition
    points: float
    cap: Cap | None = None

    _reads = reads("when", ACTIVITY_FIELDS, "an engagement rule")


class FitScoring(Strict):
    min: float | None = None
    max: float | None = Field(default=None, description="The total fit score never goes above this.")
    rules: list[FitRule] = Field(default_factory=list)


class EngagementScoring(Strict):
    half_life_days: float | None = Field(
        default=None, gt=0,
        description="Engagement halves after this many days without new activity; none means no decay.",
    )
    min: float | None = None
    max: float | None = Field(default=None, description="The total engagement score never goes above this.")
    rules: list[EngagementRule] = Field(default_factory=list)


class Scoring(Strict):
    fit: FitScoring = Field(default_factory=FitScoring)
    engagement: EngagementScoring = Field(default_factory=EngagementScoring)


class StageSpec(Strict):
    """A stage the engine may enter on its own: who owns it and the criteria that move a lead in."""

    owner: Team
    entry: Condition | None = Field(default=None,
                                    description="Criteria that move a lead into this stage automatically.")

    _reads = reads("entry", LEAD_FIELDS, "stage entry criteria")


class ActionStageSpec(Strict):
    """A stage reached by an action (identifying, a sales step): only its owner is configured."""

    owner: Team
    entry: Any = None

    @field_validator("entry")
    @classmethod
    def _no_entry(cls, value: Any) -> None:
        if value is not None:
            allowed = ", ".join(s.value for s in AUTOMATIC_STAGES)
            raise ValueError(f"only {allowed} have entry criteria; this stage is reached by an action")
        return None


def _owned(stage: Stage, spec: type[StageSpec | ActionStageSpec]):
    return Field(default_factory=lambda: spec(owner=stage.default_owner))


class Stages(Strict):
    """The lifecycle stages in funnel order. `disqualified` is reached through disqualifiers only."""

    subscriber: ActionStageSpec = _owned(Stage.SUBSCRIBER, ActionStageSpec)
    lead: StageSpec = _owned(Stage.LEAD, StageSpec)
    mql: StageSpec = _owned(Stage.MQL, StageSpec)
    sal: StageSpec = _owned(Stage.SAL, StageSpec)
    sql: ActionStageSpec = _owned(Stage.SQL, ActionStageSpec)
    opportunity: ActionStageSpec = _owned(Stage.OPPORTUNITY, ActionStageSpec)
    customer: ActionStageSpec = _owned(Stage.CUSTOMER, ActionStageSpec)

    def spec(self, stage: Stage) -> StageSpec | ActionStageSpec:
        return getattr(self, stage.value)


class HandRaiser(Strict):
    id: RuleId
    description: str | None = None
    when: Condition
    to: Stage = Stage.SAL

    _reads = reads("when", ACTIVITY_FIELDS, "a hand-raiser trigger")

    @field_validator("to")
    @classmethod
    def _target(cls, value: Stage) -> Stage:
        if value not in AUTOMATIC_STAGES:
            raise ValueError(f"a hand-raiser can move a lead to {', '.join(s.value for s in AUTOMATIC_STAGES)}")
        return value


class SequenceSpec(Strict):
    """A nurture sequence: which of Segment's email events belong to it, and how many emails it has."""

    id: RuleId
    description: str | None = None
    match: Condition = Field(description="Which email events are this sequence's, e.g. "
                                         "{properties.campaign_name: Onboarding Nurture}.")
    emails: int = Field(ge=1, le=100, description="How many emails the sequence sends.")

    _reads = reads("match", ACTIVITY_FIELDS, "a sequence's match")

    @field_validator("match")
    @classmethod
    def _email_events(cls, value: Condition) -> Condition:
        """A match pinned to events a sequence never counts (a typo: Emial Opened) would never move."""
        events = required_values(value, "event")
        unknown = events - EMAIL_EVENTS if events is not None else None
        if unknown:
            raise ValueError(f"a sequence counts Segment's email events only ({', '.join(EMAIL_EVENT_NAMES)}); "
                             f"its match names {', '.join(sorted(map(str, unknown)))}")
        return value


MAX_WAIT = timedelta(days=365)


class FollowupSpec(Strict):
    """An absence timer: "did X but not Y within N" (`leadrelay.lead.followups`)."""

    id: RuleId
    description: str | None = Field(None, description="What it means, in words: the notice says it.")
    after: Condition = Field(description="The activity that starts the wait, e.g. {event: Form Viewed}.")
    unless: Condition = Field(description="The activity that cancels it before it is due, e.g. "
                                          "{event: Demo Requested}.")
    within: Duration = Field(description="How long to wait, e.g. 30m or 7d.")
    channels: list[RuleId] | None = Field(None, description="Webhook and Slack channel ids to tell (marketing's "
                                          "email tool); default: every channel that receives followup.due.")

    _reads_after = reads("after", ACTIVITY_FIELDS, "a follow-up's after")
    _reads_unless = reads("unless", ACTIVITY_FIELDS, "a follow-up's unless")

    @field_validator("within")
    @classmethod
    def _a_year_at_most(cls, value: timedelta) -> timedelta:
        """3000000d passed the check, then every activity that started the wait failed (a date past year 9999)."""
        if value > MAX_WAIT:
            raise ValueError(f"a follow-up waits at most {MAX_WAIT.days}d (a year): nobody follows up later")
        return value


class AlertSpec(Strict):
    """Tell people when a lead does something that matters, without moving its stage (`leadrelay.lead.alerts`)."""

    id: RuleId
    description: str | None = Field(None, description="What it means, in words: the notice says it.")
    when: Condition = Field(description="Over the activity and the lead: event, path, properties.*, fit, "
                                        "engagement, stage, persona, traits.*, ...")
    rearm: Literal["once", "crossing"] | timedelta = Field(
        "once", description="once (the default), crossing (each time it becomes true again), or a duration such as "
                            "7d (at most once per that long).")
    channels: list[RuleId] | None = Field(None, description="Webhook and Slack channel ids to tell; default: every "
                                          "channel that receives alert.fired.")
    email: list[Recipient] | None = Field(None, description="Roles (owner, manager, team), groups of the email "
                                          "section (marketing) or addresses to email; "
                                          "default: the email section's alert.fired entry.")

    _reads = reads("when", ACTIVITY_FIELDS | LEAD_FIELDS | {"engagement_rise.", "sequences."}, "an alert")

    @field_validator("when")
    @classmethod
    def _spike_windows(cls, value: Condition) -> Condition:
        for path in fields_of(value):
            if path.startswith("engagement_rise."):
                window = path.removeprefix("engagement_rise.")
                try:
                    _duration(window)
                except ValueError as exc:
                    raise ValueError(f"'{path}': the window after engagement_rise. is a duration such as 48h "
                                     f"({exc})") from None
        return value

    @field_validator("rearm", mode="before")
    @classmethod
    def _rearm(cls, value: Any) -> Any:
        if value in ("once", "crossing"):
            return value
        if value == 0 or isinstance(value, str) and value.strip()[:1] == "0" and value.strip()[1:2].isalpha():
            raise ValueError("a window of zero would fire on every matching activity: give one such as 1d, or "
                             "`crossing`")
        try:
            return _duration(value)
        except ValueError as exc:
            raise ValueError(f"give once, crossing or a duration such as 7d ({exc})") from None


class ReasonCodes(Strict):
    recycle: list[RuleId] = Field(
        default_factory=lambda: ["not_ready", "no_budget_now", "under_contract", "changed_jobs", "no_response",
                                 "closed_lost"]
    )
    reject: list[RuleId] = Field(default_factory=lambda: ["bad_fit", "bad_data", "duplicate", "not_a_buyer"])
    disqualify: list[RuleId] = Field(
        default_factory=lambda: ["competitor", "student", "spam", "out_of_territory", "bad_data"]
    )
    reopen: list[RuleId] = Field(default_factory=lambda: ["new_information", "disqualified_in_error"])


# Where rule ids must be unique (each a list of items with an `id`), as paths in the playbook.
ID_LISTS: tuple[tuple[str, ...], ...] = (
    ("personas",), ("scoring", "fit", "rules"), ("scoring", "engagement", "rules"), ("hand_raisers",), ("alerts",),
    ("sequences",), ("followups",), ("qualification", "rules"), ("teams",), ("reps",), ("routing", "rules"),
    ("sla", "policies"), ("suppression", "permanent"),
)


class PlaybookModel(Strict):
    """The whole playbook file."""

    name: str = Field(min_length=1)
    description: str | None = None
    qualification: Qualification = Field(default_factory=Qualification)
    personas: list[Persona] = Field(default_factory=list)
    scoring: Scoring = Field(default_factory=Scoring)
    stages: Stages = Field(default_factory=Stages)
    hand_raisers: list[HandRaiser] = Field(default_factory=list)
    sequences: list[SequenceSpec] = Field(default_factory=list)
    alerts: list[AlertSpec] = Field(default_factory=list)
    followups: list[FollowupSpec] = Field(default_factory=list)
    hand_raiser_window: Duration = Field(timedelta(days=30), description=(
        "A visitor who raised a hand (a demo request) before identifying is handed over when they identify "
        "within this long; later, the old request no longer counts."))
    reasons: ReasonCodes = Field(default_factory=ReasonCodes)
    notifications: Notifications = Field(default_factory=Notifications)
    calendars: dict[str, CalendarSpec] = Field(default_factory=dict)
    teams: list[TeamSpec] = Field(default_factory=list)
    reps: list[RepSpec] = Field(default_factory=list)
    routing: Routing = Field(default_factory=Routing)
    sla: Sla = Field(default_factory=Sla)
    stale: Stale | None = None
    meetings: Meetings = Field(default_factory=Meetings)
    suppression: Suppression = Field(default_factory=Suppression)
    frameworks: Frameworks = Field(default_factory=Frameworks)  # the sales side: playbook/sales_schema.py
    sql_gate: SqlGate = Field(default_factory=SqlGate)
    pql: Pql = Field(default_factory=Pql)
    opportunities: Opportunities = Field(default_factory=Opportunities)
    expansion: Expansion = Field(default_factory=Expansion)
    predict: Predict = Field(default_factory=Predict)  # the predictive score: playbook/predict_schema.py

    def id_groups(self) -> dict[tuple[str, ...], list[str]]:
        """Where rule ids must be unique: the list's path in the playbook -> its ids, in order."""
        groups = {}
        for path in ID_LISTS:
            node: Any = self
            for name in path:
                node = getattr(node, name)
            groups[path] = [item.id for item in node]
        return groups
