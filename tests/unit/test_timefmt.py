"""One way to write a moment: RFC 3339 in UTC with a Z, read back to the same moment."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadrelay.core.time import utc_iso

BERLIN_SUMMER = timezone(timedelta(hours=2))


def test_a_moment_is_written_in_utc_with_a_z_whatever_its_zone():
    assert utc_iso(datetime(2026, 10, 1, 9, 0, tzinfo=UTC)) == "2026-10-01T09:00:00Z"
    assert utc_iso(datetime(2026, 10, 1, 11, 0, tzinfo=BERLIN_SUMMER)) == "2026-10-01T09:00:00Z"
    assert utc_iso(datetime(2026, 10, 1, 0, 30, tzinfo=BERLIN_SUMMER)) == "2026-09-30T22:30:00Z"


def test_microseconds_appear_only_when_there_are_some_and_read_back_exactly():
    moment = datetime(2026, 10, 1, 9, 0, 0, 120_034, tzinfo=UTC)
    assert utc_iso(moment) == "2026-10-01T09:00:00.120034Z"
    assert datetime.fromisoformat(utc_iso(moment)) == moment


def test_milliseconds_for_log_lines_and_segment_style_timestamps():
    assert utc_iso(datetime(2026, 10, 1, 9, 0, tzinfo=UTC), timespec="milliseconds") == "2026-10-01T09:00:00.000Z"
    assert utc_iso(datetime(2026, 10, 1, 9, 0, 0, 120_999, tzinfo=UTC), timespec="milliseconds") == \
        "2026-10-01T09:00:00.120Z"


def test_none_stays_none_and_a_naive_moment_is_refused():
    assert utc_iso(None) is None
    with pytest.raises(ValueError, match="naive datetime"):
        utc_iso(datetime(2026, 10, 1, 9, 0))
