"""Reading a dotted field path (`properties.plan`) from the nested mappings an activity or a lead gives.

Shared by the playbook's conditions and the engine's rule matching (`lead.matching`), which must read a
field exactly as the condition does. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MISSING = object()  # a field that is not there: not the same as one that is null

Reader = Callable[[Mapping[str, Any]], Any]


def getter(path: str) -> Reader:
    """A function reading a dotted path from nested mappings; `MISSING` where there is nothing."""
    head, *rest = path.split(".")
    if not rest:
        return lambda fields: fields.get(head, MISSING)

    def get(fields: Mapping[str, Any]) -> Any:
        value = fields.get(head, MISSING)
        for part in rest:
            if not isinstance(value, Mapping):
                return MISSING
            value = value.get(part, MISSING)
        return value

    return get
