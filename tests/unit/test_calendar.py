import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadrelay.handoff.calendar import BusinessCalendar, deadline, parse_duration

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
H = timedelta(hours=1)


def office(tz="Europe/Berlin", hours="09:00-17:00", **kwargs):
    return BusinessCalendar.parse(tz, {"mon-fri": hours}, **kwargs)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def berlin(*args):
    return datetime(*args, tzinfo=BERLIN)


# -- add ---------------------------------------------------------------------------------


def test_friday_afternoon_plus_two_business_hours_is_monday_morning():
    result = office().add(berlin(2024, 6, 7, 16), 2 * H)
    assert result == berlin(2024, 6, 10, 10)
    assert result.tzinfo is UTC and result == utc(2024, 6, 10, 8)


def test_a_monday_holiday_pushes_the_deadline_to_tuesday():
    calendar = office(holidays=["2024-06-10"])
    assert calendar.add(berlin(2024, 6, 7, 16), 2 * H) == berlin(2024, 6, 11, 10)


def test_holidays_may_be_dates_or_iso_strings():
    assert office(holidays=[date(2024, 6, 10)]) == office(holidays=["2024-06-10"])


def test_a_lunch_break_is_not_counted():
    calendar = office(hours=["09:00-12:00", "13:00-17:00"])
    assert calendar.add(berlin(2024, 6, 3, 11), 2 * H) == berlin(2024, 6, 3, 14)
    assert calendar.add(berlin(2024, 6, 3, 12, 30), 30 * timedelta(minutes=1)) == berlin(2024, 6, 3, 13, 30)
    assert not calendar.is_working(berlin(2024, 6, 3, 12, 30))
    assert calendar.working_time_between(berlin(2024, 6, 3, 9), berlin(2024, 6, 3, 17)) == 7 * H


def test_comma_separated_ranges_equal_a_list():
    assert office(hours="09:00-12:00, 13:00-17:00") == office(hours=["13:00-17:00", "09:00-12:00"])


def test_starting_on_saturday_counts_from_monday_opening():
    calendar = office()
    assert calendar.add(berlin(2024, 6, 8, 10), H) == berlin(2024, 6, 10, 10)
    assert calendar.next_opening(berlin(2024, 6, 8, 10)) == berlin(2024, 6, 10, 9)


def test_starting_exactly_at_close_counts_from_the_next_opening():
    calendar = office()
    assert calendar.add(berlin(2024, 6, 7, 17), timedelta(0)) == berlin(2024, 6, 10, 9)
    assert calendar.add(berlin(2024, 6, 7, 17), H) == berlin(2024, 6, 10, 10)
    assert not calendar.is_working(berlin(2024, 6, 7, 17))


def test_starting_exactly_at_opening_counts_from_there():
    calendar = office()
    assert calendar.is_working(berlin(2024, 6, 3, 9))
    assert calendar.add(berlin(2024, 6, 3, 9), timedelta(0)) == berlin(2024, 6, 3, 9)
    assert calendar.next_opening(berlin(2024, 6, 3, 9)) == berlin(2024, 6, 3, 9)


def test_a_duration_ending_exactly_at_close_ends_at_close_not_next_morning():
    assert office().add(berlin(2024, 6, 7, 15), 2 * H) == berlin(2024, 6, 7, 17)


def test_forty_eight_business_hours_are_six_eight_hour_days():
    calendar = office()
    assert calendar.add(berlin(2024, 6, 3, 9), 48 * H) == berlin(2024, 6, 10, 17)
    assert calendar.add(berlin(2024, 6, 3, 13), 48 * H) == berlin(2024, 6, 11, 13)


def test_input_in_another_timezone_is_measured_on_the_calendars_clock():
    start = datetime(2024, 6, 7, 10, tzinfo=NEW_YORK)  # 16:00 in Berlin
    assert office().add(start, 2 * H) == berlin(2024, 6, 10, 10)


def test_a_24_hour_end_and_a_daily_calendar_work_around_the_clock():
    calendar = BusinessCalendar.parse("UTC", {"daily": "00:00-24:00"})
    assert calendar.add(utc(2024, 6, 8, 23), 2 * H) == utc(2024, 6, 9, 1)
    assert calendar.is_working(utc(2024, 6, 9, 0))


