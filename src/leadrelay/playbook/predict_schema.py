"""The playbook's `predict:` section: what the predictive score may learn from and when it may be used."""

from __future__ import annotations

from pydantic import Field, model_validator

from leadrelay.playbook.handoff_schema import Duration
from leadrelay.playbook.schema_base import Strict
from leadrelay.predict.model import FLOOR_PER_CLASS


class Predict(Strict):
    exclude: list[str] = Field(default_factory=list, description=(
        "Traits the model must never read (`lead_quality` or `traits.lead_quality`): those sales fills in while "
        "following a lead up (a lost reason, a quality grade, notes). They would let it 'predict' what sales had "
        "already decided."))
    min_outcomes: int = Field(default=500, ge=2 * FLOOR_PER_CLASS, description=(
        "Leads with a known outcome needed before a model may be trained and used."))
    min_per_class: int = Field(default=100, ge=FLOOR_PER_CLASS, description=(
        "Of those, how many must have converted, and how many not."))
    retrain_every: Duration | None = Field(default=None, description=(
        "The worker trains a new model this long after the last one (when there is enough data)."))
    horizon: Duration | None = Field(default=None, description=(
        "A lead that became an MQL (or went to sales) this long ago and has neither converted nor been lost, "
        "rejected or recycled counts as not converted. Without it, only those outcomes count."))
    in_conditions: bool = Field(default=False, description=(
        "Let stage entries, alerts and routing read `predicted` (the probability of the active model). "
        "Off by default: the rules stay the rules until the team decides otherwise."))

    @model_validator(mode="after")
    def _enough(self) -> Predict:
        if self.min_outcomes < 2 * self.min_per_class:
            raise ValueError(f"min_outcomes ({self.min_outcomes}) must hold min_per_class ({self.min_per_class}) "
                             "of each kind")
        return self
