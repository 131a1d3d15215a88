"""Scores as people read them: cut, not rounded, so a shown score never meets a bar the real one does not.

Engagement decays continuously: ten points earned nine minutes ago and fifteen now make 24.997, which
rounding shows as 25.0 beside an MQL bar of 25 it does not meet. Cut to the places shown, it reads 24.9.
"""

from __future__ import annotations

import math
import re
from typing import Any

# A number as a form or a CRM sends it as text: "300", " -12.5 ", "1,200" (thousands separated by commas);
# "1e3", "nan" and "12,34" are not.
_NUMBER_TEXT = re.compile(r"\s*[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)\s*")


def shown(value: float, places: int = 1) -> float:
    """`value` cut to `places` decimals, toward minus infinity (a bar is met at or above it)."""
    factor = 10**places
    return math.floor(round(value * factor, 6)) / factor  # round first: 2.3 * 10 is 22.999999999999996


def score_text(value: float) -> str:
    """`40`, `24.9`, `-5.5`: a score to one decimal, cut (see `shown`), without a trailing `.0`."""
    cut = shown(value)
    return f"{cut:g}" if cut.is_integer() else f"{cut:.1f}"


def as_number(value: Any) -> float | None:
    """`value` as a number a rule compares: an int or a float (not a bool, not NaN), or text that is a plain
    decimal number (`"300"`, `" 12.5 "`, `"1,200"`: forms and CRMs send numbers as text); else None
    (`"about 300"`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value == value else None
    if isinstance(value, str) and len(value) <= 40 and _NUMBER_TEXT.fullmatch(value):
        return float(value.replace(",", ""))
    return None
