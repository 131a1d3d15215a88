"""The message bus: how one concept reacts to another's decisions without importing it.

A lead moving stage is the lead's business; opening a handoff because of it is the
handoff's, and refusing a move into SQL without the gate met is the sales side's. The
lead publishes a message (`StageMoveProposed` before the move, `StagesMoved` after it)
to the bus of its unit of work; the handlers the composition root subscribed
(`leadrelay.bootstrap.wire`) run at once, in the same transaction, in the order they were
subscribed. A handler that raises refuses: the unit of work rolls back and nothing is kept.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[Any, Any], None]  # (unit of work, message) -> None


class MessageBus:
    """Message type -> the handlers subscribed to it, in order."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, message_type: type, handler: Handler) -> None:
        handlers = self._handlers.setdefault(message_type, [])
        if handler not in handlers:  # wiring twice must not run a reaction twice
            handlers.append(handler)

    def handlers(self, message_type: type) -> tuple[Handler, ...]:
        return tuple(self._handlers.get(message_type, ()))

    def publish(self, uow: Any, message: Any) -> None:
        """Run every handler subscribed to the message's type, in the caller's unit of work."""
        for handler in self._handlers.get(type(message), ()):
            handler(uow, message)
