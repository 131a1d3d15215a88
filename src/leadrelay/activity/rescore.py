"""Rescoring: replay every stored activity through the current playbook after it changes.

Scores are rebuilt exactly (they depend only on activities and rules). Stages are then
judged at `now` against the new rules: entry criteria that hold move leads forward,
disqualifiers that hold disqualify, and leads a rule had disqualified are reopened when
none holds. Hand-raiser triggers apply to activities as they arrive, not in a rescore.
Every move has the consequences of any other: a new MQL is handed to sales (routed,
timed, suppressed, announced), a disqualified lead leaves its owner and its queue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from leadrelay.activity.service import record_playbook
from leadrelay.core.app import App
from leadrelay.handoff.desk import desk_of
from leadrelay.lead import store as repo
from leadrelay.lead.engine import Outcome, process, reset_derived, sort_key
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.lifecycle import advance, qualify
from leadrelay.lead.scoring import engagement_at
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import tables as t
from leadrelay.storage.unit_of_work import UnitOfWork

LEADS_PER_TRANSACTION = 500


@dataclass
class RescoreReport:
    leads: int = 0
    activities: int = 0
    stage_changed: int = 0
    moves: Counter = field(default_factory=Counter)  # to-stage -> count
    playbook_version: str = ""
    handoffs_opened: int = 0

    def as_dict(self) -> dict:
        return {"leads": self.leads, "activities": self.activities, "stage_changed": self.stage_changed,
                "moves": dict(sorted(self.moves.items())), "handoffs_opened": self.handoffs_opened,
                "playbook_version": self.playbook_version}


# The leads a rescore judges again: not merged away, and not erased on request (their activities kept only their
# type, name and time, so replaying them would judge what is left of a person, not the person).
_REJUDGED = (t.leads.c.merged_into.is_(None), t.leads.c.id.not_in(select(pt.erasures.c.lead_id)))


def count_rescorable(app: App) -> int:
    with app.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(t.leads).where(*_REJUDGED)) or 0


def rescore(app: App, *, now: datetime | None = None,
            on_progress: Callable[[int], None] | None = None) -> RescoreReport:
    """Rebuild every lead's scores from its activities and re-judge its stage at `now`."""
    now = now or app.clock()
    rules = app.playbook.rules
    report = RescoreReport(playbook_version=rules.version)
    last_id = 0
    while True:
        with UnitOfWork(app, now) as uow:
            conn = uow.conn
            record_playbook(conn, app.playbook, now)
            ids = list(conn.scalars(
                select(t.leads.c.id).where(*_REJUDGED, t.leads.c.id > last_id)
                .order_by(t.leads.c.id).limit(LEADS_PER_TRANSACTION)
            ))
            if not ids:
                break
            last_id = ids[-1]
            leads = repo.load_leads(conn, ids, for_update=True)
            activities = repo.lead_activities(conn, ids)
            outcome = Outcome()
            for lead_id in ids:
                lead, acts = leads[lead_id], sorted(activities[lead_id], key=sort_key)
                before = lead.stage
                reset_derived(lead)
                process(lead, acts, rules, outcome, decide=False)
                moves_before = len(outcome.stage_changes)
                qualify(lead, rules, now, None, outcome.stage_changes)
                engagement = engagement_at(lead.scoring, max(now.timestamp(), lead.scoring.as_of or 0.0),
                                           rules.half_life_seconds)
                advance(lead, rules, engagement, now, None, outcome.stage_changes)
                for change in outcome.stage_changes[moves_before:]:
                    change.actor = change.actor + " (rescore)"
                report.activities += len(acts)
                report.stage_changed += lead.stage != before
            for change in outcome.stage_changes:
                report.moves[change.to_stage.value] += 1
            repo.delete_score_changes(conn, ids)
            repo.insert_score_changes(conn, outcome.score_changes, rules.version)
            repo.insert_stage_changes(conn, outcome.stage_changes, rules.version)
            # The same consequences as any stage move: new MQLs are handed over, disqualified ones taken back.
            uow.publish(StagesMoved(outcome.stage_changes))
            report.handoffs_opened += desk_of(uow).opened if outcome.stage_changes else 0
            repo.update_leads(conn, leads.values(), now)
            uow.commit()
            report.leads += len(ids)
        if on_progress:
            on_progress(len(ids))
    return report
