"""Page cursors: the sort key of the last row a page returned, handed back for the next page.

Opaque to clients: URL-safe base64 (no padding) of a compact JSON array of the key's
parts, moments as `utc_iso` writes them and days as ISO dates. A query resumes strictly
after the key, so pages neither repeat nor skip rows that did not change in between.
Anything this API did not hand out is an InvalidInput that names the parameter it came in.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime
from typing import Any

from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso

MAX_ID = 2**63 - 1  # row ids are BIGINT
Part = str | int | date | datetime
_KINDS = (str, int, date, datetime)


def encode_cursor(*key: Part) -> str:
    """The cursor of a page that ends at `key`, e.g. `encode_cursor(last.updated_at, last.id)`."""
    parts = [utc_iso(p) if isinstance(p, datetime) else p.isoformat() if isinstance(p, date) else p for p in key]
    raw = json.dumps(parts, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type, param: str = "cursor") -> tuple[Any, ...]:
    """The key `cursor` holds, one part per kind, in order, each checked and typed.

    Kinds: `datetime` (aware, returned in UTC), `date`, `int` (a row id, 1 to 2**63-1) and
    `str`. Anything else raises InvalidInput "`param`: not a cursor this API handed out".
    """
    unknown = [kind for kind in kinds if kind not in _KINDS]
    if unknown:
        raise TypeError(f"a cursor part is one of {_KINDS}, not {unknown[0]!r}")
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("not a key of this shape")
        return tuple(_part(value, kind) for value, kind in zip(parts, kinds, strict=True))
    except (ValueError, TypeError, OverflowError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise InvalidInput(f"{param}: not a cursor this API handed out") from None


def _part(value: object, kind: type) -> Part:
    if kind is datetime:
        moment = datetime.fromisoformat(value)  # type: ignore[arg-type]  # TypeError unless a str
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment.astimezone(UTC)
    if kind is date:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
            raise ValueError("not a row id")
        return value
    if not isinstance(value, str):
        raise ValueError("not text")
    return value
