"""Build the application from one Settings object. Tests pass their own playbook and clock."""

from __future__ import annotations

from pathlib import Path

from leadrelay.playbook.loader import Playbook, load_playbook, starter_playbook
from leadrelay.services.app import App, Clock, utc_now
from leadrelay.settings import Settings
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import upgrade

__all__ = ["App", "Clock", "bootstrap", "resolve_playbook", "utc_now"]


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
        # Imported here, not at the top: the services still import App from this module (the
        # layers contract in pyproject.toml lists them) until App moves below the services.
        from leadrelay.services.playbooks import active_playbook

        playbook = active_playbook(engine)
    playbook = playbook or resolve_playbook(settings.playbook)
    return App(engine=engine, playbook=playbook, settings=settings, clock=clock)
