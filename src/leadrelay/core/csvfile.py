"""Reading a CSV export row by row, with the row numbers people see in a spreadsheet.

A file that cannot be read, or lacks a column the import needs, is refused before any
row is used (InvalidInput naming the file and the columns it has).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path

from leadrelay.core.errors import InvalidInput


def csv_rows(path: str | Path, required: Iterable[str | None], *,
             encoding: str = "utf-8-sig") -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, row) for every data row; the header is row 1. `required`: None entries are skipped."""
    try:
        handle = open(path, newline="", encoding=encoding)  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c is not None and c not in (reader.fieldnames or ())]
        if missing:
            raise InvalidInput(f"{path}: no column {', '.join(repr(c) for c in missing)} "
                               f"(columns: {', '.join(reader.fieldnames or ())})")
        yield from enumerate(reader, start=2)
