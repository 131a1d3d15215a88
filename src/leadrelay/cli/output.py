"""Printing for the CLI: JSON for scripts, Rich tables for people, errors on stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console

# Piped output is not squeezed into 80 columns: tables stay readable in logs and CI.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
console = Console(soft_wrap=True, highlight=False, width=_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, highlight=False)


def print_json(data: Any) -> None:
    """Exactly one JSON document on stdout, nothing else, so scripts can parse it."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}" if value.is_integer() else f"{value:.1f}"
    return str(value)


def when(iso: str | None) -> str:
    """An ISO timestamp shortened for tables: 2026-10-28 14:59."""
    return iso[:16].replace("T", " ") if iso else "-"
