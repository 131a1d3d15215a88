"""Shared pieces of the playbook schema: the strict base model, rule ids, and what conditions may read."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leadrelay.playbook.conditions import Condition, check_fields

RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)]

LEAD_FIELDS = frozenset({
    "fit", "engagement", "persona", "stage", "segment", "email", "email_domain",
    "company_domain", "country", "disqualified", "traits.", "account.",
    "predicted",  # the predictive score's probability, only with `predict.in_conditions`
})
FIT_FIELDS = LEAD_FIELDS - {"fit", "engagement", "stage", "segment", "disqualified", "predicted"}
ACTIVITY_FIELDS = frozenset({
    "type", "event", "name", "path", "url", "referrer", "title",
    "properties.", "traits.", "context.",
})


def reads(field: str, roots: frozenset[str], what: str):
    """A validator: the condition in `field` may only read fields under `roots`."""

    def check(cls, value: Condition | None) -> Condition | None:
        if value is not None:
            check_fields(value, roots, what)
        return value

    return field_validator(field)(check)


class Strict(BaseModel):
    # NaN and infinity (YAML's .nan, .inf) are not numbers a playbook means: `points: .nan` would poison every score.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
