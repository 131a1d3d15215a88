"""The CLI's shared state: settings from global options and the environment, built into an App on use.

Both are built on first use, not when the command line is parsed: `--help` and commands
that need neither (e.g. `playbook check`) do not pay for Pydantic settings, SQLAlchemy
or the playbook compiler; and a read may ask for the App's playbook to be compiled only
when it first evaluates a rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from leadrelay.core.errors import InvalidInput

if TYPE_CHECKING:
    from leadrelay.bootstrap import App
    from leadrelay.settings import Settings


@dataclass
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)  # from global options; the environment fills the rest
    explicit_playbook: bool = False  # --playbook or LEADRELAY_PLAYBOOK given: it beats the activated version
    _settings: Settings | None = None
    _app: App | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(**self.overrides)
        return self._settings

    def app(self, *, playbook_on_first_use: bool = False) -> App:
        """The App of this invocation, built on the first call (later calls return the same one).

        With `playbook_on_first_use` (reads: they write nothing a broken playbook could leave half done)
        the playbook is parsed and compiled when the command first evaluates a rule, so a read that needs
        none (a report, an empty list) skips YAML and the compiler. Otherwise it is compiled now, and an
        invalid playbook stops the command before it does anything.
        """
        if self._app is None:
            from leadrelay.bootstrap import bootstrap

            named = self.settings.playbook
            if self.explicit_playbook and not Path(named).is_file():  # a typo must not run the starter's rules
                raise InvalidInput(f"--playbook {named}: no such file (without --playbook or LEADRELAY_PLAYBOOK, "
                                   "playbook.yaml here or else the built-in starter is used)")
            self._app = bootstrap(self.settings, prefer_active=not self.explicit_playbook,
                                  playbook_on_first_use=playbook_on_first_use)
        return self._app

    def close(self) -> None:
        """Release the database connections (a test may run many commands in one process)."""
        if self._app is not None:
            self._app.close()
            self._app = None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and `overrides`; a bad value is one InvalidInput naming the variable."""
    from pydantic import ValidationError

    from leadrelay.settings import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "LEADRELAY_" + "_".join(str(part) for part in error["loc"]).upper()
            shown = "input" in error and "password" not in name.lower()
            problems.append(f"{name}={error['input']!r}: {error['msg']}" if shown else f"{name}: {error['msg']}")
        raise InvalidInput("bad setting " + "; ".join(problems)) from None


def state(ctx: typer.Context) -> CliState:
    return ctx.ensure_object(CliState)
