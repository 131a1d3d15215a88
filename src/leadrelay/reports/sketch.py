"""Durations kept as counts per rounded value, so medians and p90s can be added up day by day.

A report's medians come from rollups per day (see `reports.rollups`), and a median cannot
be added; counts can. Every duration is kept as its value rounded to three significant
figures — to the tenth below 100 (days, minutes or seconds, as the report shows it), to
the unit below 1,000 — and counted. The nearest-rank quantile of the counts is then the
quantile of the exact values rounded the same way: exact to the figure shown below 100,
within half a percent above. The number of distinct values stays small however many leads
there are, which is what keeps a report's cost from growing with the store.

A bucket is the rounded value in tenths, as an integer (14.6 days is 146).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date


def bucket(value: float) -> int:
    """`value` rounded to three significant figures (at least to the tenth), in tenths."""
    size = abs(value)
    if size < 100:
        return round(round(value, 1) * 10)
    digits = 2 - math.floor(math.log10(size))  # 100..999 -> 0 decimals, 1000..9999 -> -1
    return round(round(value, digits) * 10)


def value_of(tenths: int) -> float:
    return tenths / 10


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The nearest-rank `q` quantile of the values counted per bucket; None when there are none."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for tenths in sorted(counts):
        seen += counts[tenths]
        if seen >= rank:
            return value_of(tenths)
    return None  # pragma: no cover - counts sum to total


def encode(counts: Mapping[int, int]) -> list[int]:
    """Counts as a flat list [bucket, count, bucket, count, ...] (for a JSON column); zero counts left out."""
    return [x for item in sorted(counts.items()) if item[1] for x in item]


def decode(flat: Iterable[int], into: dict[int, int], sign: int = 1) -> dict[int, int]:
    """Add the counts of an encoded list to `into` (times `sign`); returns `into`."""
    items = iter(flat)
    for tenths, count in zip(items, items, strict=True):
        into[tenths] = into.get(tenths, 0) + sign * count
    return into


class Cell:
    """How many facts a rollup cell counts and, for durations, their counts per bucket.

    Counts read from storage stay encoded until something needs them as a mapping: a cell
    made of one stored list answers its quantiles straight from it."""

    __slots__ = ("n", "_counts", "_stored")

    def __init__(self) -> None:
        self.n = 0
        self._counts: dict[int, int] = {}
        self._stored: list[list[int]] = []

    @property
    def counts(self) -> dict[int, int]:
        if self._stored:
            for flat in self._stored:
                decode(flat, self._counts)
            self._stored = []
        return self._counts

    def add(self, tenths: int | None, sign: int = 1) -> None:
        self.n += sign
        if tenths is not None:
            counts = self.counts
            counts[tenths] = counts.get(tenths, 0) + sign

    def merge(self, n: int, flat: list[int] | None) -> None:
        self.n += n
        if flat:
            self._stored.append(flat)

    def absorb(self, other: Cell) -> None:
        self.n += other.n
        if not other._counts:
            self._stored += other._stored
            return
        counts = self.counts
        for tenths, count in other.counts.items():
            counts[tenths] = counts.get(tenths, 0) + count

    def quantile(self, q: float) -> float | None:
        if not self._counts and len(self._stored) == 1:
            return _quantile_of(self._stored[0], q)
        return quantile(self.counts, q)


def _quantile_of(flat: list[int], q: float) -> float | None:
    """`quantile` of one encoded list (sorted by bucket, as `encode` writes it)."""
    total = sum(flat[1::2])
    if total <= 0:
        return None
    rank, seen = max(math.ceil(q * total), 1), 0
    for i in range(0, len(flat), 2):
        seen += flat[i + 1]
        if seen >= rank:
            return value_of(flat[i])
    return None  # pragma: no cover - counts sum to total


Fact = tuple[str, date, int | None]  # metric, the day it counts on, a bucket (None: a count); see below
Tally = dict[tuple[str | None, str], dict[str, Cell]]  # (period, group) -> metric -> cell


def add_fact(cells: dict[str, Cell], metric: str, tenths: int | None, sign: int = 1) -> None:
    """Count one fact. A metric named `sum:...` adds its value (an amount) to `n` instead of counting."""
    cell = cells.get(metric)
    if cell is None:
        cell = cells[metric] = Cell()
    if metric.startswith("sum:"):
        cell.n += sign * (tenths or 0)
    else:
        cell.add(tenths, sign)


def wanted(metrics: Iterable[str]):
    """A test for metric names: those listed, and every one that starts with a listed name ending in ':'."""
    exact = frozenset(m for m in metrics if not m.endswith(":"))
    prefixes = tuple(m for m in metrics if m.endswith(":"))
    return lambda metric: metric in exact or (bool(prefixes) and metric.startswith(prefixes))
