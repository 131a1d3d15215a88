"""Stage moves: the one `move` every caller goes through, and the automatic evaluation.

Entry criteria are thresholds: one fires when it becomes true and re-arms only after it
has been seen false again, so a recycled lead with a high score does not bounce straight
back to MQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.core.numbers import score_text, shown
from leadrelay.lead.model import Lead
from leadrelay.lead.qualification import first_disqualifier
from leadrelay.lead.rules import Rules
from leadrelay.lead.stages import Stage, Transition, check_transition

DISQUALIFIER_CLEARED = "disqualifier_cleared"


@dataclass(slots=True)
class StageChange:
    """A domain event: the engine or a person moved a lead from one stage to another."""

    lead: Lead
    from_stage: Stage | None
    to_stage: Stage
    at: datetime
    transition: Transition
    actor: str  # "rule:<id>" for the engine, "user:<who>" for a person
    reason: str | None
    activity: Any = None


def move(
    lead: Lead,
    kind: Transition,
    target: Stage,
    *,
    at: datetime,
    actor: str,
    reason: str | None = None,
    activity: Any = None,
) -> StageChange:
    """Move a lead if the lifecycle table allows it; return the history row to store."""
    check_transition(kind, lead.stage, target, reason)
    # History reads forward in time even when a late activity causes the move.
    if lead.stage_changed_at is not None and at < lead.stage_changed_at:
        at = lead.stage_changed_at
    change = StageChange(lead, lead.stage, target, at, kind, actor, reason, activity)
    if kind is Transition.DISQUALIFY:
        lead.disqualified_from = lead.stage
    if kind is Transition.RECYCLE:
        lead.segment = "recycled"
    if kind in (Transition.RECYCLE, Transition.REJECT, Transition.DISQUALIFY):
        # Criteria that hold right now must be seen false again before they fire.
        lead.armed = {stage: False for stage in lead.armed}
    if kind is Transition.REOPEN:
        lead.armed = {}  # back in the funnel: judged afresh, as a new lead would be
    if kind in (Transition.RECYCLE, Transition.REJECT, Transition.DISQUALIFY, Transition.REOPEN):
        lead.rearmed_at = at.timestamp()
    lead.stage = target
    lead.stage_changed_at = at
    if target is not Stage.DISQUALIFIED and (lead.furthest_stage is None or target.rank > lead.furthest_stage.rank):
        lead.furthest_stage = target
    return change


def qualify(lead: Lead, rules: Rules, at: datetime, activity: Any, out: list[StageChange]) -> None:
    """Disqualify a lead a disqualifier now holds for; reopen one a rule had disqualified once none holds."""
    if lead.stage is None:
        return
    hit = first_disqualifier(lead.fit_fields(), rules)
    if hit is not None and lead.stage is not Stage.DISQUALIFIED:
        out.append(move(lead, Transition.DISQUALIFY, Stage.DISQUALIFIED, at=at,
                        actor=f"rule:qualification.{hit.id}", reason=hit.reason, activity=activity))
        lead.disqualified_by = hit.id
    elif hit is None and lead.stage is Stage.DISQUALIFIED and lead.disqualified_by and rules.auto_reopen:
        back_to = lead.disqualified_from or Stage.SUBSCRIBER
        out.append(move(lead, Transition.REOPEN, back_to, at=at, actor="rule:qualification.auto_reopen",
                        reason=DISQUALIFIER_CLEARED, activity=activity))
        lead.disqualified_by = None


def raise_hand(lead: Lead, rules: Rules, fields: dict[str, Any], at: datetime, activity: Any,
               out: list[StageChange]) -> str | None:
    """Move a lead straight to sales when an activity is a hand-raiser (demo request, contact sales).

    Returns the id of the trigger the activity matched (whether or not the lead moved), or None.
    """
    if lead.stage is None or lead.stage is Stage.DISQUALIFIED:
        return None
    matched = None
    for trigger in rules.hand_raisers:
        if trigger.when(fields):
            matched = matched or trigger.id
            if lead.stage.rank < trigger.to.rank:
                out.append(move(lead, Transition.HAND_RAISE, trigger.to, at=at,
                                actor=f"rule:hand_raiser.{trigger.id}", reason=f"hand-raiser '{trigger.id}'",
                                activity=activity))
    return matched


def advance(lead: Lead, rules: Rules, engagement: float, at: datetime, activity: Any, out: list[StageChange]) -> None:
    """Fire entry criteria that became true; move to the furthest stage that fired, if ahead."""
    if lead.stage is None:
        return
    fields = lead.lead_fields(engagement)
    target = None
    for entry in rules.stage_entries:
        key = entry.stage.value
        armed = lead.armed.get(key, True)
        if entry.when(fields):
            if armed:
                lead.armed[key] = False
                target = entry
        elif not armed:
            lead.armed[key] = True
    if target is None or lead.stage is Stage.DISQUALIFIED or target.stage.rank <= lead.stage.rank:
        return
    read = f", predicted {lead.predicted:.0%}" if target.reads_predicted and lead.predicted is not None else ""
    stage = target.stage
    reason = (f"{stage.value} entry criteria met (fit {score_text(lead.scoring.fit)}, "
              f"engagement {shown(engagement):.1f}{read})")
    out.append(move(lead, Transition.ADVANCE, stage, at=at, actor=f"rule:stage.{stage.value}.entry",
                    reason=reason, activity=activity))
