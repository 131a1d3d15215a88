"""Leak-free lead scoring for the X Education leads data set (scikit-learn + numpy + stdlib).

Usage: python recipe.py [path/to/Leads.csv]   -> prints one JSON line.
Evaluation: StratifiedKFold(5, shuffle=True, random_state=0), out-of-fold predictions pooled.
Everything that is fitted (category encoding, boosting, isotonic calibration, naive-Bayes
frequencies) is fitted inside each training fold only.
"""
import csv
import json
import os
import sys
import time

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

DATASETS = os.environ.get("LEADRELAY_DATASETS",
                          os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "datasets"))
PATH = sys.argv[1] if len(sys.argv) > 1 else os.path.join(DATASETS, "x-education-leads", "Leads.csv")
# Columns known before sales follow-up (post-sales / assigned columns and ids are not used:
# Tags, Lead Quality, Last (Notable) Activity, Lead Profile, Asymmetrique *, Prospect ID, Lead Number).
CATEGORICAL = [
    "Lead Origin", "Lead Source", "Do Not Email", "Country", "Specialization",
    "How did you hear about X Education", "What is your current occupation",
    "What matters most to you in choosing a course", "City",
    "A free copy of Mastering The Interview",
]
NUMERIC = ["TotalVisits", "Total Time Spent on Website", "Page Views Per Visit"]


def clean(value, column):
    value = (value or "").strip()
    if value in ("", "Select"):           # "Select" = form field left at its default
        return "missing"
    return value.lower() if column == "Lead Source" else value


def to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def load(path):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    cats = np.array([[clean(r[c], c) for c in CATEGORICAL] for r in rows], dtype=object)
    nums = np.array([[to_float(r[c]) for c in NUMERIC] for r in rows], dtype=float)
    y = np.array([int(r["Converted"]) for r in rows])
    return rows, cats, nums, y


def make_model():
    n_cat = len(CATEGORICAL)
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                min_frequency=30), list(range(n_cat)))],
        remainder="passthrough")                       # raw numerics, NaN handled natively
    boost = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=300, max_leaf_nodes=7, min_samples_leaf=50,
        l2_regularization=0.0, early_stopping=False,
        categorical_features=list(range(n_cat)), random_state=0)
    return CalibratedClassifierCV(make_pipeline(encode, boost), method="isotonic", cv=10)


def calibration_error(y, p, bins=10):
    edges = np.linspace(0, 1, bins + 1)
    err = 0.0
    for i in range(bins):
        m = (p >= edges[i]) & ((p < edges[i + 1]) if i < bins - 1 else (p <= edges[i + 1]))
        if m.any():
            err += m.mean() * abs(p[m].mean() - y[m].mean())
    return err


def naive_bayes_scores(c_train, y_train, c_test, alpha=1.0):
    """Odoo-style frequency score: per-field P(value|won)/P(value|lost), Laplace-smoothed,
    multiplied naive-Bayes style over categorical fields (log-odds returned as probability)."""
    n_pos, n_neg = y_train.sum(), len(y_train) - y_train.sum()
    logit = np.full(len(c_test), np.log(n_pos / n_neg))
    for j in range(c_train.shape[1]):
        pos, neg = {}, {}
        for v, t in zip(c_train[:, j], y_train):
            d = pos if t else neg
            d[v] = d.get(v, 0) + 1
        k = len(set(pos) | set(neg)) + 1
        logit += np.array([np.log((pos.get(v, 0) + alpha) / (n_pos + alpha * k))
                           - np.log((neg.get(v, 0) + alpha) / (n_neg + alpha * k))
                           for v in c_test[:, j]])
    return 1 / (1 + np.exp(-logit))


def playbook_rule_score(cats, nums):
    """Fit rules of examples/x-education/playbook.yaml, reimplemented."""
    col = {c: j for j, c in enumerate(CATEGORICAL)}
    origin, source = cats[:, col["Lead Origin"]], cats[:, col["Lead Source"]]
    occ, spec = cats[:, col["What is your current occupation"]], cats[:, col["Specialization"]]
    dne, t = cats[:, col["Do Not Email"]], nums[:, 1]
    s = np.zeros(len(cats))
    s += 20 * (origin == "Lead Add Form")
    s += 10 * np.isin(source, ["reference", "welingak website"])
    s += 25 * (occ == "Working Professional")
    s += 15 * (occ != "missing")
    s += 10 * (spec != "missing")
    s -= 10 * (dne == "Yes")
    s -= 15 * ((t >= 1) & (t < 400))
    s -= 10 * ((t >= 400) & (t < 600))
    s += 5 * ((t >= 600) & (t < 800))
    s += 10 * (t >= 800)
    return s


def main():
    t0 = time.time()
    _, cats, nums, y = load(PATH)
    X = np.hstack([cats, nums]).astype(object)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)

    t1 = time.time()
    p = cross_val_predict(make_model(), X, y, cv=cv, method="predict_proba", n_jobs=2)[:, 1]
    cv_seconds = time.time() - t1

    t2 = time.time()
    make_model().fit(X, y)                         # the production fit on all leads
    fit_seconds = time.time() - t2

    nb = np.zeros(len(y))
    for tr, te in cv.split(cats, y):
        nb[te] = naive_bayes_scores(cats[tr], y[tr], cats[te])
    rule = playbook_rule_score(cats, nums)

    print(json.dumps({
        "roc_auc": round(roc_auc_score(y, p), 4),
        "pr_auc": round(average_precision_score(y, p), 4),
        "brier": round(brier_score_loss(y, p), 4),
        "calibration_error": round(calibration_error(y, p), 4),
        "naive_bayes_roc_auc": round(roc_auc_score(y, nb), 4),
        "rule_roc_auc": round(roc_auc_score(y, rule), 4),
        "n": int(len(y)), "positive_rate": round(float(y.mean()), 4),
        "cv_seconds": round(cv_seconds, 1), "full_fit_seconds": round(fit_seconds, 1),
        "run_seconds": round(time.time() - t0, 1),
    }))


if __name__ == "__main__":
    main()
