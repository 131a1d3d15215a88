from datetime import UTC, datetime, timedelta

from leadrelay.handoff.calendar import BusinessCalendar
from leadrelay.handoff.sla import Policy, Rung, Timer, escalation_timers, plan

START = datetime(2026, 10, 2, 14, 0, tzinfo=UTC)  # Friday 16:00 in Berlin
BERLIN = BusinessCalendar.parse("Europe/Berlin", {"mon-fri": "09:00-17:00"})


def test_a_wall_clock_policy_counts_minutes_day_and_night_and_plans_warning_breach_and_ladder():
    policy = Policy("demo", "hand_raise", business=False, first_touch=timedelta(minutes=5),
                    warn_before=timedelta(minutes=2),
                    ladders={"first_touch": (Rung(timedelta(0), "notify_manager"),
                                             Rung(timedelta(minutes=15), "reassign"))})
    due, timers = plan(policy, START, BERLIN)
    assert due == {"first_touch": START + timedelta(minutes=5)}
    assert timers == [
        Timer("first_touch", "warning", 0, START + timedelta(minutes=3)),
        Timer("first_touch", "breach", 0, START + timedelta(minutes=5)),
    ]
    # The ladder is planned when the breach fires.
    assert escalation_timers(policy, "first_touch", due["first_touch"], BERLIN) == [
        Timer("first_touch", "escalation", 1, START + timedelta(minutes=5), "notify_manager"),
        Timer("first_touch", "escalation", 2, START + timedelta(minutes=20), "reassign"),
    ]


def test_a_business_policy_stops_the_clock_at_the_weekend():
    policy = Policy("mql", "mql", business=True, accept=timedelta(hours=2), warn_before=timedelta(hours=1),
                    touches=(3, timedelta(days=7)))
    due, timers = plan(policy, START, BERLIN)
    monday_10 = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
    assert due == {"accept": monday_10, "touches": START + timedelta(days=7)}  # persistence: calendar days
    assert timers[0] == Timer("accept", "warning", 0, datetime(2026, 10, 5, 7, 0, tzinfo=UTC))


def test_no_warning_when_there_is_no_time_to_give_one():
    policy = Policy("p", "sql", business=False, accept=timedelta(minutes=1), warn_before=timedelta(minutes=5))
    _, timers = plan(policy, START, None)
    assert [t.step for t in timers] == ["breach"]


def test_catching_up_tells_nobody_about_steps_a_later_move_overtook():
    from leadrelay.handoff.sla import Fired, not_news

    t = START
    fired = [
        Fired(t, "warning", "first_touch"),
        Fired(t + timedelta(minutes=2), "breach", "first_touch"),
        Fired(t + timedelta(minutes=2), "escalation", "first_touch", "notify_rep"),
        Fired(t + timedelta(minutes=12), "escalation", "first_touch", "reassign", moved=True),
        Fired(t + timedelta(minutes=32), "escalation", "first_touch", "return_to_marketing", moved=True),
    ]
    late = "overtaken by return_to_marketing at 2026-10-02T14:32:00Z"
    assert not_news(fired) == {0: late, 1: late, 2: late, 3: late}


def test_a_step_at_the_same_moment_as_a_move_is_still_news_and_a_warning_is_not_when_its_breach_is_due():
    from leadrelay.handoff.sla import Fired, not_news

    fired = [Fired(START, "warning", "accept"), Fired(START, "breach", "first_touch"),
             Fired(START + timedelta(minutes=5), "breach", "accept"),
             Fired(START + timedelta(minutes=5), "escalation", "first_touch", "reassign", moved=True)]
    assert not_news(fired) == {0: "overtaken by reassign at 2026-10-02T14:05:00Z", 1:
                               "overtaken by reassign at 2026-10-02T14:05:00Z"}
    assert not_news([Fired(START, "warning", "accept"), Fired(START, "breach", "accept")]) == {
        0: "the breach is due too"}
