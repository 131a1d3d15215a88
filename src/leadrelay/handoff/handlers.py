"""The handoff's reactions to what happens to leads, run in the same unit of work.

Subscribed on the app's bus by the composition root (`leadrelay.bootstrap.wire`): whoever
moves a lead — ingest, rescore, CSV import, a person, the sales side, the worker — the
handoff opens, closes or retargets, suppresses and notifies the same way.
"""

from __future__ import annotations

from leadrelay.handoff.desk import desk_of
from leadrelay.lead.events import StagesMoved
from leadrelay.storage.unit_of_work import UnitOfWork


def on_stages_moved(uow: UnitOfWork, message: StagesMoved) -> None:
    """Stage moves already stored: open, close or retarget handoffs, suppress, record, notify."""
    if message.changes:
        desk_of(uow).on_stage_changes(message.changes)
