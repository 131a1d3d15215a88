"""`/api/model`: the predictive score — the active model and every version, evaluate, train on demand.

A model is learned from the team's own outcomes and shown beside the rule scores; it never
moves a lead unless the playbook's `predict.in_conditions` lets conditions read `predicted`.
Evaluating and training take seconds to a minute of CPU: one at a time per process.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses, one_at_a_time
from leadrelay.predict import service as predict

router = APIRouter(prefix="/api/model", tags=["model"], responses=error_responses(400, 401, 403, 422, 429, 503))

REPORT = ("The evaluation: outcomes, converted, rate; validation (method, trained_on, tested_on, boundary, note); "
          "scores of model, naive_bayes, rule_fit and rule_engagement (roc_auc, pr_auc, brier, calibration_error; "
          "null where it does not apply); lift by decile; fields (each alone, roc_auc); features; left_out (field: "
          "why); warnings.")


class Readiness(BaseModel):
    outcomes: int = Field(description="Leads with a known outcome.")
    converted: int
    by_kind: dict[str, int] = Field(description="Outcomes by what said so: import, won, customer, lost, rejected, "
                                                "recycled, horizon.")
    shortfall: str | None = Field(description="Why there is not yet enough to train on; null when there is.")


class VersionLine(BaseModel):
    version: int
    active: bool
    trained_at: str
    trigger: str = Field(description="manual or schedule.")
    playbook_version: str
    outcomes: int
    converted: int
    roc_auc: float | None
    rule_fit_roc_auc: float | None


class ModelVersion(VersionLine):
    library: str
    unusable: str | None = Field(None, description="Why the active playbook no longer lets this model score leads.")
    report: dict[str, Any] = Field(description=REPORT)


class ModelState(BaseModel):
    model: ModelVersion | None = Field(description="The active model (or the version asked for); null before any.")
    versions: list[VersionLine] = Field(description="Every version, newest first.")
    readiness: Readiness


class Trained(BaseModel):
    version: int
    trained_at: str
    trigger: str
    scored: int = Field(description="Leads scored with the new version.")
    moved: dict[str, int] = Field(description="Stage moves the new probabilities made, by the stage moved to "
                                              "(when conditions read `predicted`).")
    report: dict[str, Any] = Field(description=REPORT)


@router.get("", response_model=ModelState, summary="The active model, every version, and whether there is enough "
                                                   "data to train")
def show(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.READ_FUNNEL))) -> dict:
    return predict.show(app)


@router.get("/versions/{version}", response_model=ModelState, summary="One model version with its report",
            responses=error_responses(404))
def show_version(version: int = Path(ge=1, le=2**31 - 1), app: App = Depends(current_app),
                 caller: Caller = Depends(allow(Action.READ_FUNNEL))) -> dict:
    return predict.show(app, version)


@router.post("/evaluate", summary="Evaluate a model trained on the outcomes now (nothing is stored)",
             response_model=dict[str, Any])
def evaluate(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> dict:
    """The same report as training gives, beside the playbook's rule scores and the naive-Bayes baseline.
    Too few outcomes: 422 `not_enough_data` with the counts needed."""
    return one_at_a_time(_LEARNING, BUSY, lambda: predict.evaluate(app))


@router.post("/train", response_model=Trained, status_code=201, summary="Train a new model version now")
def train(app: App = Depends(current_app), caller: Caller = Depends(allow(Action.MANAGE_PLAYBOOK))) -> dict:
    """Evaluate, train on every outcome, keep the model as the new active version and score every lead with it.
    Too few outcomes: 422 `not_enough_data` with the counts needed; nothing is stored."""
    return one_at_a_time(_LEARNING, BUSY, lambda: predict.train(app))


_LEARNING = threading.Lock()
BUSY = "a model is being evaluated or trained in this process: retry when it is done"
