"""How good the model is, measured beside what a team already has, in one run on the same leads.

Validation is time-ordered when the leads were judged on different days: the model learns
from the older four fifths whose outcome was known before the newest fifth began, and is
tested on that newest fifth, as it would have been used. Without dates (one import), it is
stratified 5-fold cross-validation. Everything fitted — columns' encoding, trees, calibration,
the naive-Bayes frequencies — is fitted on the training part only.

Beside the model, on the same leads: the playbook's own rule scores (fit and engagement, as
they stood when each lead was judged) and the naive-Bayes frequency score. For each: ROC AUC
and PR AUC; for the two that give probabilities, the Brier score and the calibration error;
for the model, lift by decile. Each field alone is scored too: one that predicts almost
perfectly was most likely filled in after the outcome was known (a leak).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from leadrelay.core.time import utc_iso
from leadrelay.predict.features import Feature
from leadrelay.predict.learner import SEED, Scorer, naive_bayes
from leadrelay.predict.model import FLOOR_PER_CLASS, Example

FOLDS = 5
TEST_SHARE = 0.2
MIN_TEST_PER_CLASS = 10
LEAK_AUC = 0.9  # one field alone ranking leads this well has most likely been filled in once the outcome was known
SUSPICIOUS_AUC = 0.95
BINS = 10


def evaluate(examples: Sequence[Example], columns: Sequence[Feature],
             horizon_seconds: float | None = None) -> dict[str, Any]:
    """The report: validation used, metrics of the model and the baselines, lift, each field alone, warnings."""
    y = np.array([e.known_outcome.converted for e in examples], dtype=np.int_)
    rows = [e.features for e in examples]
    validation, splits = _splits(examples, y, horizon_seconds)
    model = np.full(len(y), np.nan)
    bayes = np.full(len(y), np.nan)
    alone = np.full((len(y), len(columns)), np.nan)
    for train, y_train, test in splits:
        fitted = Scorer.fit(columns, [rows[i] for i in train], y_train)
        model[test] = fitted.probabilities([rows[i] for i in test])
        bayes[test] = naive_bayes(columns, [rows[i] for i in train], y_train, [rows[i] for i in test])
        alone[test] = _each_field_alone(columns, [rows[i] for i in train], y_train, [rows[i] for i in test])
    tested = ~np.isnan(model)
    y_t = y[tested]
    scores = {
        "model": _metrics(y_t, model[tested], probability=True),
        "naive_bayes": _metrics(y_t, bayes[tested], probability=True),
        "rule_fit": _metrics(y_t, np.array([e.fit for e in examples])[tested]),
        "rule_engagement": _metrics(y_t, np.array([e.engagement for e in examples])[tested]),
    }
    fields: list[dict[str, Any]] = [{"field": c.name, "kind": c.kind, "roc_auc": _auc(y_t, alone[tested, j])}
                                    for j, c in enumerate(columns)]
    fields.sort(key=lambda f: -(f["roc_auc"] or 0))
    return {
        "outcomes": len(y), "converted": int(y.sum()), "rate": round(float(y.mean()), 4) if len(y) else None,
        "validation": validation,
        "scores": scores,
        "lift": _lift(y_t, model[tested]),
        "fields": fields,
        "warnings": _warnings(scores, fields),
    }


def _splits(examples: Sequence[Example], y: np.ndarray, horizon_seconds: float | None) -> tuple[dict[str, Any], list]:
    """`(train, its outcomes, test)` parts: time-ordered when the leads were judged on different days and each
    part has both kinds; else stratified k-fold.

    Time-ordered, the model learns only what was known when the newest fifth began: leads whose outcome was
    decided by then — or, with a horizon, leads judged at least a horizon before, counted as converted only
    if they had converted by then (what the horizon rule said at the time). Training on every lead decided
    by then would over-count converters, who are decided sooner than the rest.
    """
    scored = np.array([e.known_outcome.scored_at.timestamp() for e in examples])
    decided = np.array([e.known_outcome.decided_at.timestamp() for e in examples])
    note = None
    if len(y) and len({e.known_outcome.scored_at.date() for e in examples}) > 1:
        boundary = np.sort(scored)[int(len(y) * (1 - TEST_SHARE))]
        test = np.flatnonzero(scored >= boundary)
        if horizon_seconds is None:
            train = np.flatnonzero((scored < boundary) & (decided < boundary))
            y_train = y[train]
        else:
            train = np.flatnonzero(scored <= boundary - horizon_seconds)
            y_train = y[train] & (decided[train] < boundary)
        if _least(y_train) >= FLOOR_PER_CLASS and _least(y[test]) >= MIN_TEST_PER_CLASS:
            when = utc_iso(min(e.known_outcome.scored_at for e in examples
                               if e.known_outcome.scored_at.timestamp() >= boundary))
            return ({"method": "time-ordered", "trained_on": len(train), "tested_on": len(test), "boundary": when,
                     "note": (f"trained on the {len(train)} leads judged before {when} whose outcome was known "
                              "by then" if horizon_seconds is None else
                              f"trained on the {len(train)} leads judged at least {horizon_seconds / 86400:g} days "
                              f"(the horizon) before {when}, converted if they had by then")
                             + f"; tested on the {len(test)} judged since"}, [(train, y_train, test)])
        note = ("the leads span several days, but a time-ordered split leaves too few of one kind on a side: "
                "stratified cross-validation instead")
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    splits = [(train, y[train], test) for train, test in folds.split(np.zeros(len(y)), y)]
    return ({"method": f"{FOLDS}-fold stratified", "trained_on": len(y) - len(y) // FOLDS, "tested_on": len(y),
             "boundary": None, "note": note or "the leads were all judged on one day: no order in time to follow"},
            splits)


def _least(y: np.ndarray) -> int:
    return int(min(y.sum(), len(y) - y.sum())) if len(y) else 0


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    if len(set(y.tolist())) < 2 or np.all(score == score[0]):
        return None
    return round(float(roc_auc_score(y, score)), 4)


def _metrics(y: np.ndarray, score: np.ndarray, *, probability: bool = False) -> dict[str, Any]:
    auc = _auc(y, score)
    found = {"roc_auc": auc, "pr_auc": round(float(average_precision_score(y, score)), 4) if auc else None,
             "brier": None, "calibration_error": None}
    if probability:
        found["brier"] = round(float(brier_score_loss(y, score)), 4)
        found["calibration_error"] = round(calibration_error(y, score), 4)
    return found


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: over ten equal-width bins of probability, the gap between the mean
    probability and the share that converted, weighted by the bin's share of leads."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(error)


def _lift(y: np.ndarray, p: np.ndarray) -> list[dict[str, Any]]:
    """Leads in tenths from the highest probability down: how many converted, and how many times the average."""
    if not len(y) or not y.sum():
        return []
    order = np.argsort(-p, kind="stable")
    base = y.mean()
    rows = []
    for decile, part in enumerate(np.array_split(order, BINS), start=1):
        if len(part):
            rate = float(y[part].mean())
            rows.append({"decile": decile, "leads": len(part), "converted": int(y[part].sum()),
                         "rate": round(rate, 4), "lift": round(rate / base, 2)})
    return rows


def _each_field_alone(columns: Sequence[Feature], train: Sequence[dict], y: np.ndarray,
                      test: Sequence[dict]) -> np.ndarray:
    """Each column as a score by itself: a category's conversion rate in training (smoothed toward the
    average), a number as it is (turned round when smaller means likelier)."""
    base = float(y.mean()) if len(y) else 0.0
    out = np.full((len(test), len(columns)), np.nan)
    for j, column in enumerate(columns):
        if column.kind == "category":
            seen: dict[Any, list[int]] = {}
            for features, outcome in zip(train, y, strict=True):
                seen.setdefault(column.value(features), []).append(int(outcome))
            rate = {v: (sum(o) + 10 * base) / (len(o) + 10) for v, o in seen.items()}
            out[:, j] = [rate.get(column.value(features), base) for features in test]
        else:
            train_values = np.array([_number(column.value(f)) for f in train])
            known = ~np.isnan(train_values)
            fill = float(np.median(train_values[known])) if known.any() else 0.0
            sign = 1.0
            if known.any() and len(set(y[known].tolist())) == 2:
                sign = 1.0 if roc_auc_score(y[known], train_values[known]) >= 0.5 else -1.0
            values = np.array([_number(column.value(f)) for f in test])
            out[:, j] = sign * np.where(np.isnan(values), fill, values)
    return out


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _warnings(scores: dict[str, dict[str, Any]], fields: list[dict[str, Any]]) -> list[str]:
    warnings = [f"'{f['field']}' alone ranks leads with ROC AUC {f['roc_auc']:.3f}: a field that predicts almost "
                "perfectly was most likely filled in once the outcome was known (sales notes, a lost reason); "
                "list it under predict.exclude in the playbook"
                for f in fields if (f["roc_auc"] or 0) >= LEAK_AUC]
    model = scores["model"]["roc_auc"]
    if model is not None and model >= SUSPICIOUS_AUC:
        warnings.append(f"the model's ROC AUC of {model:.3f} is too good to be true for leads judged before sales "
                        "worked them: look for a field that leaks the outcome")
    rule = scores["rule_fit"]["roc_auc"]
    if model is not None and rule is not None and model <= rule:
        warnings.append(f"the model (ROC AUC {model:.3f}) ranks leads no better than the playbook's fit score "
                        f"({rule:.3f}): keep using the rules")
    return warnings
