"""Importing leads from a CSV export (HubSpot, Salesforce, a spreadsheet) as identify messages.

Each row becomes one `identify` whose message id is a hash of its identity and mapped
values, so importing the same file twice changes nothing while an edited row updates
the lead. Rows that cannot be read are rejected one by one with the row number and why;
so is a time column that is not a date or is out of bounds (more than a day after the
import, or before 1970: the rule of every message, told here by the column's name).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadrelay.activity.segment import out_of_bounds
from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import parse_utc
from leadrelay.lead.activities import Rejection

TYPES = ("text", "int", "float", "bool")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
EMAIL_HEADERS = ("email", "e-mail", "email address", "emailaddress")
OUTCOME = "outcome"  # the key a row's outcome travels under, beside the message (never a trait)
_WON, _LOST = _TRUE | {"won", "converted"}, _FALSE | {"lost"}


@dataclass(frozen=True)
class ColumnMap:
    """`COLUMN=trait[:type]`: where a CSV column goes and what type its values are."""

    column: str
    trait: str
    type: str = "text"


def parse_mapping(spec: str) -> ColumnMap:
    """Parse `COLUMN=trait` or `COLUMN=trait:int` (types: text, int, float, bool)."""
    column, sep, target = spec.partition("=")
    if not sep or not column.strip() or not target.strip():
        raise InvalidInput(f"--map {spec!r}: expected COLUMN=trait or COLUMN=trait:type")
    trait, _, kind = target.strip().partition(":")
    kind = kind or "text"
    if kind not in TYPES:
        raise InvalidInput(f"--map {spec!r}: unknown type '{kind}' (one of {', '.join(TYPES)})")
    return ColumnMap(column.strip(), trait.strip(), kind)


def _convert(value: str, kind: str) -> Any:
    if kind == "text":
        return value
    if kind == "bool":
        low = value.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(f"{value!r} is not yes/no")
    try:
        number = float(value.replace(",", "")) if kind == "float" else int(value.replace(",", ""))
    except ValueError:
        try:  # "12.0" in an int column is still 12
            as_float = float(value.replace(",", ""))
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if kind == "int" and as_float.is_integer():
            return int(as_float)
        raise ValueError(f"{value!r} is not a whole number") from None
    return number


def count_rows(path: str | Path, encoding: str = "utf-8-sig") -> int:
    """Data rows (lines after the header), reading the whole file once so that a file that is
    missing or not in `encoding` fails here, before anything is imported."""
    try:
        with open(path, encoding=encoding, newline="") as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except LookupError:
        raise InvalidInput(f"unknown encoding '{encoding}'") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not {encoding} text (byte {exc.start + 1}); "
                           "give the file's encoding with --encoding, e.g. --encoding cp1252") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None


def read_csv_messages(
    path: str | Path,
    mappings: Sequence[ColumnMap],
    *,
    email_column: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    outcome_column: str | None = None,
    null_values: Sequence[str] = (),
    imported_at: datetime | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[tuple[str, dict | Rejection]]:
    """Yield `(position, identify message or Rejection)` for every data row of a CSV file.

    With `outcome_column`, a row's outcome (converted or not; empty: not known) is the message's
    `outcome` key, for the caller to take off before ingesting: it is never a trait.
    Raises InvalidInput before reading any row when a named column is not in the header.
    """
    imported_at = imported_at or datetime.now(UTC)
    if imported_at.tzinfo is None:
        imported_at = imported_at.replace(tzinfo=UTC)
    nulls = {v.strip().casefold() for v in null_values} | {""}
    handle = open(path, newline="", encoding=encoding)  # noqa: SIM115 - closed by the generator
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise InvalidInput(f"{path}: the file is empty (no header row)")
        header = [h.strip() for h in header]
        if len(header) == 1 and (other := next((d for d in ";\t|" if d in header[0]), None)):
            shown = {";": "semicolons", "\t": "tabs", "|": "bars"}[other]
            raise InvalidInput(f"{path}: the header is one column, {header[0][:60]!r}: the file looks separated by "
                               f"{shown}; LeadRelay reads comma-separated files (export as CSV with commas)")
        index = {name: i for i, name in enumerate(header)}
        if email_column is None and id_column is None:
            email_column = next((h for h in header if h.casefold() in EMAIL_HEADERS), None)
            if email_column is None:
                raise InvalidInput(f"{path}: no email column found; name one with --email-column or --id-column")
        if outcome_column and any(m.column == outcome_column for m in mappings):
            raise InvalidInput(f"--outcome {outcome_column!r} is also mapped as a trait (--map): the outcome is "
                               "never a trait, or every rule and the model could read it")
        wanted = [m.column for m in mappings] + [c for c in (email_column, id_column, time_column, outcome_column) if c]
        missing = [c for c in wanted if c not in index]
        if missing:
            raise InvalidInput(f"{path}: no column {', '.join(map(repr, missing))} in the header "
                               f"(columns: {', '.join(header)})")
        for row in reader:
            line = reader.line_num
            position = f"{Path(path).name} row {line}"
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield position, Rejection(position, f"has {len(row)} fields, the header has {len(header)}")
                continue
            yield position, _row_message(row, index, mappings, email_column, id_column, time_column, outcome_column,
                                         nulls, imported_at, position)


def _row_message(row: list[str], index: dict[str, int], mappings: Sequence[ColumnMap], email_column: str | None,
                 id_column: str | None, time_column: str | None, outcome_column: str | None, nulls: set[str],
                 imported_at: datetime, position: str) -> dict[str, Any] | Rejection:
    def cell(column: str) -> str | None:
        value = row[index[column]].strip()
        return None if value.casefold() in nulls else value

    traits: dict[str, Any] = {}
    for m in mappings:
        value = cell(m.column)
        if value is None:
            continue
        try:
            traits[m.trait] = _convert(value, m.type)
        except ValueError as exc:
            return Rejection(position, f"column '{m.column}': {exc}")
    message: dict[str, Any] = {"type": "identify", "traits": traits}
    if email_column:
        email = cell(email_column)
        if email:
            traits["email"] = email
    if id_column:
        user_id = cell(id_column)
        if user_id:
            message["userId"] = user_id
    if "email" not in traits and "userId" not in message:
        return Rejection(position, "no email and no id: cannot tell who this lead is")
    timestamp = cell(time_column) if time_column else None
    if timestamp is not None and (problem := _time_problem(timestamp, imported_at)):
        return Rejection(position, f"column '{time_column}': {problem}")
    message["timestamp"] = timestamp or imported_at.isoformat()
    identity = [message.get("userId"), traits.get("email")]
    digest = hashlib.sha256(json.dumps([identity, traits, timestamp], sort_keys=True, default=str).encode())
    message["messageId"] = "csv-" + digest.hexdigest()[:32]
    if outcome_column:
        outcome = cell(outcome_column)
        if outcome is not None and outcome.replace(".0", "", 1) in ("0", "1"):  # 1.0 and 0.0 from a spreadsheet
            outcome = outcome.replace(".0", "", 1)
        if outcome is not None and outcome.casefold() not in _WON | _LOST:
            return Rejection(position, f"column '{outcome_column}': {outcome!r} is not an outcome "
                                       "(1 or 0, yes or no, true or false, won or lost; empty if not known)")
        message[OUTCOME] = None if outcome is None else outcome.casefold() in _WON
    return message


def _time_problem(value: str, imported_at: datetime) -> str | None:
    """Why a time column's value cannot be the row's time, or None (see `segment.out_of_bounds`)."""
    try:
        moment = parse_utc(value)
    except ValueError:
        return f"{value[:40]!r} is not an ISO-8601 date (such as 2026-10-01 or 2026-10-01T09:00:00Z)"
    problem = out_of_bounds(moment, imported_at)
    return f"{value!r} is {problem}" if problem else None


def take_outcomes(rows: Iterable[tuple[str, dict | Rejection]],
                  into: list[tuple[str | None, str | None, bool, datetime]]) -> Iterator[tuple[str, dict | Rejection]]:
    """Pass the rows on without their outcome; collect `(user id, email, converted, decided at)` of each row
    that has one into `into` (decided at: the row's time, or the import's)."""
    for position, message in rows:
        if isinstance(message, dict) and OUTCOME in message:
            converted = message.pop(OUTCOME)
            try:
                decided = parse_utc(message["timestamp"])
            except ValueError:  # a bad time column: the row is rejected for it when ingested
                decided = None
            if converted is not None and decided is not None:
                into.append((message.get("userId"), message["traits"].get("email"), converted, decided))
        yield position, message
