from datetime import UTC, datetime, timedelta

from leadrelay.domain.calendar import BusinessCalendar
from leadrelay.domain.sla import Policy, Rung, Timer, escalation_timers, plan

START = datetime(2026, 10, 2, 14, 0, tzinfo=UTC)  # Friday 16:00 in Berlin
BERLIN = BusinessCalendar.parse("Europe/Berlin", {"mon-fri": "09:00-17:00"})


def test_a_wall_clock_policy_counts_minutes_day_and_night_and_plans_warning_breach_and_ladder():
    policy = Policy("demo", "hand_raise", business=False, first_touch=timedelta(minutes=5),
                    warn_before=timedelta(minutes=2),
                    ladders={"first_touch": (Rung(timedelta(0), "notify_manager"), Rung(timedelta(minutes=15), "reassign"))})
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