def test_weekend_only_and_wrapping_day_ranges():
    weekends = BusinessCalendar.parse("UTC", {"weekends": "10:00-12:00"})
    assert weekends.add(utc(2024, 6, 3, 9), 3 * H) == utc(2024, 6, 9, 11)
    wrapping = BusinessCalendar.parse("UTC", {"fri-mon": "10:00-11:00"})
    assert sorted(wrapping.hours) == [0, 4, 5, 6]


# -- DST -------------------------------------------------------------------------------


def test_berlin_spring_forward_weekend_keeps_local_office_hours():
    # Clocks go 02:00 -> 03:00 on Sunday 2024-03-31: Friday is UTC+1, Monday UTC+2.
    assert office().add(berlin(2024, 3, 29, 16), 2 * H) == utc(2024, 4, 1, 8)
    assert office().working_time_between(utc(2024, 3, 25, 0), utc(2024, 4, 6, 0)) == 80 * H


def test_berlin_fall_back_weekend_keeps_local_office_hours():
    # Clocks go 03:00 -> 02:00 on Sunday 2024-10-27: Friday is UTC+2, Monday UTC+1.
    assert office().add(berlin(2024, 10, 25, 16), 2 * H) == utc(2024, 10, 28, 9)


def test_new_york_spring_forward_and_fall_back_weekends():
    calendar = office("America/New_York")
    assert calendar.add(datetime(2024, 3, 8, 16, tzinfo=NEW_YORK), 2 * H) == utc(2024, 3, 11, 14)
    assert calendar.add(datetime(2024, 11, 1, 16, tzinfo=NEW_YORK), 2 * H) == utc(2024, 11, 4, 15)
    assert calendar.subtract(utc(2024, 3, 11, 14), 2 * H) == utc(2024, 3, 8, 21)


def test_a_round_the_clock_day_is_23_real_hours_in_spring_and_25_in_autumn():
    calendar = BusinessCalendar.parse("Europe/Berlin", {"daily": "00:00-24:00"})
    assert calendar.working_time_between(berlin(2024, 3, 30), berlin(2024, 4, 1)) == 47 * H
    assert calendar.working_time_between(berlin(2024, 10, 26), berlin(2024, 10, 28)) == 49 * H
    # Sunday starts 00:00 CET (Sat 23:00 UTC); 24 real hours later is Monday 01:00 CEST.
    assert calendar.add(berlin(2024, 3, 31), 24 * H) == utc(2024, 3, 31, 23)


def test_an_interval_spanning_the_transition_follows_the_clocks():
    calendar = BusinessCalendar.parse("Europe/Berlin", {"sun": "01:00-05:00"})
    spring, autumn = berlin(2024, 3, 31), berlin(2024, 10, 27)
    assert calendar.working_time_between(spring, spring + 24 * H) == 3 * H
    assert calendar.working_time_between(autumn, autumn + 24 * H) == 5 * H
    # 1 hour from 01:00 CET (00:00 UTC) on the spring day; the jump costs no working time.
    assert calendar.add(spring, 2 * H) == utc(2024, 3, 31, 2)


def test_a_wall_time_inside_the_spring_gap_reads_with_the_old_offset():
    # 02:30 does not exist on 2024-03-31; read as 02:30 CET = 03:30 CEST (01:30 UTC).
    calendar = BusinessCalendar.parse("Europe/Berlin", {"sun": "02:30-04:00"})
    spring = berlin(2024, 3, 31)
    assert calendar.next_opening(spring) == utc(2024, 3, 31, 1, 30)
    assert calendar.working_time_between(spring, spring + 24 * H) == timedelta(minutes=30)


def test_kolkata_half_hour_offset():
    calendar = office("Asia/Kolkata", "10:00-18:00")
    result = calendar.add(datetime(2024, 6, 7, 17, tzinfo=KOLKATA), 2 * H)
    assert result == utc(2024, 6, 10, 5, 30)
    assert result.astimezone(KOLKATA) == datetime(2024, 6, 10, 11, tzinfo=KOLKATA)


