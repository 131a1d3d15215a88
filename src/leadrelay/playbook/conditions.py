"""Conditions: a declarative tree (all / any / not over field comparisons), compiled once.

A comparison is written as one field and one operator::

    - event: Demo Requested                 # shorthand for ==
    - path: {starts with: /pricing}
    - fit: {">=": 40}
    - traits.country: {in: [US, CA]}

Compiling turns the tree into plain Python closures; nothing is ever passed to `eval`.
String comparisons ignore case, because marketing data rarely agrees on it
(`Google` and `google` are the same lead source). A field that is missing fails every
comparison except `!=`, `not in` and `exists: false`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from leadrelay.core.fields import MISSING, getter
from leadrelay.core.numbers import as_number
from leadrelay.playbook.patterns import compile_pattern

Predicate = Callable[[Mapping[str, Any]], bool]

OPERATORS = {
    "==": "==", "eq": "==", "equals": "==",
    "!=": "!=", "ne": "!=", "not equals": "!=",
    "<": "<", "lt": "<",
    "<=": "<=", "lte": "<=",
    ">": ">", "gt": ">",
    ">=": ">=", "gte": ">=",
    "in": "in",
    "not in": "not in", "not_in": "not in",
    "contains": "contains",
    "starts with": "starts with", "starts_with": "starts with",
    "matches": "matches",
    "exists": "exists",
}
_NUMERIC = {"<", "<=", ">", ">="}
_FIELD_NAME = re.compile(r"^[^.\s](?:[^.]*[^.\s])?(?:\.[^.\s](?:[^.]*[^.\s])?)*$")  # dotted, no empty part
_MISSING = MISSING  # a field the activity or lead does not have


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


class Compare(_Strict):
    """`field op value`, e.g. `path starts with /pricing`."""

    field: str
    op: str
    value: Any = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, dict) or set(data) <= {"field", "op", "value"} and "field" in data:
            return data
        if len(data) != 1:
            raise ValueError(
                f"a comparison names exactly one field, e.g. {{path: {{starts with: /pricing}}}}; "
                f"got keys {sorted(map(str, data))}"
            )
        (field, spec), = data.items()
        if isinstance(spec, dict):
            if len(spec) != 1:
                raise ValueError(f"'{field}': give exactly one operator, e.g. {{'>=': 10}}")
            (op, value), = spec.items()
            return {"field": field, "op": op, "value": value}
        return {"field": field, "op": "==", "value": spec}

    @model_validator(mode="after")
    def _check(self) -> Compare:
        op = OPERATORS.get(str(self.op).strip().lower())
        if op is None:
            raise ValueError(f"'{self.field}': unknown operator '{self.op}' (use one of {', '.join(_CANONICAL)})")
        if not _FIELD_NAME.match(str(self.field)):
            raise ValueError(f"'{self.field}' is not a field name: names and dots, no empty part and no spaces "
                             "around them (e.g. traits.country)")
        value = self.value
        if op in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"'{self.field} {op}' needs a number, got {value!r}")
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise ValueError(f"'{self.field} {op}' needs a finite number, got {value!r}")
        if op in ("in", "not in") and not isinstance(value, list):
            raise ValueError(f"'{self.field} {op}' needs a list, got {value!r}")
        if op == "exists" and not isinstance(value, bool):
            raise ValueError(f"'{self.field} exists' needs true or false, got {value!r}")
        if op in ("contains", "starts with", "matches") and not isinstance(value, (str, int, float)):
            raise ValueError(f"'{self.field} {op}' needs a text value, got {value!r}")
        if op == "matches":
            try:
                compile_pattern(str(value))
            except ValueError as exc:
                raise ValueError(f"'{self.field} matches': {exc}") from None
        object.__setattr__(self, "op", op)
        return self


_CANONICAL = sorted(set(OPERATORS.values()))


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(_Strict):
    not_: Condition = Field(alias="not")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("all", "any", "not"):
            if key in value:
                return key
        return "compare"
    kinds: dict[type, str] = {AllOf: "all", AnyOf: "any", NotOf: "not"}
    return kinds.get(type(value), "compare")


Condition = Annotated[
    Union[
        Annotated[AllOf, Tag("all")],
        Annotated[AnyOf, Tag("any")],
        Annotated[NotOf, Tag("not")],
        Annotated[Compare, Tag("compare")],
    ],
    Discriminator(_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def fields_of(condition: Condition) -> list[str]:
    """Every field path a condition reads, in order of appearance."""
    if isinstance(condition, AllOf):
        return [f for c in condition.all for f in fields_of(c)]
    if isinstance(condition, AnyOf):
        return [f for c in condition.any for f in fields_of(c)]
    if isinstance(condition, NotOf):
        return fields_of(condition.not_)
    return [condition.field]


def numeric_fields(condition: Condition) -> list[str]:
    """The field paths a condition compares as numbers (`<`, `<=`, `>`, `>=`), in order of appearance."""
    if isinstance(condition, AllOf):
        return [f for c in condition.all for f in numeric_fields(c)]
    if isinstance(condition, AnyOf):
        return [f for c in condition.any for f in numeric_fields(c)]
    if isinstance(condition, NotOf):
        return numeric_fields(condition.not_)
    return [condition.field] if condition.op in _NUMERIC else []


def check_fields(condition: Condition, roots: frozenset[str], what: str) -> None:
    """Raise ValueError naming the first field whose root is not one of `roots`.

    A root ending in "." (like "traits.") admits any nested path below it.
    """
    for path in fields_of(condition):
        if path in roots or any(r.endswith(".") and path.startswith(r) and len(path) > len(r) for r in roots):
            continue
        known = ", ".join(sorted(r + "*" if r.endswith(".") else r for r in roots))
        raise ValueError(f"unknown field '{path}' in {what} (known: {known})")


def compile_condition(condition: Condition) -> Predicate:
    """Turn a validated condition tree into a function of a field mapping."""
    if isinstance(condition, AllOf):
        return _chain([compile_condition(c) for c in condition.all], every=True)
    if isinstance(condition, AnyOf):
        return _chain([compile_condition(c) for c in condition.any], every=False)
    if isinstance(condition, NotOf):
        inner = compile_condition(condition.not_)
        return lambda fields: not inner(fields)
    return _compile_compare(condition)


def _chain(parts: list[Predicate], *, every: bool) -> Predicate:
    """`all`/`any` as nested short-circuit closures: no generator per call on the hot path."""
    if len(parts) == 1:
        return parts[0]
    first, rest = parts[0], _chain(parts[1:], every=every)
    if every:
        return lambda fields: first(fields) and rest(fields)
    return lambda fields: first(fields) or rest(fields)


def required_values(condition: Condition, field: str) -> frozenset | None:
    """The values `field` must take (case-folded) for the condition to hold, if it says so.

    Found in a top-level comparison (`field == v`, `field in [...]`) or in any part of a
    top-level `all`. None when the condition does not pin the field down. Lets the
    engine skip rules that cannot match an activity without evaluating them.
    """
    if isinstance(condition, Compare) and condition.field == field:
        if condition.op == "==":
            return frozenset({_fold(condition.value)})
        if condition.op == "in":
            return frozenset(_fold(v) for v in condition.value if _hashable(v))
        return None
    if isinstance(condition, AllOf):
        found = [v for v in (required_values(c, field) for c in condition.all) if v is not None]
        return frozenset.intersection(*found) if found else None
    if isinstance(condition, AnyOf):
        options = [required_values(c, field) for c in condition.any]
        known = [o for o in options if o is not None]
        return None if len(known) < len(options) else frozenset().union(*known)
    return None


def _fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def _compile_compare(cond: Compare) -> Predicate:
    get = getter(cond.field)
    op, want = cond.op, cond.value

    if op == "exists":
        return lambda f: (get(f) not in (_MISSING, None)) is want
    if op in _NUMERIC:
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]
        limit = float(want)

        def numeric(f: Mapping[str, Any]) -> bool:
            v = get(f)
            if type(v) is int or type(v) is float:  # the hot path
                return compare(float(v), limit)
            number = as_number(v)
            return number is not None and compare(number, limit)

        return numeric
    if op in ("==", "!="):
        target = _fold(want)
        negate = op == "!="
        return lambda f: (_fold(get(f)) == target) is not negate
    if op in ("in", "not in"):
        choices = frozenset(_fold(v) for v in want if _hashable(v))
        negate = op == "not in"

        def member(f: Mapping[str, Any]) -> bool:
            v = _fold(get(f))
            return (_hashable(v) and v in choices) is not negate

        return member
    if op == "contains":
        needle = _fold(str(want))

        def contains(f: Mapping[str, Any]) -> bool:
            v = get(f)
            if isinstance(v, str):
                return needle in v.casefold()
            if isinstance(v, (list, tuple)):
                return any(_fold(x) == needle for x in v)
            return False

        return contains
    if op == "starts with":
        prefix = _fold(str(want))
        return lambda f: isinstance(v := get(f), str) and v.casefold().startswith(prefix)
    pattern = compile_pattern(str(want))
    return lambda f: isinstance(v := get(f), str) and pattern.search(v) is not None


def _hashable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


__all__ = [
    "AllOf", "AnyOf", "Compare", "Condition", "NotOf", "OPERATORS", "Predicate",
    "check_fields", "compile_condition", "fields_of", "getter", "required_values",
]
