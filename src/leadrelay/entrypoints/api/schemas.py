"""Types shared by the API's request models."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (an unpaired surrogate)") from None
    return value


SafeText = Annotated[str, AfterValidator(_storable)]
"""Text the store can keep: no NUL character, no unpaired UTF-16 surrogate."""
