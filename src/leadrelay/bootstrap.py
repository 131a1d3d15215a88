"""The composition root: build the application from one Settings object and wire the bus.

Imported only by the entrypoints, the demo and tests. Tests pass their own playbook and clock.
"""

from __future__ import annotations

from pathlib import Path

from leadrelay.core.app import App, Clock, utc_now
from leadrelay.core.bus import MessageBus
from leadrelay.handoff.handlers import on_stages_moved
from leadrelay.lead.events import StageMoveProposed, StagesMoved
from leadrelay.playbook.loader import Playbook, load_playbook, starter_playbook
from leadrelay.playbook.service import active_playbook
from leadrelay.sales.sql_gate import on_stage_move_proposed
from leadrelay.settings import Settings
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade

__all__ = ["App", "Clock", "bootstrap", "resolve_playbook", "utc_now", "wire"]


def resolve_playbook(path: str | None) -> Playbook:
    """The playbook at `path`, or the built-in starter when that file does not exist."""
    if path and Path(path).exists():
        return load_playbook(path)
    return starter_playbook()


def bootstrap(
    settings: Settings | None = None,
    *,
    playbook: Playbook | None = None,
    clock: Clock = utc_now,
    migrate: bool = True,
    prefer_active: bool = False,
) -> App:
    """Connect to the database (migrating it to the newest schema) and load the playbook.

    With `prefer_active`, a playbook version activated in the database (through the API)
    wins over the file; a playbook passed in, or named explicitly, always wins.
    """
    settings = settings or Settings()
    engine = connect(settings.database_url)
    if migrate:
        upgrade(engine)
    if playbook is None and prefer_active:
        playbook = active_playbook(engine)
    playbook = playbook or resolve_playbook(settings.playbook)
    app = App(engine=engine, playbook=playbook, settings=settings, clock=clock)
    wire(app.bus)
    return app


def wire(bus: MessageBus) -> None:
    """Subscribe each concept's reactions to the others' messages (see `leadrelay.core.bus`)."""
    bus.subscribe(StageMoveProposed, on_stage_move_proposed)  # no way into SQL without the gate
    bus.subscribe(StagesMoved, on_stages_moved)  # the handoff follows the lead's stage
