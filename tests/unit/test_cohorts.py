"""Cohort reports on journeys written by hand: every expected figure is counted here, not by the code."""

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.lead.stages import Stage
from leadrelay.reports.cohorts import Journey, conversion, funnel, period_of, quantile_days

OCT = datetime(2026, 10, 5, 9, tzinfo=UTC)
NOV = datetime(2026, 11, 2, 9, tzinfo=UTC)
L, M, SAL, SQL, OPP, CUST = Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER


def j(lead_id, start, steps, source="ads"):
    """steps: [(stage, days after `start`, transition)]."""
    return Journey(lead_id, tuple((stage, start + timedelta(days=d), how) for stage, d, how in steps),
                   {"source": source, "rep": "ann"})


JOURNEYS = [
    # 1: the whole way, in order
    j(1, OCT, [(L, 0, "identify"), (M, 1, "advance"), (SAL, 2, "advance"), (SQL, 5, "advance"),
               (OPP, 6, "convert"), (CUST, 20, "won")]),
    # 2: a hand-raiser that jumped from lead to SAL: skipped MQL
    j(2, OCT, [(L, 0, "identify"), (SAL, 0.5, "hand_raise"), (SQL, 3, "advance")]),
    # 3: MQL, then recycled to lead, then MQL again and SAL
    j(3, OCT, [(L, 0, "identify"), (M, 2, "advance"), (L, 4, "recycle"), (M, 10, "advance"), (SAL, 11, "advance")]),
    # 4: stays a lead; another source
    j(4, OCT, [(L, 0, "identify")], source="seo"),
    # 5: a November lead, MQL after 3 days
    j(5, NOV, [(L, 0, "identify"), (M, 3, "advance")], source="seo"),
]


def test_conversion_counts_the_leads_that_entered_the_first_stage_and_reached_the_second():
    [row] = conversion(JOURNEYS, L, M)
    # entered lead: 1, 2, 3, 4, 5; reached MQL after: 1 (1 day), 3 (2 days), 5 (3 days)
    assert row == {"group": "all", "period": None, "entered": 5, "converted": 3, "rate": 0.6,
                   "median_days": 2.0, "p90_days": 3.0}


def test_conversion_by_source_and_month_puts_each_lead_in_the_month_it_entered():
    rows = conversion(JOURNEYS, L, M, by="source", period="month")
    assert [(r["period"], r["group"], r["entered"], r["converted"]) for r in rows] == [
        ("2026-10", "ads", 3, 2), ("2026-10", "seo", 1, 0), ("2026-11", "seo", 1, 1)]


def test_conversion_measures_from_the_first_entry_to_the_first_arrival():
    [row] = conversion(JOURNEYS, M, SAL)
    # entered MQL: 1 (day 1), 3 (day 2), 5; reached SAL: 1 after 1 day, 3 after 9 days (day 11 - day 2)
    assert (row["entered"], row["converted"], row["median_days"], row["p90_days"]) == (3, 2, 1.0, 9.0)


def test_an_in_order_funnel_never_counts_a_stage_a_hand_raiser_skipped_as_converted():
    [row] = funnel(JOURNEYS, L)
    stages = {s["stage"]: s for s in row["stages"]}
    assert row["entered"] == 5
    assert stages["mql"]["reached"] == 3  # 1, 3 and 5
    assert (stages["sal"]["reached"], stages["sal"]["via_hand_raise"]) == (2, 1)  # 1 and 3 in order; 2 jumped
    assert (stages["sql"]["reached"], stages["sql"]["via_hand_raise"]) == (1, 1)
    assert stages["customer"]["reached"] == 1 and stages["customer"]["median_days"] == 20.0


def test_an_any_order_funnel_counts_every_stage_a_lead_reached():
    [row] = funnel(JOURNEYS, L, mode="any_order")
    stages = {s["stage"]: s for s in row["stages"]}
    assert [stages[s]["reached"] for s in ("mql", "sal", "sql", "opportunity", "customer")] == [3, 3, 2, 1, 1]
    assert "via_hand_raise" not in stages["sal"]


def test_a_funnel_from_mql_leaves_out_leads_that_never_were_mqls():
    [row] = funnel(JOURNEYS, M)
    assert row["entered"] == 3  # 1, 3, 5: the hand-raiser 2 never entered MQL
    assert {s["stage"]: s["reached"] for s in row["stages"]}["sal"] == 2


@pytest.mark.parametrize(("period", "label"), [("month", "2026-10"), ("quarter", "2026-Q4"), ("week", "2026-W41")])
def test_periods_are_named_as_people_write_them(period, label):
    assert period_of(OCT, period) == label


def test_quantiles_use_the_nearest_rank():
    assert quantile_days([5, 1, 3, 2, 4], 0.5) == 3
    assert quantile_days([1.0] * 9 + [10.0], 0.9) == 1.0
    assert quantile_days([1.0] * 8 + [10.0] * 2, 0.9) == 10.0
    assert quantile_days([], 0.5) is None


def test_velocity_says_how_long_leads_stay_in_each_stage_and_how_long_the_steps_take():
    from leadrelay.reports.cohorts import velocity

    [row] = velocity(JOURNEYS)
    stages = {s["stage"]: s for s in row["stages"]}
    assert row["leads"] == 5
    # lead: left after 1 (lead 1), 0.5 (2), 2 (3), 3 (5) days; lead 4 is still there
    assert (stages["lead"]["entered"], stages["lead"]["still_in"]) == (5, 1)
    assert (stages["lead"]["p50_days_in_stage"], stages["lead"]["p90_days_in_stage"]) == (1.0, 3.0)
    # mql: 1 stayed 1 day, 3 stayed 2 days (first entry to the recycle), 5 is still an MQL
    assert (stages["mql"]["still_in"], stages["mql"]["p50_days_in_stage"]) == (1, 1.0)
    # lead -> mql: 1, 2 and 3 days (leads 1, 3, 5)
    assert (stages["mql"]["p50_days_from_previous"], stages["mql"]["p90_days_from_previous"]) == (2.0, 3.0)
