"""What every service function is handed: the store, the active playbook, the settings, the
clock and the message bus.

`bootstrap()` (the composition root, imported only by entrypoints, the demo and tests)
builds one and wires the bus; the services only know its shape. The types named here are
imported for annotations only, so this module stays at the bottom of the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from leadrelay.core.bus import MessageBus

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadrelay.playbook.loader import Playbook
    from leadrelay.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class _PlaybookOnFirstUse:
    """`App.playbook`: a playbook, or a function that loads one, called when the playbook is first read.

    Reading and compiling a playbook costs Pydantic, the YAML parser and the rule compiler, most of what
    a command line read pays; a command that never evaluates a rule (a report, `leads list` of an empty
    store) never calls the function. Assigning a playbook replaces it as before. The function runs once
    per App; two threads reading at once may both run it (the same text gives the same playbook), so the
    server loads it up front (`bootstrap`'s default).
    """

    def __get__(self, app: App | None, owner: type | None = None) -> Playbook:
        if app is None:
            raise AttributeError("playbook")  # no class-level value: the dataclass gives the field no default
        value = app.__dict__["_playbook"]
        if callable(value):
            value = app.__dict__["_playbook"] = value()
        return value

    def __set__(self, app: App, value: Playbook | Callable[[], Playbook]) -> None:
        app.__dict__["_playbook"] = value


@dataclass
class App:
    """What every service function needs: the store, the active playbook, the clock and the bus."""

    engine: Engine
    playbook: _PlaybookOnFirstUse = _PlaybookOnFirstUse()  # required: the descriptor gives no default
    settings: Settings  # type: ignore[misc]  # mypy takes the descriptor above for a default
    clock: Clock = utc_now
    bus: MessageBus = field(default_factory=MessageBus)

    def close(self) -> None:
        self.engine.dispose()