# -- subtract and properties -------------------------------------------------------------


def test_subtract_steps_back_over_the_weekend():
    calendar = office()
    assert calendar.subtract(berlin(2024, 6, 10, 9, 15), timedelta(minutes=30)) == berlin(2024, 6, 7, 16, 45)
    assert calendar.subtract(berlin(2024, 6, 8, 12), timedelta(0)) == berlin(2024, 6, 7, 17)


def random_cases(count):
    rng = random.Random(1)
    calendars = [
        office(holidays=["2024-03-29", "2024-04-01", "2024-12-25"]),
        office(hours=["09:00-12:00", "13:00-17:30"]),
        office("America/New_York", "08:30-16:45"),
        BusinessCalendar.parse("Europe/Berlin", {"daily": "00:00-24:00"}),
        BusinessCalendar.parse("Europe/Berlin", {"sun": "01:00-05:00", "wed": "22:00-24:00"}),
        office("Asia/Kolkata", "10:00-18:00"),
    ]
    base = utc(2024, 1, 1)
    for _ in range(count):
        calendar = rng.choice(calendars)
        start = base + timedelta(minutes=rng.randrange(366 * 24 * 60))
        duration = timedelta(minutes=rng.randrange(1, 200 * 60))
        yield calendar, start, duration


def test_subtract_undoes_add_from_the_next_opening():
    for calendar, start, duration in random_cases(600):
        end = calendar.add(start, duration)
        assert calendar.subtract(end, duration) == calendar.next_opening(start), (calendar, start, duration)
        assert end > start


def test_working_time_between_start_and_add_result_is_the_duration():
    for calendar, start, duration in random_cases(600):
        assert calendar.working_time_between(start, calendar.add(start, duration)) == duration


def test_working_time_between_is_zero_when_end_is_not_after_start():
    calendar = office()
    assert calendar.working_time_between(berlin(2024, 6, 3, 12), berlin(2024, 6, 3, 10)) == timedelta(0)
    assert calendar.working_time_between(berlin(2024, 6, 3, 12), berlin(2024, 6, 3, 12)) == timedelta(0)


def test_two_thousand_business_hours_land_on_the_right_day_on_dense_and_sparse_calendars():
    assert office().add(berlin(2024, 1, 1, 9), 2000 * H) == berlin(2024, 12, 13, 17)  # 250 days = 50 weeks
    sparse = BusinessCalendar.parse("Europe/Berlin", {"wed": "10:00-11:00"})
    end = sparse.add(berlin(2024, 1, 1), 2000 * H)
    assert sparse.working_time_between(berlin(2024, 1, 1), end) == 2000 * H


# -- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "hours", "message"),
    [
        ("Mars/Olympus", {"mon": "09:00-17:00"}, "unknown timezone: 'Mars/Olympus'"),
        ("", {"mon": "09:00-17:00"}, "unknown timezone: ''"),
        (
            "UTC",
            {"funday": "09:00-17:00"},
            "bad day name 'funday': use mon..sun, a range like mon-fri, weekdays, weekends or daily",
        ),
        (
            "UTC",
            {"mon-fry": "09:00-17:00"},
            "bad day name 'mon-fry': use mon..sun, a range like mon-fri, weekdays, weekends or daily",
        ),
        ("UTC", {"mon": "17:00-09:00"}, "bad range '17:00-09:00' for 'mon': end must be after start"),
        ("UTC", {"mon": "09:00-09:00"}, "bad range '09:00-09:00' for 'mon': end must be after start"),
        ("UTC", {"mon": "9am-5pm"}, "bad range '9am-5pm' for 'mon': expected HH:MM-HH:MM, e.g. 09:00-17:00"),
        ("UTC", {"mon": "09:00-24:30"}, "bad range '09:00-24:30' for 'mon': expected HH:MM-HH:MM, e.g. 09:00-17:00"),
        ("UTC", {"mon": "09:60-17:00"}, "bad range '09:60-17:00' for 'mon': expected HH:MM-HH:MM, e.g. 09:00-17:00"),
        (
            "UTC",
            {"mon-fri": ["09:00-13:00", "12:00-17:00"]},
            "overlapping ranges '09:00-13:00' and '12:00-17:00' for 'mon-fri'",
        ),
        (
            "UTC",
            {"weekdays": "09:00-17:00", "fri": "09:00-13:00"},
            "day 'fri' is given more than once (in 'weekdays' and 'fri')",
        ),
        ("UTC", {}, "calendar has no working time: every day is closed"),
        ("UTC", {"daily": []}, "calendar has no working time: every day is closed"),
        ("UTC", {"mon": 9}, "bad hours for 'mon': expected '09:00-17:00' or a list of such ranges"),
    ],
)
def test_parse_rejects_bad_input_with_a_one_line_message(timezone, hours, message):
    with pytest.raises(ValueError) as error:
        BusinessCalendar.parse(timezone, hours)
    assert str(error.value) == message


