"""Printing for the CLI: JSON for scripts, Rich tables for people, errors on stderr."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from leadrelay.core.numbers import score_text

EXIT_ERROR = 1  # nothing changed: the input or the store said no
EXIT_REJECTED = 3  # done, but some input was rejected: the good input was kept
EXIT_PARTLY = 4  # stopped by an error part-way through a file: what came before it was stored

if TYPE_CHECKING:
    from rich.console import Console

# What a driver's message means, in words a user acts on; the driver's own line follows in brackets.
_FAILURES = (
    (("database or disk is full", "disk i/o error", "no space left", "could not extend file", "quota"),
     "the disk is full (or the file may grow no larger)"),
    (("database is locked", "database table is locked"), "the database is locked by another process"),
    (("server closed the connection", "terminating connection", "connection is lost", "consuming input failed",
      "connection to server", "ssl connection has been closed"), "the connection to the database was lost"),
)


def database_failure(exc: BaseException) -> str | None:
    """"the database failed: what happened (the driver's line)" when `exc` is the database failing under a
    command (SQLAlchemy's OperationalError: it went away, the disk is full), else None. SQLAlchemy is looked
    up, not imported: a command that never loaded it cannot have raised its error."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.OperationalError):
        return None
    detail = (str(exc.orig or exc).strip().splitlines() or ["unknown error"])[0]
    lowered = detail.lower()
    plain = next((words for needles, words in _FAILURES if any(n in lowered for n in needles)), None)
    return f"the database failed: {plain} ({detail})" if plain else f"the database failed: {detail}"


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


_console, _err_console = _ConsoleOnFirstUse(stderr=False), _ConsoleOnFirstUse(stderr=True)
console: Console = _console  # type: ignore[assignment]
err_console: Console = _err_console  # type: ignore[assignment]


def reset_consoles() -> None:
    """Start the next invocation with fresh consoles (see `_ConsoleOnFirstUse`)."""
    _console.reset()
    _err_console.reset()


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, the message as text, not Rich markup (it may quote `[a-z]`)."""
    from rich.markup import escape

    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    """Exactly one JSON document on stdout, nothing else, so scripts can parse it."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return score_text(value)
    return str(value)


def when(iso: str | None) -> str:
    """An ISO timestamp shortened for tables: 2026-10-28 14:59."""
    return iso[:16].replace("T", " ") if iso else "-"
