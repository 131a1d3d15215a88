"""What the HTTP app shares across requests: the App, kept on the playbook version that is active.

Each request works on a snapshot (`Runtime.snapshot()`), so a playbook activated while
a request runs never mixes two versions inside one decision. Every few seconds the
snapshot first checks the database's active version, so all server processes follow an
activation made through any of them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from sqlalchemy.exc import SQLAlchemyError

from leadrelay.bootstrap import App
from leadrelay.playbook.loader import Playbook
from leadrelay.playbook.service import active_playbook, active_version

RECHECK_SECONDS = 2.0
log = logging.getLogger("leadrelay.entrypoints.api")


class Runtime:
    def __init__(self, app: App):
        self.app = app
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def snapshot(self) -> App:
        """The App with the playbook to use for one request."""
        if time.monotonic() - self._checked >= RECHECK_SECONDS:
            self._follow_activation()
        return replace(self.app)

    def use(self, playbook: Playbook) -> None:
        """Switch this process to `playbook` at once (it was just activated here)."""
        self.app.playbook = playbook
        self._checked = time.monotonic()

    def _follow_activation(self) -> None:
        with self._lock:
            if time.monotonic() - self._checked < RECHECK_SECONDS:
                return  # another thread just did it
            try:
                version = active_version(self.app.engine)
                if version is not None and version != self.app.playbook.version:
                    playbook = active_playbook(self.app.engine)
                    if playbook is not None:
                        self.app.playbook = playbook
                        log.info("now running playbook version %s", playbook.version,
                                 extra={"event": "playbook_switched", "version": playbook.version})
            except SQLAlchemyError:
                # The request that asked will meet the same database problem and report it.
                log.warning("could not check the active playbook version", exc_info=True)
            self._checked = time.monotonic()
