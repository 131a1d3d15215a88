"""Business calendars for SLA deadlines ("accept within 48 business hours").

A calendar is an owner's working week in local wall-clock time (an IANA timezone, working
intervals per weekday, holidays). All arithmetic happens on real (UTC) instants: each
local day's intervals are turned into UTC instants with zoneinfo, day by day, so DST is
handled by the tz database rather than by us. Results are always tz-aware UTC datetimes.

DST choice: wall times are resolved PEP 495 style with fold=0. An ambiguous time in a
fall-back overlap means its first occurrence; a non-existent time in a spring-forward gap
is read with the pre-transition offset (Berlin 02:30 on the spring day acts as 03:30
CEST). So an interval's real length follows the clocks: 00:00-24:00 is 23 hours on a
spring-forward day and 25 on a fall-back day, while 09:00-17:00 stays 8 hours.

Intervals are closed at the opening and open at the close: 17:00 on a 09-17 day is not
working time, but a duration that ends exactly at close ends at 17:00, not the next day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY = timedelta(days=1)
_ZERO = timedelta(0)
# An interval end of 00:00 can only mean end of day ('24:00'), since ends follow starts.
_MIDNIGHT = time(0)
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ALIASES = {"weekdays": range(0, 5), "weekends": range(5, 7), "daily": range(0, 7)}
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")

_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_UNIT_WORDS = r"weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s"
_TOKEN = re.compile(rf"(\d+(?:\.\d+)?)\s*({_UNIT_WORDS})(?![a-z])\s*")


def _minutes(t: time, *, end: bool = False) -> float:
    """Minutes since local midnight; an end of 00:00 counts as 24:00."""
    if end and t == _MIDNIGHT:
        return 24 * 60
    return t.hour * 60 + t.minute + t.second / 60 + t.microsecond / 60e6


def _fmt(t: time, *, end: bool = False) -> str:
    return "24:00" if end and t == _MIDNIGHT else t.strftime("%H:%M")


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware: {value.isoformat()}")
    return value.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone: {name!r}") from None


@dataclass(frozen=True)
class BusinessCalendar:
    """A working week in local time. Build it with `BusinessCalendar.parse` from config.

    `hours` maps weekday (0=Mon..6=Sun) to sorted, non-overlapping `(start, end)` local
    times; an end of `time(0)` means 24:00. A missing weekday is not working.
    """

    timezone: str
    hours: Mapping[int, tuple[tuple[time, time], ...]] = field(hash=False)
    holidays: frozenset[date] = frozenset()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Validated here too (not only in parse) so every calendar has working time and
        # the forward/backward walks below are guaranteed to terminate.
        object.__setattr__(self, "_tz", _zone(self.timezone))
        hours: dict[int, tuple[tuple[time, time], ...]] = {}
        for day, spans in self.hours.items():
            if day not in range(7):
                raise ValueError(f"bad weekday {day!r}: use 0 (Monday) to 6 (Sunday)")
            hours[day] = tuple(tuple(span) for span in spans)  # type: ignore[misc]
            _check_spans(hours[day], _DAY_NAMES[day])
        if not any(hours.values()):
            raise ValueError("calendar has no working time: every day is closed")
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def parse(
        cls, timezone: str, hours: Mapping[str, str | list[str]], holidays: Iterable[date | str] = ()
    ) -> BusinessCalendar:
        """Build a calendar from config, e.g. `parse("Europe/Berlin", {"mon-fri": "09:00-17:00"})`.

        Keys: 'mon'..'sun' (or full names), ranges like 'mon-fri' (wrapping, e.g. 'fri-mon',
        is allowed), 'weekdays', 'weekends', 'daily'. Values: '09:00-17:00', a list of such
        ranges, or a comma-separated string; '24:00' is allowed as an end. Holidays are
        dates or 'YYYY-MM-DD' strings. Raises ValueError with a one-line message.
        """
        _zone(timezone)
        per_day: dict[int, tuple[tuple[time, time], ...]] = {}
        origin: dict[int, str] = {}
        for key, value in hours.items():
            spans = tuple(sorted(_parse_range(text, key) for text in _range_texts(value, key)))
            _check_spans(spans, key)
            for day in _parse_days(key):
                if day in origin:
                    raise ValueError(
                        f"day '{_DAY_NAMES[day]}' is given more than once (in '{origin[day]}' and '{key}')"
                    )
                origin[day], per_day[day] = key, spans
        return cls(timezone, per_day, frozenset(_parse_holiday(h) for h in holidays))

    def is_working(self, at: datetime) -> bool:
        """True if `at` falls inside a working interval (opening included, close excluded)."""
        at = _aware(at, "at")
        day = at.astimezone(self._tz).date()
        return any(s <= at < e for d in (day - _DAY, day) for s, e in self._intervals(d))

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The UTC moment `duration` of working time after `start`.

        Starting outside hours counts from the next opening; a zero duration gives the next
        working moment at or after `start`. A duration that ends exactly at a close ends
        there (Friday 15:00 + 2h on 09-17 is Friday 17:00).
        """
        cursor, remaining = _aware(start, "start"), _non_negative(duration)
        for s, e in self._forward(cursor):
            s = max(s, cursor)
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        raise AssertionError("unreachable: a calendar always has working time")

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The UTC moment `duration` of working time before `end` (inverse of `add`).

        Ending outside hours counts back from the previous close; a zero duration gives the
        latest moment at or before `end` that is working time or a close.
        """
        cursor, remaining = _aware(end, "end"), _non_negative(duration)
        for s, e in self._backward(cursor):
            e = min(e, cursor)
            if remaining <= e - s:
                return e - remaining
            remaining -= e - s
        raise AssertionError("unreachable: a calendar always has working time")

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero if `end <= start`."""
        start, end = _aware(start, "start"), _aware(end, "end")
        total = _ZERO
        if end <= start:
            return total
        for s, e in self._forward(start):
            if s >= end:
                break
            total += min(e, end) - max(s, start)
        return total

    def next_opening(self, at: datetime) -> datetime:
        """The next working moment at or after `at` (`at` itself if it is working time)."""
        return self.add(at, _ZERO)

    # -- walking over working intervals as UTC instants --------------------------------

    def _utc(self, day: date, t: time) -> datetime:
        return datetime.combine(day, t, tzinfo=self._tz).astimezone(UTC)

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The local day's working intervals as sorted, disjoint UTC pairs."""
        if day in self.holidays or not self.hours.get(day.weekday()):
            return []
        next_day = day + _DAY
        # Clipping to the day's own bounds keeps days disjoint even when a gap time maps
        # past midnight, so every instant belongs to at most one day.
        lo, hi = self._utc(day, _MIDNIGHT), self._utc(next_day, _MIDNIGHT)
        raw = sorted(
            (max(self._utc(day, s), lo), min(self._utc(next_day if e == _MIDNIGHT else day, e), hi))
            for s, e in self.hours[day.weekday()]
        )
        merged: list[tuple[datetime, datetime]] = []
        for s, e in raw:
            if e <= s:
                continue  # an interval entirely inside a spring-forward gap
            if merged and s <= merged[-1][1]:
                # Gap times read with the old offset can overlap the next interval.
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    def _forward(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals ending after `at`, in order. One step per day, never per minute."""
        day = at.astimezone(self._tz).date() - _DAY
        while True:
            for s, e in self._intervals(day):
                if e > at:
                    yield s, e
            day += _DAY

    def _backward(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals starting before `at`, latest first."""
        day = at.astimezone(self._tz).date() + _DAY
        while True:
            for s, e in reversed(self._intervals(day)):
                if s < at:
                    yield s, e
            day -= _DAY


def _non_negative(duration: timedelta) -> timedelta:
    if not isinstance(duration, timedelta) or duration < _ZERO:
        raise ValueError(f"duration must be a non-negative timedelta, got {duration!r}")
    return duration


def _check_spans(spans: tuple[tuple[time, time], ...], where: str) -> None:
    for span in spans:
        if len(span) != 2 or not all(isinstance(t, time) and t.tzinfo is None for t in span):
            raise ValueError(f"bad interval {span!r} for '{where}': expected (start, end) naive times")
    for s, e in spans:
        if _minutes(s) >= _minutes(e, end=True):
            raise ValueError(f"bad range '{_fmt(s)}-{_fmt(e, end=True)}' for '{where}': end must be after start")
    ordered = sorted(spans, key=lambda span: _minutes(span[0]))
    for (s1, e1), (s2, e2) in zip(ordered, ordered[1:]):
        if _minutes(s2) < _minutes(e1, end=True):
            raise ValueError(
                f"overlapping ranges '{_fmt(s1)}-{_fmt(e1, end=True)}' and "
                f"'{_fmt(s2)}-{_fmt(e2, end=True)}' for '{where}'"
            )


def _day_index(name: str, key: str) -> int:
    name = name.strip().lower()
    for names in (_DAY_NAMES, _FULL_NAMES):
        if name in names:
            return names.index(name)
    raise ValueError(f"bad day name '{key}': use mon..sun, a range like mon-fri, weekdays, weekends or daily")


def _parse_days(key: str) -> list[int]:
    lowered = key.strip().lower()
    if lowered in _ALIASES:
        return list(_ALIASES[lowered])
    first, dash, last = lowered.partition("-")
    if not dash:
        return [_day_index(first, key)]
    a, b = _day_index(first, key), _day_index(last, key)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]


