"""Printing for the CLI: JSON for scripts, Rich tables for people, errors on stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

EXIT_ERROR = 1  # nothing changed: the input or the store said no
EXIT_REJECTED = 3  # done, but some input was rejected: the good input was kept
EXIT_PARTLY = 4  # stopped by an error part-way through a file: what came before it was stored

if TYPE_CHECKING:
    from rich.console import Console


class _ConsoleOnFirstUse:
    """A Rich console built when something is first printed through it.

    Importing Rich's console costs a tenth of a second, which `--help` and `--json`
    commands never need. Building it late also makes it read the environment (COLUMNS,
    NO_COLOR) and the stream of the invocation that prints, not of whoever imported this
    module first; `reset()` forgets it between invocations in one process (tests).
    """

    def __init__(self, *, stderr: bool):
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = _build(self._stderr)
        return getattr(self._console, name)

    def reset(self) -> None:
        self._console = None


def _build(stderr: bool) -> Console:
    from rich.console import Console

    if stderr:
        return Console(stderr=True, soft_wrap=True, highlight=False)
    # Piped output is not squeezed into 80 columns: tables stay readable in logs and CI.
    return Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else _piped_width())


def _piped_width() -> int:
    """COLUMNS when it is a usable width, else 160 (an odd COLUMNS must not stop the command)."""
    columns = os.environ.get("COLUMNS", "").strip()
    return int(columns) if columns.isascii() and columns.isdigit() and int(columns) > 0 else 160


console: Console = _ConsoleOnFirstUse(stderr=False)  # type: ignore[assignment]
err_console: Console = _ConsoleOnFirstUse(stderr=True)  # type: ignore[assignment]


def reset_consoles() -> None:
    """Start the next invocation with fresh consoles (see `_ConsoleOnFirstUse`)."""
    console.reset()
    err_console.reset()


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
