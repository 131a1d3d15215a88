"""The CLI's shared state: settings from global options and the environment, built into an App on use."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from leadrelay.bootstrap import App, bootstrap
from leadrelay.settings import Settings


@dataclass
class CliState:
    settings: Settings = field(default_factory=Settings)
    explicit_playbook: bool = False  # --playbook or LEADRELAY_PLAYBOOK given: it beats the activated version
    _app: App | None = None

    def app(self) -> App:
        if self._app is None:
            self._app = bootstrap(self.settings, prefer_active=not self.explicit_playbook)
        return self._app


def state(ctx: typer.Context) -> CliState:
    return ctx.ensure_object(CliState)
