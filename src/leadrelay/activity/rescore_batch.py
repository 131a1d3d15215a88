"""One transaction of a rescore: a batch of leads replayed through the playbook, judged now, and written back.

Every lead's scores are rebuilt from all its activities and its stage judged at `now`
(`lead.engine.rejudge`); its score changes replace the stored ones and the lead is written
back. Stage moves have the consequences of any other move, in the same transaction: a new
MQL is handed to sales, a disqualified lead leaves its owner.

With `defer_moves` (a worker of a parallel rescore), a lead whose stage would move is left
as it was and named in the result instead: the caller moves those afterwards, in lead id
order, so that what the moves set off (routing takes turns and counts loads) comes out as
in a rescore in one process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leadrelay.activity import rescore_store as store
from leadrelay.handoff.desk import desk_of
from leadrelay.lead.engine import Outcome, rejudge
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.rules import Rules
from leadrelay.lead.store import insert_stage_changes
from leadrelay.storage.unit_of_work import UnitOfWork


@dataclass
class Batch:
    """What one batch did (sent from a worker process to the parent, so plain data)."""

    leads: int = 0  # judged and written
    activities: int = 0
    stage_changed: int = 0
    moves: Counter = field(default_factory=Counter)  # to-stage -> count
    handoffs_opened: int = 0
    deferred: list[int] = field(default_factory=list)  # leads whose stage would move, left for the caller
    deferred_activities: int = 0

    @property
    def seen(self) -> tuple[int, int]:
        """(leads, activities) replayed, deferred or not: the progress made."""
        return self.leads + len(self.deferred), self.activities + self.deferred_activities


def rescore_batch(uow: UnitOfWork, lead_ids: Sequence[int], rules: Rules, now: datetime, *,
                  defer_moves: bool = False) -> Batch:
    """Replay and judge these leads (ids of leads to judge again, in order) and write what changed; the caller
    commits."""
    conn = uow.conn
    leads = store.load_leads(conn, lead_ids)
    activities = store.load_activities(conn, lead_ids)
    outcome = Outcome()
    batch = Batch()
    written = []
    for lead_id in lead_ids:
        lead, replayed = leads[lead_id], activities[lead_id]
        before = lead.stage
        scores, moves = len(outcome.score_changes), len(outcome.stage_changes)
        rejudge(lead, replayed, rules, now, outcome)
        if defer_moves and len(outcome.stage_changes) > moves:
            del outcome.score_changes[scores:], outcome.stage_changes[moves:]
            batch.deferred.append(lead_id)
            batch.deferred_activities += len(replayed)
            continue
        written.append(lead)
        batch.leads += 1
        batch.activities += len(replayed)
        batch.stage_changed += lead.stage != before
    for change in outcome.stage_changes:
        batch.moves[change.to_stage.value] += 1
    store.replace_score_changes(conn, [lead.id for lead in written if lead.id is not None], outcome.score_changes,
                                rules.version)
    insert_stage_changes(conn, outcome.stage_changes, rules.version)
    # The same consequences as any stage move: new MQLs are handed over, disqualified ones taken back.
    uow.publish(StagesMoved(outcome.stage_changes))
    batch.handoffs_opened = desk_of(uow).opened if outcome.stage_changes else 0
    store.write_leads(conn, written, now)
    return batch
