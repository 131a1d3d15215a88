"""A lead as the engine holds it while deciding: identity, traits, scores, stage, engine state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadrelay.lead.stages import Stage


@dataclass(slots=True)
class ScoringState:
    """What scoring must remember between activities: rule caps and the fit rules that hold.

    `caps[rule_id]` is `[points so far, UTC day ordinal, points that day]`.
    """

    engagement: float = 0.0
    as_of: float | None = None  # epoch seconds the engagement value is valid at
    caps: dict[str, list[float]] = field(default_factory=dict)
    fit_points: dict[str, float] = field(default_factory=dict)  # rule id -> points it adds now
    fit: float = 0.0


@dataclass(slots=True, eq=False)
class Lead:
    """One person. `id` is None until storage gives it one. Equality is identity: two new,
    empty leads are still two people."""

    id: int | None = None
    email: str | None = None
    user_id: str | None = None
    company_domain: str | None = None
    country: str | None = None
    persona: str | None = None
    traits: dict[str, Any] = field(default_factory=dict)
    trait_times: dict[str, float] = field(default_factory=dict)
    account_id: int | None = None
    account: dict[str, Any] = field(default_factory=dict)  # the account's traits, read-only here
    stage: Stage | None = None  # None: an anonymous visitor, not yet in the funnel
    furthest_stage: Stage | None = None
    stage_changed_at: datetime | None = None
    segment: str = "new"
    source: str | None = None  # first touch: see leadrelay.lead.attribution
    campaign: str | None = None
    owner: str | None = None
    scoring: ScoringState = field(default_factory=ScoringState)
    armed: dict[str, bool] = field(default_factory=dict)  # stage -> may its entry criteria fire
    # epoch s of the last move that disarmed the criteria (recycle, reject, disqualify, reopen): a late
    # activity does not re-judge the stage at moments before it (see engine.process)
    rearmed_at: float | None = None
    alerts: dict[str, list] = field(default_factory=dict)  # alert id -> [last fired (epoch s) or None, armed]
    trail: list[list[float]] = field(default_factory=list)  # [epoch s, engagement] after recent activities (spikes)
    sequences: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # id -> sent/opened/clicked email ids
    followups: dict[str, list[float]] = field(default_factory=dict)  # follow-up id -> [started, due] (epoch s)
    hand_raised_at: float | None = None  # epoch seconds of the newest hand-raiser applied (or seen while known)
    # (trigger, raised at, linked at (epoch seconds), why it waited: engine.ANONYMOUS or engine.DISQUALIFIED + rule):
    # a hand raised while anonymous or disqualified, not yet applied (stored before the why: three items)
    pending_hand: tuple[str, float, float] | tuple[str, float, float, str] | None = None
    disqualified_by: str | None = None  # the rule id, when a rule (not a person) disqualified
    disqualified_from: Stage | None = None
    first_seen_at: datetime | None = None
    last_activity_at: datetime | None = None
    merged_into: int | None = None
    version: int = 0
    predicted: float | None = None  # the active model's probability; conditions read it if the playbook allows

    @property
    def known(self) -> bool:
        return self.email is not None or self.user_id is not None

    @property
    def email_domain(self) -> str | None:
        return self.email.rpartition("@")[2] if self.email else None

    def fit_fields(self) -> dict[str, Any]:
        """The fields fit rules, personas and disqualifiers may read."""
        return {
            "persona": self.persona,
            "email": self.email,
            "email_domain": self.email_domain,
            "company_domain": self.company_domain,
            "country": self.country,
            "traits": self.traits,
            "account": self.account,
        }

    def lead_fields(self, engagement: float) -> dict[str, Any]:
        """The fields stage entry criteria may read, with engagement decayed to the moment asked."""
        fields = self.fit_fields()
        fields.update(
            fit=self.scoring.fit,
            engagement=engagement,
            stage=self.stage.value if self.stage else None,
            segment=self.segment,
            disqualified=self.stage is Stage.DISQUALIFIED,
            predicted=self.predicted,
        )
        return fields
