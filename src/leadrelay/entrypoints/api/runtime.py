"""What the HTTP app shares across requests: the App, kept on the playbook version that is active.

Each request works on a snapshot (`Runtime.snapshot()`), so a playbook activated while
a request runs never mixes two versions inside one decision. Every few seconds the
snapshot first checks the database's active version (`playbook.follow`, which the worker
uses too), so all server processes follow an activation made through any of them.
"""

from __future__ import annotations

from dataclasses import replace

from leadrelay.bootstrap import App
from leadrelay.playbook import follow
from leadrelay.playbook.loader import Playbook

RECHECK_SECONDS = follow.RECHECK_SECONDS  # read at each request, so a test can make every request check


class Runtime:
    def __init__(self, app: App):
        self.app = app
        self._follower = follow.Follower(app, just_checked=True)  # create_app just loaded the active version

    def snapshot(self) -> App:
        """The App with the playbook to use for one request."""
        self._follower.follow(every=RECHECK_SECONDS)
        return replace(self.app)

    def use(self, playbook: Playbook) -> None:
        """Switch this process to `playbook` at once (it was just activated here)."""
        self._follower.adopt(playbook)
