"""The one error family of LeadRelay. Entrypoints (CLI, HTTP) translate these; nothing else does."""

from __future__ import annotations


class LeadRelayError(Exception):
    """Base of every error LeadRelay raises on purpose. `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(LeadRelayError):
    code = "not_found"


class InvalidTransition(LeadRelayError):
    """A stage move the lifecycle table does not allow, or one missing its reason code."""

    code = "invalid_transition"


class InvalidPlaybook(LeadRelayError):
    """A playbook that failed validation. `issues` holds one entry per problem found."""

    code = "invalid_playbook"

    def __init__(self, message: str, issues: list[str] | None = None):
        super().__init__(message)
        self.issues = issues or [message]


class InvalidInput(LeadRelayError):
    code = "invalid_input"


class NotEnoughData(LeadRelayError):
    """Too few outcomes to learn from, as the playbook's `predict` section sets the bar."""

    code = "not_enough_data"


class StorageUnavailable(LeadRelayError):
    code = "storage_unavailable"


class Busy(LeadRelayError):
    """Other writers kept changing the same records at the same moment: nothing was stored; try again."""

    code = "busy"


class Conflict(LeadRelayError):
    """Someone else changed the record since it was read (optimistic locking)."""

    code = "conflict"
