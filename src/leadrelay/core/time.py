"""How LeadRelay writes a moment as text: RFC 3339 in UTC with a `Z`, e.g. `2026-10-01T09:00:00Z`.

The one format of every timestamp the API, the CLI's JSON, webhooks and logs put out (the
Standard Webhooks examples write it so, and JavaScript's `Date.toISOString` reads and
writes it). Microseconds appear only when the moment has them, so a value read back with
`datetime.fromisoformat` is the moment that was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, overload

Timespec = Literal["auto", "seconds", "milliseconds", "microseconds"]


@overload
def utc_iso(moment: datetime, *, timespec: Timespec = "auto") -> str: ...


@overload
def utc_iso(moment: None, *, timespec: Timespec = "auto") -> None: ...


def utc_iso(moment: datetime | None, *, timespec: Timespec = "auto") -> str | None:
    """`moment` in UTC as `2026-10-01T09:00:00Z` (None stays None).

    `timespec` as in `datetime.isoformat`: "auto" shows microseconds only when there are
    some; "milliseconds" always shows three digits (log lines, Segment-style timestamps).
    A naive datetime raises ValueError: LeadRelay keeps time zone-aware, and guessing the
    zone of a naive one is how wrong hours get into reports.
    """
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: give a timezone-aware moment")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def parse_utc(text: str) -> datetime:
    """An ISO-8601 / RFC 3339 moment as an aware UTC datetime (no zone: UTC). ValueError if it is not one."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text.upper())  # RFC 3339 allows a lower-case "t" and "z"
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"out of range in UTC: {text}") from None


@overload
def said_at(moment: datetime) -> str: ...


@overload
def said_at(moment: None) -> None: ...


def said_at(moment: datetime | None) -> str | None:
    """`moment` as a notice's words name it (a `why`, a reason, a timer's outcome): UTC to the second,
    `2026-12-07T04:36:50Z`.

    People read these, so a deadline computed from a clock reading (`04:36:50.609687`) is not shown to the
    microsecond. Payload fields (`due_at`, `deadlines`, ...) keep `utc_iso`'s full precision: machines read those.
    None stays None.
    """
    return utc_iso(moment, timespec="seconds")
