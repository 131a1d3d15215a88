"""Page cursors: what one page hands out, the next page reads back; anything else names the parameter."""

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from leadrelay.core.cursor import decode_cursor, encode_cursor
from leadrelay.core.errors import InvalidInput

MOMENT = datetime(2026, 10, 1, 9, 0, 0, 120_034, tzinfo=UTC)


def raw(parts) -> str:
    """A cursor as a client could forge it."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def test_a_key_round_trips_exactly_and_the_cursor_is_url_safe_without_padding():
    key = ("-updated_at", MOMENT, 2**63 - 1)
    cursor = encode_cursor(*key)
    assert decode_cursor(cursor, str, datetime, int) == key
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(encode_cursor(date(2026, 12, 31), 7), date, int) == (date(2026, 12, 31), 7)


def test_moments_are_written_as_utc_iso_and_read_back_in_utc():
    berlin = MOMENT.astimezone(timezone(timedelta(hours=2)))
    cursor = encode_cursor(berlin, 1)
    assert json.loads(base64.urlsafe_b64decode(cursor + "==")) == ["2026-10-01T09:00:00.120034Z", 1]
    (moment, _) = decode_cursor(cursor, datetime, int)
    assert (moment, moment.tzinfo) == (MOMENT, UTC)


def test_cursors_handed_out_before_the_shared_codec_still_work():
    old_activities = raw(["2026-10-01T09:00:00.120034+00:00", 5])  # json.dumps with ", " and +00:00
    assert decode_cursor(old_activities, datetime, int) == (MOMENT, 5)
    assert decode_cursor(raw(["2026-12-31", 7]), date, int) == (date(2026, 12, 31), 7)


@pytest.mark.parametrize("cursor", [
    "not-a-cursor", "", "é", raw({"a": 1}), raw(["2026-10-01T09:00:00Z"]), raw(["2026-10-01T09:00:00Z", 1, 2]),
    raw(["2026-10-01T09:00:00", 1]),  # naive: never handed out
    raw(["yesterday", 1]), raw([20261001, 1]), raw(["2026-10-01T09:00:00Z", 0]), raw(["2026-10-01T09:00:00Z", 2**63]),
    raw(["2026-10-01T09:00:00Z", True]), raw(["2026-10-01T09:00:00Z", "1"]), raw(["0001-01-01T00:00:00+01:00", 1]),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_anything_this_api_did_not_hand_out_is_invalid_input_naming_the_parameter(cursor):
    with pytest.raises(InvalidInput) as raised:
        decode_cursor(cursor, datetime, int)
    assert raised.value.message == "cursor: not a cursor this API handed out"
    with pytest.raises(InvalidInput, match="^before: not a cursor this API handed out$"):
        decode_cursor(cursor, datetime, int, param="before")


def test_text_and_dates_are_checked_too():
    with pytest.raises(InvalidInput):
        decode_cursor(raw([1, "2026-10-01T09:00:00Z", 1]), str, datetime, int)
    with pytest.raises(InvalidInput):
        decode_cursor(raw(["2026-13-01", 1]), date, int)


def test_a_kind_the_codec_does_not_know_is_a_programming_error_not_bad_input():
    with pytest.raises(TypeError, match="a cursor part is one of"):
        decode_cursor(encode_cursor(1.5), float)
