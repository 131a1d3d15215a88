"""Taking a person's strings out of free text and documents. Pure: standard library only.

A row *about* the erased person (linked by lead id, or naming one of their identifiers)
keeps its shape and its non-personal facts; what it says about who they are goes. A
string equal to one of their identifiers becomes `ERASED` whatever its length; inside
longer text, their identifiers and names are replaced where they are at least
`MIN_NEEDLE` characters long (a user id "7" must not eat every 7 in a reason).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

ERASED = "[erased]"
MIN_NEEDLE = 3
# The traits that name or reach a person, in the spellings Segment's spec and CRMs use.
PERSONAL_TRAITS = ("name", "first_name", "firstName", "last_name", "lastName", "full_name", "fullName", "phone",
                   "mobile", "username", "email")


def personal_strings(traits: Iterable[dict[str, Any]]) -> set[str]:
    """The person's names, phone numbers and addresses found in these trait dictionaries (and a full name
    made of first and last name, as notices show it)."""
    found: set[str] = set()
    for bag in traits:
        if not isinstance(bag, dict):
            continue
        for key in PERSONAL_TRAITS:
            value = bag.get(key)
            if isinstance(value, str) and value.strip():
                found.add(value.strip())
        first = bag.get("first_name") or bag.get("firstName")
        last = bag.get("last_name") or bag.get("lastName")
        if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
            found.add(f"{first.strip()} {last.strip()}")
    return found


class Scrubber:
    """Replaces one person's strings: `exact` (identifiers, any length) and `needles` (found inside text)."""

    def __init__(self, exact: Iterable[str], needles: Iterable[str]):
        self.exact = {value.casefold() for value in exact if value}
        long = sorted({n for n in (*exact, *needles) if n and len(n) >= MIN_NEEDLE}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(n) for n in long), re.IGNORECASE) if long else None

    def text(self, value: str | None) -> str | None:
        """`value` with the person's strings replaced (None stays None)."""
        if value is None:
            return None
        if value.casefold() in self.exact:
            return ERASED
        return self._pattern.sub(ERASED, value) if self._pattern is not None else value

    def document(self, value: Any) -> Any:
        """A JSON document with every string (keys included) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.document(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.document(v) for v in value]
        return value
