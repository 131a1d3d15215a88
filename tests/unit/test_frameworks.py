"""Qualification frameworks and the SQL gate, without a database."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from leadrelay.core.errors import InvalidInput
from leadrelay.sales.frameworks import (
    BANT,
    BUILTIN_FRAMEWORKS,
    CHAMP,
    GPCTBA_CI,
    Answer,
    Criterion,
    Framework,
    Gate,
    assess,
    is_met,
    judge_gate,
    parse_answer,
)

TODAY = date(2026, 10, 1)
AT = datetime(2026, 10, 1, 9, tzinfo=UTC)
SEATS = Criterion("seats", "How many seats?", "number", met_min=Decimal(10), met_max=Decimal(500))
PAINS = Criterion("pains", "What hurts?", "text")


def answers(**values: str) -> dict[str, Answer]:
    return {k: Answer(k, v, "user:alice", AT) for k, v in values.items()}


def statuses(framework: Framework, **values: str) -> dict[str, str]:
    return {s.criterion.id: s.status for s in assess(framework, answers(**values), TODAY)}


def test_the_built_in_frameworks_ask_what_their_names_say():
    assert [c.id for c in BANT.criteria] == ["budget", "authority", "need", "timeline"]
    assert [c.id for c in CHAMP.criteria] == ["challenges", "authority", "money", "prioritization"]
    assert [c.id for c in GPCTBA_CI.criteria] == ["goals", "plans", "challenges", "timeline", "budget", "authority",
                                                  "negative_consequences", "positive_implications"]
    assert set(BUILTIN_FRAMEWORKS) == {"bant", "champ", "gpctba_ci"}
    assert [c.met_when() for c in BANT.criteria] == ["yes", "one of decision_maker", "one of critical, important",
                                                     "within 180 days"]


@pytest.mark.parametrize("criterion,raw,stored", [
    ("budget", "Yes", "yes"), ("budget", "n", "no"), ("budget", True, "yes"),
    ("authority", "Decision_Maker", "decision_maker"),
    ("timeline", "2027-01-15", "2027-01-15"), ("timeline", date(2027, 1, 15), "2027-01-15"),
])
def test_answers_are_stored_in_one_form_per_type(criterion, raw, stored):
    assert parse_answer(BANT.criterion(criterion), raw) == stored


def test_numbers_and_text_are_kept_plain():
    assert parse_answer(SEATS, " 12000.50 ") == "12000.5"
    assert parse_answer(SEATS, "40") == "40"
    assert parse_answer(PAINS, "  Reports take a week ") == "Reports take a week"


@pytest.mark.parametrize("criterion,raw,message", [
    (BANT.criterion("budget"), "maybe", "budget: expected yes or no, got 'maybe'"),
    (BANT.criterion("authority"), "ceo", "authority: expected one of decision_maker, influencer, user; got 'ceo'"),
    (BANT.criterion("timeline"), "soon", "timeline: expected a date like 2027-01-15, got 'soon'"),
    (BANT.criterion("timeline"), "2027-02-30", "timeline: expected a date like 2027-01-15, got '2027-02-30'"),
    (SEATS, "twelve", "seats: expected a number like 12000 or 3.5, got 'twelve'"),
    (SEATS, "nan", "seats: expected a number like 12000 or 3.5, got 'nan'"),
    (PAINS, "  ", "pains: expected some text, got an empty answer"),
])
def test_an_answer_of_the_wrong_type_is_refused_with_what_was_expected(criterion, raw, message):
    with pytest.raises(InvalidInput) as info:
        parse_answer(criterion, raw)
    assert info.value.message == message


def test_an_unknown_criterion_names_the_ones_there_are():
    with pytest.raises(InvalidInput) as info:
        BANT.criterion("budjet")
    assert info.value.message == "no criterion 'budjet' in BANT (criteria: budget, authority, need, timeline)"


def test_what_counts_as_met_per_type():
    assert is_met(SEATS, "10", TODAY) and is_met(SEATS, "500", TODAY)
    assert not is_met(SEATS, "9.99", TODAY) and not is_met(SEATS, "501", TODAY)
    timeline = BANT.criterion("timeline")
    assert is_met(timeline, "2026-10-01", TODAY) and is_met(timeline, "2027-03-30", TODAY)  # today + 180 days
    assert not is_met(timeline, "2027-03-31", TODAY)  # too far out
    assert not is_met(timeline, "2026-09-30", TODAY)  # already past
    no_budget = Criterion("no_debt", "Any debt?", "yes_no", met_yes=False)
    assert is_met(no_budget, "no", TODAY) and not is_met(no_budget, "yes", TODAY)
    assert is_met(PAINS, "anything", TODAY)


def test_each_criterion_is_met_missing_or_failed():
    assert statuses(BANT, budget="yes", authority="influencer", timeline="2026-12-01") == {
        "budget": "met", "authority": "failed", "need": "missing", "timeline": "met"}


def test_an_answer_the_changed_playbook_no_longer_takes_counts_as_failed():
    assert statuses(BANT, authority="ceo")["authority"] == "failed"


def test_the_gate_gives_every_reason_it_is_not_met():
    gate = Gate(min_met=3, must_meet=("budget",), extras=("meeting_booked", "product_qualified"))
    found = assess(BANT, answers(budget="no", authority="decision_maker", timeline="2026-12-01"), TODAY)
    verdict = judge_gate(gate, BANT, found, meeting_booked=False, product_qualified=False)
    assert not verdict.passed
    assert verdict.reasons == (
        "2 of 4 BANT criteria met, 3 needed (missing: need; failed: budget (no))",
        "budget must be met (yes), the answer is 'no'",
        "no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a "
        "cancellation does not count)",
        "not product-qualified (no PQL signals yet)",
    )


def test_a_missing_must_meet_criterion_quotes_its_question():
    verdict = judge_gate(Gate(min_met=0, must_meet=("need",)), BANT, assess(BANT, {}, TODAY),
                         meeting_booked=True, product_qualified=True)
    assert verdict.reasons == ("need must be met (no answer yet: How strong is their need for what we sell?)",)


def test_the_gate_passes_with_enough_criteria_and_the_extras_and_says_what_was_met():
    found = assess(BANT, answers(budget="yes", authority="decision_maker", need="important"), TODAY)
    verdict = judge_gate(Gate(min_met=3, extras=("meeting_booked",)), BANT, found, meeting_booked=True,
                         product_qualified=False)
    assert (verdict.passed, verdict.reasons) == (True, ())
    assert verdict.summary == "3 of 4 BANT criteria met (budget, authority, need)"


def test_without_min_met_every_criterion_must_be_met():
    found = assess(BANT, answers(budget="yes", authority="decision_maker", need="important"), TODAY)
    verdict = judge_gate(Gate(), BANT, found, meeting_booked=False, product_qualified=False)
    assert verdict.reasons == ("3 of 4 BANT criteria met, 4 needed (missing: timeline)",)
