"""What every service function is handed: the store, the active playbook, the settings and the clock.

`bootstrap()` (the composition root, imported only by entrypoints and tests) builds one;
the services only know its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from leadrelay.playbook.loader import Playbook
from leadrelay.settings import Settings

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """What every service function needs: the store, the active playbook and the clock."""

    engine: Engine
    playbook: Playbook
    settings: Settings
    clock: Clock = utc_now

    def close(self) -> None:
        self.engine.dispose()
