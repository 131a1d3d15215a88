"""Following the active playbook version: every long-running process runs the version activated last.

A version is activated in the database (`playbook.service.activate`: the API, the web ops
page), not in any one process. A process that kept the rules it started with would go on
deciding by the old ones: a worker would dead-letter the messages for a webhook the new
version adds and time SLAs by the old deadlines. So each long-running process (the HTTP
server, `leadrelay worker`) keeps a `Follower`, which reads the active version at most
every `RECHECK_SECONDS` (one row by primary key: cheap enough to read that often) and
switches the App to it. A database error while checking is logged and the process goes on
with the rules it has: they were the active ones a moment ago, and the work about to be
done meets the same database and reports its own error.

The rule for a named file (`--playbook FILE`, LEADRELAY_PLAYBOOK): it is what a process
runs until someone activates a version. From then on, every long-running process runs the
database's active version, whatever file it was started with — two processes on one store
running two rule sets would decide the same lead two ways. A process told to run a file
while another version is active says so once (`overruled`) rather than silently running
either. To run a file's rules everywhere, activate it.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import SQLAlchemyError

from leadrelay.core.app import App
from leadrelay.playbook.loader import Playbook
from leadrelay.playbook.service import activation, active_playbook, active_version
from leadrelay.storage.api_tables import active_playbook as active_table

RECHECK_SECONDS = 2.0
log = logging.getLogger(__name__)


class Follower:
    """Keeps `app.playbook` on the database's active version. Safe to share between threads."""

    def __init__(self, app: App, *, just_checked: bool = False):
        """`just_checked`: the app was built on the active version a moment ago; the first check can wait."""
        self.app = app
        self._checked: float | None = time.monotonic() if just_checked else None
        self._lock = threading.Lock()

    def follow(self, every: float = RECHECK_SECONDS) -> Playbook | None:
        """Switch to the active version if another one is active; the playbook switched to, else None.

        Reads the database only when `every` seconds have passed since the last read (0: now).
        """
        if not self._due(every):
            return None
        with self._lock:
            if not self._due(every):
                return None  # another thread just did it
            try:
                return self._switch()
            except SQLAlchemyError as exc:
                log.warning("could not check the active playbook version, still running %s: %s",
                            self.app.playbook.version, str(getattr(exc, "orig", None) or exc).splitlines()[0],
                            extra={"event": "playbook_check_failed", "version": self.app.playbook.version})
                return None
            finally:
                self._checked = time.monotonic()

    def adopt(self, playbook: Playbook) -> None:
        """This process just activated `playbook`: run it at once, without reading it back."""
        with self._lock:
            self.app.playbook = playbook
            self._checked = time.monotonic()

    def _due(self, every: float) -> bool:
        return self._checked is None or time.monotonic() - self._checked >= every

    def _switch(self) -> Playbook | None:
        version = active_version(self.app.engine)
        previous = self.app.playbook.version
        if version is None or version == previous:
            return None
        playbook = active_playbook(self.app.engine)
        if playbook is None:  # deactivated between the two reads: keep what runs
            return None
        self.app.playbook = playbook
        log.info("now running playbook version %s (was %s): it was activated", playbook.version, previous,
                 extra={"event": "playbook_switched", "version": playbook.version, "previous": previous})
        return playbook


def runs_active_version(conn: Connection, version: str) -> bool:
    """Whether `version` is the one to run now: the active version, or any when none was ever activated (the
    file's rules). Read in the caller's transaction; on PostgreSQL the row is held (FOR SHARE) until it ends,
    so no activation commits meanwhile: for work that only the active version may do (handing back the leads
    of reps it no longer names)."""
    query = select(active_table.c.version)  # the table's single row
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    active = conn.scalar(query)
    return active is None or active == version


def overruled(engine: Engine, named: Playbook, path: str) -> str | None:
    """One line for people when a version other than the file `path` is active, saying which runs and why; else None."""
    active = activation(engine)
    if active is None or active["version"] == named.version:
        return None
    return (f"note: {path} is playbook version {named.version}, but version {active['version']} is active (activated "
            f"by {active['activated_by']} at {active['activated_at']}) and runs instead: once a version is activated, "
            "every long-running process runs it. To run the file, activate it.")
