"""The composition root: build the application from one Settings object and wire the bus.

Imported only by the entrypoints, the demo and tests. Tests pass their own playbook and clock.

A command line read starts here, so this module imports little at the top: the playbook
compiler (Pydantic, YAML), the handoff desk and the SQL gate are imported when first used,
not by every command that only reads the store.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from leadrelay.core.app import App, Clock, utc_now
from leadrelay.core.bus import MessageBus
from leadrelay.lead.events import StageMoveProposed, StagesMoved
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadrelay.playbook.loader import Playbook
    from leadrelay.settings import Settings
    from leadrelay.storage.unit_of_work import UnitOfWork

__all__ = ["App", "Clock", "bootstrap", "resolve_playbook", "utc_now", "wire"]


def resolve_playbook(path: str | None) -> Playbook:
    """The playbook at `path`, or the built-in starter when that file does not exist."""
    from leadrelay.playbook.loader import load_playbook, starter_playbook

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
    playbook_on_first_use: bool = False,
) -> App:
    """Connect to the database (migrating it to the newest schema) and load the playbook.

    With `prefer_active`, a playbook version activated in the database (through the API)
    wins over the file; a playbook passed in, or named explicitly, always wins. With
    `playbook_on_first_use` the playbook is parsed and compiled when something first reads
    `app.playbook` (a command line read that evaluates no rule never does), so an invalid
    one is reported then; otherwise now (the server and the worker refuse to start with one).
    """
    if settings is None:
        from leadrelay.settings import Settings

        settings = Settings()
    engine = connect(settings.database_url)
    if migrate:
        upgrade(engine)
    if playbook is None:
        load = _playbook_loader(engine, settings.playbook, prefer_active)
        app = App(engine=engine, playbook=load if playbook_on_first_use else load(), settings=settings, clock=clock)
    else:
        app = App(engine=engine, playbook=playbook, settings=settings, clock=clock)
    wire(app.bus)
    return app


def _playbook_loader(engine: Engine, path: str | None, prefer_active: bool) -> Callable[[], Playbook]:
    """What loads the playbook the App runs: the version activated in the database (with `prefer_active`), else
    the file at `path`, else the starter. Which one is decided now, from the database; the parsing happens when
    the function is called, which may be while the caller holds a connection."""
    if prefer_active:
        from leadrelay.playbook.service import active_playbook_loader

        active = active_playbook_loader(engine)
        if active is not None:
            return active
    return partial(resolve_playbook, path)


def wire(bus: MessageBus) -> None:
    """Subscribe each concept's reactions to the others' messages (see `leadrelay.core.bus`)."""
    bus.subscribe(StageMoveProposed, on_stage_move_proposed)  # no way into SQL without the gate
    bus.subscribe(StagesMoved, on_stages_moved)  # the handoff follows the lead's stage


# The reactions, imported when a message first arrives: a command that moves no lead does not load
# the handoff desk (its routing, SLA ladders and notices) or the sales side's gate.


def on_stage_move_proposed(uow: UnitOfWork, message: StageMoveProposed) -> None:
    """`leadrelay.sales.sql_gate.on_stage_move_proposed`: refuse a move into SQL without the gate met."""
    from leadrelay.sales.sql_gate import on_stage_move_proposed as refuse_sql_without_gate

    refuse_sql_without_gate(uow, message)


def on_stages_moved(uow: UnitOfWork, message: StagesMoved) -> None:
    """`leadrelay.handoff.handlers.on_stages_moved`: open, close or retarget handoffs after stage moves."""
    from leadrelay.handoff.handlers import on_stages_moved as follow_stage_moves

    follow_stage_moves(uow, message)