def _range_texts(value: str | list[str], key: str) -> list[str]:
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"bad hours for '{key}': expected '09:00-17:00' or a list of such ranges")


def _parse_range(text: str, key: str) -> tuple[time, time]:
    match = _RANGE.fullmatch(text.strip())
    if match:
        h1, m1, h2, m2 = map(int, match.groups())
        if h1 < 24 and m1 < 60 and m2 < 60 and (h2 < 24 or (h2, m2) == (24, 0)):
            return time(h1, m1), time(h2 % 24, m2)
    raise ValueError(f"bad range '{text.strip()}' for '{key}': expected HH:MM-HH:MM, e.g. 09:00-17:00")


def _parse_holiday(value: date | str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"bad holiday date: {value!r} (expected YYYY-MM-DD)") from None


def parse_duration(text: str) -> timedelta:
    """Parse '5m', '48h', '2d', '1h30m', '90s', '1w', '1.5h' or '5 minutes', '2 days'.

    Raises ValueError for garbage (naming it) and for zero or negative durations.
    """
    if not isinstance(text, str):
        raise ValueError(f"bad duration: {text!r} (expected e.g. '48h', '1h30m', '2 days')")
    body = text.strip().lower()
    negative = body.startswith("-")
    body = body.lstrip("+-").strip()
    matches = list(_TOKEN.finditer(body))
    if not body or not matches or "".join(m.group(0) for m in matches) != body:
        raise ValueError(f"bad duration: {text!r} (expected e.g. '48h', '1h30m', '2 days')")
    total = sum(
        (timedelta(**{_UNITS[m.group(2)[0]]: float(m.group(1))}) for m in matches), _ZERO
    )
    if negative or total <= _ZERO:
        raise ValueError(f"duration must be positive: {text!r}")
    return total


def deadline(start: datetime, duration: timedelta, calendar: BusinessCalendar | None) -> datetime:
    """When `duration` is up: elapsed real time if `calendar` is None, else business time.

    Wall-clock here means real elapsed time (computed in UTC), so a 24h deadline across a
    DST change is still 24 real hours.
    """
    if calendar is None:
        return _aware(start, "start") + _non_negative(duration)
    return calendar.add(start, duration)
