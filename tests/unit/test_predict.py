"""The predictive score's pure parts: features as they stood when a lead was judged, which fields become columns,
the calibration error, and a time-ordered split that learns only what was known at its boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from leadrelay.core.errors import InvalidInput
from leadrelay.predict.evaluation import _splits, calibration_error
from leadrelay.predict.features import MISSING, PAGES, choose, features_of
from leadrelay.predict.learner import Scorer
from leadrelay.predict.model import Example, Outcome, PredictRules, Seen

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_features_are_what_was_known_when_the_lead_was_judged_not_what_sales_added_later():
    seen = [Seen("identify", None, T0, {"plan": " Enterprise ", "seats": 40, "newsletter": True, "tags": None}),
            Seen("page", None, T0 + timedelta(hours=1)),
            Seen("track", "Demo Requested", T0 + timedelta(hours=2)),
            Seen("identify", None, T0 + timedelta(days=3), {"lead_quality": "high", "plan": "team"})]
    judged = features_of(seen, T0 + timedelta(hours=2))
    assert judged == {"plan": "enterprise", "seats": 40.0, "newsletter": "yes", PAGES: 1,
                      "event:Demo Requested": 1}
    now = features_of(seen)
    assert now["plan"] == "team" and now["lead_quality"] == "high"


def test_a_trait_set_to_null_is_forgotten_and_objects_are_not_features():
    seen = [Seen("identify", None, T0, {"plan": "team", "address": {"city": "Oslo"}}),
            Seen("identify", None, T0, {"plan": None})]
    assert features_of(seen) == {}


def test_columns_leave_out_people_exclusions_rare_constant_and_id_like_fields_with_why():
    rows = [{"email": f"p{n}@x.example", "plan": ["team", "free"][n % 2], "lead_quality": "high",
             "company": f"Company {n}", "rare": "x" if n == 0 else None, "visits": float(n % 7),
             "event:Demo Requested": 1 if n % 3 == 0 else None}
            for n in range(200)]
    rows = [{k: v for k, v in row.items() if v is not None} for row in rows]
    choice = choose(rows, PredictRules(exclude=frozenset({"lead_quality"})))
    assert [(f.name, f.kind) for f in choice.features] == [
        ("event:Demo Requested", "number"), ("plan", "category"), ("visits", "number")]
    assert choice.left_out["email"] == "identifies a person"
    assert choice.left_out["lead_quality"] == "excluded by the playbook"
    assert choice.left_out["rare"] == "known for 1 of 200 leads: too rare"
    assert "names leads" in choice.left_out["company"]
    demo = choice.features[0]
    assert demo.value({}) == 0.0 and demo.typical == 0.0  # a lead that never did it did it zero times
    assert choice.features[1].value({}) == MISSING


def test_calibration_error_is_the_weighted_gap_between_probability_and_rate():
    y = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 0])
    assert calibration_error(y, np.full(10, 0.4)) == pytest.approx(0.0)
    assert calibration_error(y, np.full(10, 0.9)) == pytest.approx(0.5)


def example(n, converted, scored, decided):
    return Example(n, {"plan": "x"}, Outcome(n, converted, "won" if converted else "lost", decided, scored))


def test_a_time_ordered_split_trains_only_on_outcomes_known_before_the_newest_fifth():
    examples, y = [], []
    for n in range(200):
        scored = T0 + timedelta(days=n)
        converted = n % 3 == 0
        examples.append(example(n, converted, scored, scored + timedelta(days=5 if converted else 40)))
        y.append(int(converted))
    validation, [(train, y_train, test)] = _splits(examples, np.array(y), None)
    boundary = T0 + timedelta(days=160)
    assert validation["method"] == "time-ordered" and validation["boundary"] == "2026-08-08T00:00:00Z"
    assert list(test) == list(range(160, 200))
    assert all(examples[i].outcome.decided_at < boundary for i in train)
    assert 129 in train and 125 not in train  # converted 5 days later: known; lost after 40: not yet

    validation, [(train, y_train, test)] = _splits(examples, np.array(y), 30 * 86400)
    assert max(train) == 130  # judged at least the horizon before the boundary
    assert "the horizon" in validation["note"]


def test_leads_all_judged_on_one_day_are_cross_validated():
    examples = [example(n, n % 2 == 0, T0, T0) for n in range(100)]
    validation, splits = _splits(examples, np.array([n % 2 == 0 for n in range(100)], dtype=int), None)
    assert validation["method"] == "5-fold stratified" and len(splits) == 5


def test_a_model_written_by_another_scikit_learn_is_refused():
    with pytest.raises(InvalidInput, match="trained with scikit-learn 0.1 and this is scikit-learn"):
        Scorer.loads(b"", "scikit-learn 0.1")


def test_a_stray_text_value_in_a_number_field_is_unknown_not_the_end_of_the_field():
    rows = [{"time_on_site": float(n * 7 % 300)} for n in range(299)] + [{"time_on_site": "unknown"}]
    choice = choose(rows, PredictRules())
    [column] = choice.features
    assert (column.name, column.kind) == ("time_on_site", "number") and column.value(rows[-1]) is None
    assert choice.notes == ["time_on_site: 1 of 300 values are not numbers (such as 'unknown'): read as unknown"]