def test_parse_rejects_a_bad_holiday():
    with pytest.raises(ValueError) as error:
        BusinessCalendar.parse("UTC", {"mon": "09:00-17:00"}, holidays=["2024-13-01"])
    assert str(error.value) == "bad holiday date: '2024-13-01' (expected YYYY-MM-DD)"


def test_direct_construction_is_validated_too():
    with pytest.raises(ValueError, match="overlapping ranges '09:00-12:00' and '11:00-24:00' for 'mon'"):
        BusinessCalendar("UTC", {0: ((time(9), time(12)), (time(11), time(0)))})
    with pytest.raises(ValueError, match="calendar has no working time"):
        BusinessCalendar("UTC", {})


def test_naive_datetimes_are_rejected():
    calendar = office()
    naive = datetime(2024, 6, 3, 10)
    with pytest.raises(ValueError, match="start must be timezone-aware: 2024-06-03T10:00:00"):
        calendar.add(naive, H)
    for call in (
        lambda: calendar.subtract(naive, H),
        lambda: calendar.is_working(naive),
        lambda: calendar.next_opening(naive),
        lambda: calendar.working_time_between(naive, berlin(2024, 6, 4)),
        lambda: deadline(naive, H, None),
    ):
        with pytest.raises(ValueError, match="must be timezone-aware"):
            call()


def test_a_negative_duration_is_rejected_by_add():
    with pytest.raises(ValueError, match="duration must be a non-negative timedelta"):
        office().add(berlin(2024, 6, 3, 10), -H)


# -- parse_duration and deadline ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5m", timedelta(minutes=5)),
        ("48h", timedelta(hours=48)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("90s", timedelta(seconds=90)),
        ("1w", timedelta(weeks=1)),
        ("5 minutes", timedelta(minutes=5)),
        ("48 hours", timedelta(hours=48)),
        ("2 days", timedelta(days=2)),
        ("1 hour", timedelta(hours=1)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        (" 2D ", timedelta(days=2)),
    ],
)
def test_parse_duration_accepts_short_and_long_forms(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["0m", "-5m", "0h0m", "-1 hour"])
def test_parse_duration_rejects_zero_and_negative(text):
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert str(error.value) == f"duration must be positive: {text!r}"


@pytest.mark.parametrize("text", ["", "abc", "48", "5x", "h5", "5ms", "1h and 30m", "5 mon"])
def test_parse_duration_rejects_garbage_naming_it(text):
    with pytest.raises(ValueError) as error:
        parse_duration(text)
    assert str(error.value) == f"bad duration: {text!r} (expected e.g. '48h', '1h30m', '2 days')"


def test_deadline_without_a_calendar_is_elapsed_wall_clock_time():
    start = berlin(2024, 6, 7, 16)
    assert deadline(start, 2 * H, None) == utc(2024, 6, 7, 16)
    # Across spring-forward, 24h is 24 real hours: Saturday 12:00 CET is Sunday 13:00 CEST.
    assert deadline(berlin(2024, 3, 30, 12), 24 * H, None) == berlin(2024, 3, 31, 13)


def test_deadline_with_a_calendar_uses_business_time():
    assert deadline(berlin(2024, 6, 7, 16), 2 * H, office()) == utc(2024, 6, 10, 8)
