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


@dataclass
class App:
    """What every service function needs: the store, the active playbook, the clock and the bus."""

    engine: Engine
    playbook: Playbook
    settings: Settings
    clock: Clock = utc_now
    bus: MessageBus = field(default_factory=MessageBus)

    def close(self) -> None:
        self.engine.dispose()
