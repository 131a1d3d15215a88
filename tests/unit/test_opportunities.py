"""Deals and the forecast maths, without a database."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from leadrelay.core.errors import InvalidInput, InvalidTransition
from leadrelay.sales.model import (
    DealLine,
    DealRules,
    DealStage,
    forecast,
    iso_week,
    lose,
    move_stage,
    open_opportunity,
    set_probability,
    update_deal,
    win,
)

AT = datetime(2026, 10, 1, 9, tzinfo=UTC)
RULES = DealRules(
    stages=(DealStage("discovery", Decimal(10), "pipeline"), DealStage("proposal", Decimal(60), "best_case"),
            DealStage("negotiation", Decimal(80), "commit"), DealStage("stalled", Decimal(5), "omitted"),
            DealStage("closed_won", Decimal(100), "closed", "won"),
            DealStage("closed_lost", Decimal(0), "omitted", "lost")),
    currencies=("USD", "EUR"), default_currency="USD", lost_reasons=("no_budget", "price"),
)


def new(amount="12000", currency=None, close=date(2026, 12, 1), **kw):
    return open_opportunity(account_id=1, lead_id=7, name="Acme — 20 seats", amount=amount, currency=currency,
                            close_date=close, owner="erin", rules=RULES, at=AT, actor="user:erin", **kw)


def test_a_new_deal_starts_in_the_first_stage_with_its_probability_and_category():
    deal, change, warnings = new()
    assert (deal.stage, deal.probability, deal.category, deal.status, deal.currency) == (
        "discovery", Decimal(10), "pipeline", "open", "USD")
    assert deal.amount == Decimal("12000.00") and warnings == []
    assert change.action == "opened" and change.changes["amount"] == (None, "12000.00")


@pytest.mark.parametrize("kwargs,message", [
    ({"amount": "-5"}, "amount must be zero or more, got -5.00"),
    ({"amount": "12k"}, "amount must be a number like 12000 or 12000.50, got '12k'"),
    ({"amount": "10.005"}, "amount has more than two decimals: 10.005"),
    ({"currency": "XYZ"}, "unknown currency 'XYZ': the playbook allows USD, EUR"),
    ({"stage": "won"}, "no deal stage 'won' in the playbook (stages: discovery, proposal, negotiation, stalled, "
                       "closed_won, closed_lost)"),
    ({"stage": "closed_won"}, "a new opportunity starts in an open stage, not 'closed_won' (open stages: "
                              "discovery, proposal, negotiation, stalled)"),
    ({"close": date(2026, 9, 30)}, "expected close date 2026-09-30 is in the past (today is 2026-10-01); give a "
                                   "future date, or allow a past one on purpose (--allow-past-close) to record a "
                                   "deal after the fact"),
])
def test_bad_input_for_a_new_deal_is_refused_with_a_clear_error(kwargs, message):
    with pytest.raises(InvalidInput) as info:
        new(**kwargs)
    assert info.value.message == message


def test_a_past_close_date_allowed_on_purpose_comes_back_as_a_warning_and_currency_case_is_forgiven():
    deal, _, warnings = new(close=date(2026, 9, 1), allow_past_close=True, currency="eur")
    assert warnings == ["expected close date 2026-09-01 is in the past"]
    assert (deal.close_date, deal.currency) == (date(2026, 9, 1), "EUR")


def test_a_stage_move_applies_the_stage_default_and_drops_the_reps_override():
    deal, _, _ = new()
    set_probability(deal, "35", at=AT, actor="user:erin")
    assert deal.effective_probability == Decimal(35)
    change = move_stage(deal, "negotiation", RULES, at=AT, actor="user:erin")
    assert (deal.stage, deal.effective_probability, deal.category) == ("negotiation", Decimal(80), "commit")
    assert change.changes == {"stage": ("discovery", "negotiation"), "probability": (10.0, 80.0),
                              "forecast_category": ("pipeline", "commit"), "probability_override": (35.0, None)}


@pytest.mark.parametrize("stage,message", [
    ("closed_won", "'closed_won' is the won stage: win the deal instead (opps win)"),
    ("closed_lost", "'closed_lost' is the lost stage: lose the deal with a reason instead (opps lose)"),
    ("discovery", "opportunity 3 is already in 'discovery'"),
    ("nowhere", "no deal stage 'nowhere' in the playbook (stages: discovery, proposal, negotiation, stalled, "
                "closed_won, closed_lost)"),
])
def test_moves_to_closing_stages_the_same_stage_or_an_unknown_stage_are_refused(stage, message):
    deal, _, _ = new()
    deal.id = 3
    with pytest.raises(InvalidInput) as info:
        move_stage(deal, stage, RULES, at=AT, actor="user:erin")
    assert info.value.message == message


@pytest.mark.parametrize("value", ["101", "-1", "lots"])
def test_a_probability_override_is_a_percentage(value):
    deal, _, _ = new()
    with pytest.raises(InvalidInput, match="probability must be a percentage from 0 to 100"):
        set_probability(deal, value, at=AT, actor="user:erin")


def test_winning_closes_the_deal_today_and_a_closed_deal_does_not_change():
    deal, _, _ = new()
    later = AT + timedelta(days=9)
    change = win(deal, RULES, at=later, actor="user:erin")
    assert (deal.status, deal.stage, deal.category, deal.close_date, deal.closed_at) == (
        "won", "closed_won", "closed", later.date(), later)
    assert change.changes["close_date"] == ("2026-12-01", "2026-10-10")
    for act in (lambda: win(deal, RULES, at=later, actor="x"), lambda: lose(deal, "price", RULES, at=later, actor="x"),
                lambda: move_stage(deal, "proposal", RULES, at=later, actor="x")):
        with pytest.raises(InvalidTransition, match="is won: a closed deal does not change"):
            act()


def test_losing_needs_a_reason_from_the_playbook():
    deal, _, _ = new()
    with pytest.raises(InvalidInput) as info:
        lose(deal, "bad_luck", RULES, at=AT, actor="user:erin")
    assert info.value.message == "'bad_luck' is not a lost reason in the playbook (one of no_budget, price)"
    assert deal.status == "open"
    change = lose(deal, "price", RULES, at=AT, actor="user:erin")
    assert (deal.status, deal.lost_reason, deal.category, change.reason) == ("lost", "price", "omitted", "price")


def test_an_update_records_only_what_changed():
    deal, _, _ = new()
    change, warnings = update_deal(deal, RULES, at=AT, actor="user:erin", amount="15000", name="Acme — 20 seats",
                                   close_date=date(2027, 1, 15))
    assert change.changes == {"amount": ("12000.00", "15000.00"), "close_date": ("2026-12-01", "2027-01-15")}
    assert (deal.amount, warnings) == (Decimal("15000.00"), [])
    with pytest.raises(InvalidInput, match="nothing to change"):
        update_deal(deal, RULES, at=AT, actor="user:erin", amount="15000")


def line(i, owner, team, close, category, status, amount, currency="USD", probability=None):
    probability = {"pipeline": 10, "best_case": 60, "commit": 80, "omitted": 5, "closed": 100}[category] \
        if probability is None else probability
    return DealLine(i, owner, team, date.fromisoformat(close), category, status, Decimal(amount), currency,
                    Decimal(probability))


LINES = [
    line(1, "erin", "ae", "2026-10-20", "pipeline", "open", "10000"),
    line(2, "erin", "ae", "2026-11-05", "commit", "open", "20000", probability=90),
    line(3, "felix", "ae", "2026-11-20", "best_case", "open", "5000"),
    line(4, "felix", "ae", "2026-10-02", "closed", "won", "7000", probability=100),
    line(5, "felix", "ae", "2026-10-03", "omitted", "lost", "9000", probability=0),
    line(6, "erin", "ae", "2026-12-01", "omitted", "open", "4000"),  # parked: not in the pipeline
    line(7, "gus", None, "2026-11-01", "commit", "open", "3000", currency="EUR"),
]


def test_the_forecast_totals_follow_their_definitions():
    (key, totals), = [kv for kv in forecast(LINES).items() if kv[0][1] == "USD"]
    assert key == ("all", "USD")
    assert totals.as_dict() == {"open_pipeline": 35000.0, "weighted_pipeline": 22000.0, "commit": 20000.0,
                                "best_case": 5000.0, "closed_won": 7000.0, "open_deals": 3, "won_deals": 1,
                                "lost_deals": 1}


def test_the_forecast_groups_by_month_rep_team_and_category_and_never_adds_currencies():
    by_month = {k: v.as_dict()["weighted_pipeline"] for k, v in forecast(LINES, "month").items()}
    assert by_month == {("2026-10", "USD"): 1000.0, ("2026-11", "EUR"): 2400.0, ("2026-11", "USD"): 21000.0,
                        ("2026-12", "USD"): 0.0}
    by_rep = {k: (v.open_pipeline, v.closed_won) for k, v in forecast(LINES, "rep").items()}
    assert by_rep == {("erin", "USD"): (30000, 0), ("felix", "USD"): (5000, 7000), ("gus", "EUR"): (3000, 0)}
    assert list(forecast(LINES, "team")) == [("-", "EUR"), ("ae", "USD")]
    assert list(forecast(LINES, "category")) == [("pipeline", "USD"), ("best_case", "USD"), ("commit", "EUR"),
                                                 ("commit", "USD"), ("closed", "USD"), ("omitted", "USD")]
    with pytest.raises(InvalidInput, match="cannot group a forecast by 'quarter'"):
        forecast(LINES, "quarter")


def test_weekly_snapshots_are_keyed_by_iso_week():
    assert iso_week(date(2026, 10, 1)) == "2026-W40"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"
