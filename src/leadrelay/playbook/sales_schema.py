"""Playbook sections for the sales side: qualification frameworks, the SQL gate, PQL, deals and expansion.

```yaml
frameworks:
  use: bant                      # bant, champ, gpctba_ci, or the id of one of `custom`
  custom:
    - id: lite
      name: Lite
      criteria:
        - {id: budget, question: "Is there budget?", answer: yes_no}            # met: yes (met: false → no)
        - {id: seats, question: "How many seats?", answer: number, met: {min: 10}}
        - {id: role, question: "Their role?", answer: choice, choices: [signer, user], met: [signer]}
        - {id: go_live, question: "Go-live date?", answer: date, met: {within_days: 90}}
        - {id: pains, question: "What hurts?", answer: text}                    # met when answered
sql_gate: {min_met: 3, must_meet: [budget], also_require: [meeting_booked]}
pql:
  signals: [{id: trial, when: {event: Trial Started}}, {id: key_feature, when: {event: Report Shared}}]
  require: all
opportunities:
  currencies: [USD, EUR]
  stages: [{id: discovery, probability: 10, forecast: pipeline}, ..., {id: closed_won, probability: 100,
           forecast: closed}, {id: closed_lost, probability: 0, forecast: omitted}]
  won: closed_won
  lost: closed_lost
  lost_reasons: [no_budget, lost_to_competitor]
  lost_to_nurture: true
expansion:
  signals: [{id: upgrade_request, when: {event: Upgrade Requested}}]
```

Checks that span sections (the gate naming a criterion of the framework, `won` naming a
stage) are in `playbook/sales_check.py`, so each problem comes with its file and line.
"""

from __future__ import annotations

from typing import Literal

import pycountry
from pydantic import Field, field_validator, model_validator

from leadrelay.playbook.conditions import Condition
from leadrelay.playbook.schema_base import ACTIVITY_FIELDS, RuleId, Strict, reads
from leadrelay.sales.frameworks import ANSWER_TYPES, BUILTIN_FRAMEWORKS, CHOICE, DATE, GATE_EXTRAS, NUMBER, YES_NO
from leadrelay.sales.model import CATEGORIES


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for rule_id in ids:
        if rule_id in seen:
            raise ValueError(f"{what} id '{rule_id}' is used twice")
        seen.add(rule_id)


class NumberMet(Strict):
    min: float | None = Field(None, description="The smallest answer that counts as met.")
    max: float | None = Field(None, description="The largest answer that counts as met.")

    @model_validator(mode="after")
    def _some_bound(self) -> NumberMet:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self


class DateMet(Strict):
    within_days: int = Field(ge=0, description="Met when the date is today or at most this many days ahead.")


class CriterionSpec(Strict):
    """One question of a framework: its answer type and what counts as met."""

    id: RuleId
    question: str = Field(min_length=1)
    answer: Literal["yes_no", "choice", "number", "date", "text"]
    choices: list[str] | None = Field(None, description="The answers a `choice` criterion takes.")
    met: bool | list[str] | NumberMet | DateMet | None = Field(
        None, description="yes_no: true/false; choice: the choices that count; number: {min, max}; "
                          "date: {within_days}; text: met when answered (leave out).")

    @model_validator(mode="after")
    def _met_fits_the_answer(self) -> CriterionSpec:
        kind, met = self.answer, self.met
        if kind == CHOICE:
            if not self.choices:
                raise ValueError("a choice criterion needs `choices`")
            _unique([c.casefold() for c in self.choices], "choice")
            if not isinstance(met, list) or not met:
                raise ValueError("a choice criterion needs `met`: the choices that count, e.g. [decision_maker]")
            unknown = [c for c in met if c not in self.choices]
            if unknown:
                raise ValueError(f"`met` names {', '.join(map(repr, unknown))}, which is not among `choices`")
            return self
        if self.choices is not None:
            raise ValueError(f"only a choice criterion has `choices` (this one takes {kind})")
        expected = {YES_NO: (bool, "true or false (which answer counts)"), NUMBER: (NumberMet, "{min: N, max: N}"),
                    DATE: (DateMet, "{within_days: N}")}
        if kind in expected:
            shape, words = expected[kind]
            if met is not None and not isinstance(met, shape):
                raise ValueError(f"for a {kind} criterion `met` is {words}")
            if met is None and kind in (NUMBER, DATE):
                raise ValueError(f"a {kind} criterion needs `met`: {words}")
        elif met is not None:
            raise ValueError("a text criterion is met when answered: leave out `met`")
        return self


class FrameworkSpec(Strict):
    id: RuleId
    name: str | None = Field(None, description="How reports name it (default: the id).")
    criteria: list[CriterionSpec] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BUILTIN_FRAMEWORKS:
            raise ValueError(f"'{value}' is a built-in framework; give yours another id")
        return value

    @field_validator("criteria")
    @classmethod
    def _unique_criteria(cls, value: list[CriterionSpec]) -> list[CriterionSpec]:
        _unique([c.id for c in value], "criterion")
        return value


