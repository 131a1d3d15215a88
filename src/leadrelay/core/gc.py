"""Pausing the garbage collector around a burst that makes many small objects and no cycles.

Assigning a queue or reading a report's history makes hundreds of thousands of tuples and
dicts that live until the burst ends; the collector's passes over them cost a tenth of the
time or more and grow with their number. They are collected when the burst ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
