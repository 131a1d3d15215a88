"""`leadrelay rescore`'s progress bar: leads done of all, activities replayed per second, time left.

Shown on stderr when it is a terminal; logs, pipes and CI get nothing. Rich is imported only
when the bar is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from leadrelay.entrypoints.cli.output import err_console


@contextmanager
def rescore_progress(total_leads: int) -> Iterator[Callable[[int, int], None]]:
    """A function to call with (leads, activities) rescored since its last call, drawing the bar."""
    if not err_console.is_terminal:
        yield lambda leads, activities: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("rescoring"), BarColumn(), MofNCompleteColumn(), TextColumn("leads"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    started, replayed = time.monotonic(), 0
    # A console of its own: `err_console` is built on first use, behind a stand-in a Progress cannot hold.
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("rescore", total=total_leads, rate="")

        def advance(leads: int, activities: int) -> None:
            nonlocal replayed
            replayed += activities
            rate = replayed / max(time.monotonic() - started, 1e-9)
            bar.update(task, advance=leads, rate=f"{rate:,.0f} activities/s")

        yield advance