class Frameworks(Strict):
    """Which qualification framework the team uses, and the team's own frameworks."""

    use: RuleId = Field(default="bant", description=f"A built-in framework ({', '.join(BUILTIN_FRAMEWORKS)}) "
                                                    "or the id of a custom one.")
    custom: list[FrameworkSpec] = Field(default_factory=list)

    @field_validator("custom")
    @classmethod
    def _unique_frameworks(cls, value: list[FrameworkSpec]) -> list[FrameworkSpec]:
        _unique([f.id for f in value], "framework")
        return value


class SqlGate(Strict):
    """What a lead needs before it may become a sales-qualified lead (SQL)."""

    min_met: int | None = Field(default=None, ge=0, description="Criteria of the framework that must be met "
                                                               "(default: all of them).")
    must_meet: list[RuleId] = Field(default_factory=list, description="Criteria that must be met whatever the count.")
    also_require: list[Literal["meeting_booked", "product_qualified"]] = Field(
        default_factory=list, description=f"Extras: {', '.join(GATE_EXTRAS)}.")


class SignalSpec(Strict):
    id: RuleId
    description: str | None = None
    when: Condition

    _reads = reads("when", ACTIVITY_FIELDS, "a signal")


def _signals(value: list[SignalSpec]) -> list[SignalSpec]:
    _unique([s.id for s in value], "signal")
    return value


class Pql(Strict):
    """Product signals that mark a lead product-qualified: a flag, never a stage move or a score."""

    signals: list[SignalSpec] = Field(default_factory=list)
    require: Literal["all", "any"] = Field(default="all", description="Every signal seen at least once, or any one.")

    @field_validator("signals")
    @classmethod
    def _unique_signals(cls, value: list[SignalSpec]) -> list[SignalSpec]:
        return _signals(value)


Forecast = Literal["pipeline", "best_case", "commit", "closed", "omitted"]


class DealStageSpec(Strict):
    id: RuleId
    probability: float = Field(ge=0, le=100, description="Default probability, percent.")
    forecast: Forecast = Field(description=f"Forecast category: {', '.join(CATEGORIES)}.")


def _default_stages() -> list[DealStageSpec]:
    stages: tuple[tuple[str, float, Forecast], ...] = (
        ("discovery", 10, "pipeline"), ("solution", 25, "pipeline"), ("demo", 40, "best_case"),
        ("proposal", 60, "best_case"), ("negotiation", 80, "commit"), ("closed_won", 100, "closed"),
        ("closed_lost", 0, "omitted"))
    return [DealStageSpec(id=i, probability=p, forecast=f) for i, p, f in stages]


def iso_currency(code: str) -> str:
    """An ISO 4217 code in upper case, or ValueError."""
    upper = code.strip().upper()
    if len(upper) != 3 or pycountry.currencies.get(alpha_3=upper) is None:
        raise ValueError(f"'{code}' is not an ISO 4217 currency code (like USD, EUR, GBP)")
    return upper


class Opportunities(Strict):
    """Deals: currencies, stages with probability and forecast category, won/lost, lost reasons."""

    currencies: list[str] = Field(default_factory=lambda: ["USD"], min_length=1)
    default_currency: str | None = Field(default=None, description="Default: the first of `currencies`.")
    stages: list[DealStageSpec] = Field(default_factory=_default_stages, min_length=3)
    won: RuleId = Field(default="closed_won", description="The stage a won deal ends in.")
    lost: RuleId = Field(default="closed_lost", description="The stage a lost deal ends in.")
    lost_reasons: list[RuleId] = Field(
        default_factory=lambda: ["no_budget", "lost_to_competitor", "no_decision", "bad_timing", "price",
                                 "product_fit"], min_length=1)
    lost_to_nurture: bool = Field(default=True, description="A lost deal sends its lead back to nurture (recycle).")
    nurture_reason: RuleId = Field(default="closed_lost", description="The recycle reason recorded when it does.")

    @field_validator("currencies")
    @classmethod
    def _iso_currencies(cls, value: list[str]) -> list[str]:
        codes = [iso_currency(c) for c in value]
        _unique(codes, "currency")
        return codes

    @field_validator("default_currency")
    @classmethod
    def _iso_default(cls, value: str | None) -> str | None:
        return None if value is None else iso_currency(value)

    @field_validator("stages")
    @classmethod
    def _unique_stages(cls, value: list[DealStageSpec]) -> list[DealStageSpec]:
        _unique([s.id for s in value], "deal stage")
        return value

    @field_validator("lost_reasons")
    @classmethod
    def _unique_reasons(cls, value: list[str]) -> list[str]:
        _unique(value, "lost reason")
        return value


class Expansion(Strict):
    """Buying signals from customers that open an expansion handoff to the account owner."""

    signals: list[SignalSpec] = Field(default_factory=list)
    cooldown_days: float | None = Field(default=None, gt=0, description="No new expansion handoff for a lead "
                                                                       "within this many days of the last one.")

    @field_validator("signals")
    @classmethod
    def _unique_signals(cls, value: list[SignalSpec]) -> list[SignalSpec]:
        return _signals(value)


__all__ = ["ANSWER_TYPES", "CriterionSpec", "DealStageSpec", "Expansion", "FrameworkSpec", "Frameworks",
           "Opportunities", "Pql", "SignalSpec", "SqlGate", "iso_currency"]
