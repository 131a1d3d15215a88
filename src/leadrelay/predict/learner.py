"""The model and the baseline it must beat, on the columns `features.choose` picked.

The model is scikit-learn's histogram gradient boosting with native categorical splits and
small trees (categories seen fewer than a few dozen times pooled; fewer trees for fewer leads), wrapped in isotonic
calibration so that 0.3 means three in ten such leads convert. Every random choice is seeded:
the same rows give the same model, and one stored model gives the same probabilities.
The recipe and how it was chosen: `docs/research/x-education-model.md`.

The baseline is the naive-Bayes frequency score of the kind Odoo CRM uses: for each
categorical field, how much more often its value occurs among converted leads than among
the rest, multiplied together with the prior.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from leadrelay.core.errors import InvalidInput
from leadrelay.predict.features import Feature

SEED = 0
LIBRARY = f"scikit-learn {sklearn.__version__}"
TOP_FACTORS = 3
SMALLEST_EFFECT = 0.005  # a factor that moves the probability less than half a point is not worth naming
CHUNK = 20_000


def matrix(columns: Sequence[Feature], rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """The rows as the model's input: categories as text, numbers as floats, unknown numbers as NaN."""
    data = np.empty((len(rows), len(columns)), dtype=object)
    for i, features in enumerate(rows):
        for j, column in enumerate(columns):
            value = column.value(features)
            data[i, j] = np.nan if value is None else value
    return data


def _estimator(columns: Sequence[Feature], rows: int, minority: int) -> Any:
    """Small boosted trees on native categories, calibrated by isotonic regression over k folds."""
    categorical = [j for j, c in enumerate(columns) if c.kind == "category"]
    numeric = [j for j, c in enumerate(columns) if c.kind == "number"]
    boost = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=min(300, max(50, rows // 10)), max_leaf_nodes=7,
        min_samples_leaf=min(50, max(5, rows // 40)),
        l2_regularization=0.0, early_stopping=False,
        categorical_features=list(range(len(categorical))) or None, random_state=SEED)
    encode = ColumnTransformer(
        [("categories", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                       min_frequency=min(30, max(5, rows // 200)), max_categories=250),
          categorical),
         ("numbers", "passthrough", numeric)])
    folds = max(2, min(10, minority // 20))
    return CalibratedClassifierCV(make_pipeline(encode, boost), method="isotonic", cv=folds)


class Scorer:
    """A fitted model over named columns: probabilities, and the factors behind each."""

    def __init__(self, columns: Sequence[Feature], estimator: Any):
        self.columns = tuple(columns)
        self.estimator = estimator

    @classmethod
    def fit(cls, columns: Sequence[Feature], rows: Sequence[dict[str, Any]], converted: Sequence[bool]) -> Scorer:
        y = np.asarray(converted, dtype=int)
        minority = int(min(y.sum(), len(y) - y.sum()))
        estimator = _estimator(columns, len(rows), minority)
        estimator.fit(matrix(columns, rows), y)
        return cls(columns, estimator)

    def probabilities(self, rows: Sequence[dict[str, Any]]) -> np.ndarray:
        return self._predict(matrix(self.columns, rows))

    def _predict(self, data: np.ndarray) -> np.ndarray:
        if not len(data):
            return np.zeros(0)
        parts = [self.estimator.predict_proba(data[i:i + CHUNK])[:, 1] for i in range(0, len(data), CHUNK)]
        return np.round(np.concatenate(parts), 6)  # the same figure on every machine that reads the model

    def explain(self, rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """Each lead's probability and its factors: for every column, how far the probability moves from what
        it would be with the column's most typical value instead of the lead's own, largest first."""
        data = matrix(self.columns, rows)
        probability = self._predict(data)
        effects = np.zeros((len(rows), len(self.columns)))
        for j, column in enumerate(self.columns):
            typical = np.nan if column.typical is None else column.typical
            other = data.copy()
            other[:, j] = typical
            effects[:, j] = probability - self._predict(other)
        factors = []
        for i in range(len(rows)):
            order = np.argsort(-np.abs(effects[i]), kind="stable")[:TOP_FACTORS]
            factors.append([{"field": self.columns[j].name, "value": _plain(data[i, j]),
                             "typical": self.columns[j].typical, "effect": round(float(effects[i, j]), 3)}
                            for j in order if abs(effects[i, j]) >= SMALLEST_EFFECT])
        return probability, factors

    def dumps(self) -> bytes:
        return pickle.dumps((LIBRARY, [c.as_dict() for c in self.columns], self.estimator), protocol=5)

    @classmethod
    def loads(cls, blob: bytes, library: str) -> Scorer:
        """A stored model; refused when it was written by another scikit-learn (its scores could differ)."""
        if library != LIBRARY:
            raise InvalidInput(f"the model was trained with {library} and this is {LIBRARY}: "
                               "train it again (`leadrelay model train`)")
        _, columns, estimator = pickle.loads(blob)  # noqa: S301 - written by `Scorer.dumps` into our own store
        return cls([Feature(**c) for c in columns], estimator)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if value != value else round(value, 4)
    return value


def naive_bayes(columns: Sequence[Feature], train: Sequence[dict[str, Any]], converted: Sequence[bool],
                test: Sequence[dict[str, Any]], alpha: float = 1.0) -> np.ndarray:
    """Odoo-style frequency score over the categorical columns, Laplace-smoothed, fitted on `train` only."""
    y = np.asarray(converted, dtype=bool)
    won, lost = int(y.sum()), int(len(y) - y.sum())
    logit = np.full(len(test), np.log(max(won, 1) / max(lost, 1)))
    for column in (c for c in columns if c.kind == "category"):
        counts: dict[bool, dict[Any, int]] = {True: {}, False: {}}
        for features, outcome in zip(train, y, strict=True):
            value = column.value(features)
            counts[bool(outcome)][value] = counts[bool(outcome)].get(value, 0) + 1
        k = len(set(counts[True]) | set(counts[False])) + 1
        logit += np.array([np.log((counts[True].get(v, 0) + alpha) / (won + alpha * k))
                           - np.log((counts[False].get(v, 0) + alpha) / (lost + alpha * k))
                           for v in (column.value(features) for features in test)])
    return 1 / (1 + np.exp(-logit))
