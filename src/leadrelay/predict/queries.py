"""The read side of the predictive score: a lead's probability and why, as `leads show` and the API give it."""

from __future__ import annotations

from typing import Any

from leadrelay.core.app import App
from leadrelay.core.time import utc_iso
from leadrelay.predict import store
from leadrelay.predict.service import unusable


def prediction_of(app: App, lead_id: int) -> dict[str, Any] | None:
    """The lead's probability of converting from the model version that last scored it, with the fields that
    moved it most (each against the most typical value), and why that model is no longer used if the playbook
    now excludes a field it reads; None when no model has scored it."""
    with app.engine.connect() as conn:
        row = store.prediction(conn, lead_id)
        model = store.version_row(conn, row.model_version, with_model=False) if row is not None else None
    if row is None:
        return None
    return {"probability": row.probability, "model_version": row.model_version, "scored_at": utc_iso(row.scored_at),
            "factors": row.factors, "unusable": unusable(app, model) if model is not None else None}


def with_prediction(app: App, lead: dict[str, Any]) -> dict[str, Any]:
    """A lead as `explain_lead` gives it, with its `predicted` probability beside the rule scores."""
    return lead | {"predicted": prediction_of(app, lead["id"])}
