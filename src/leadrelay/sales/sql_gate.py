"""The SQL gate against the database: a lead's answers, booked meetings and PQL mark, judged by the playbook.

`on_stage_move_proposed` is subscribed on the bus to what `leadrelay.lead.service.move_lead`
— the one way a lead changes stage by hand — publishes before every move, so no caller can
move a lead to SQL (or past it) without meeting the gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from leadrelay.core.app import App
from leadrelay.handoff.meetings import MeetingStatus
from leadrelay.lead.events import StageMoveProposed
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.sales.frameworks import (
    Answer,
    CriterionStatus,
    GateVerdict,
    SqlGateNotMet,
    assess,
    judge_gate,
)
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.unit_of_work import UnitOfWork

BOOKED = tuple(status.value for status in MeetingStatus if status.counts_as_booked)
_FORWARD = (Transition.ADVANCE, Transition.HAND_RAISE)


@dataclass(frozen=True)
class Qualification:
    """Where a lead stands: every criterion's status, the extras, and the gate's verdict."""

    statuses: list[CriterionStatus]
    meeting_booked: bool
    product_qualified: bool
    verdict: GateVerdict


def latest_answers(conn: Connection, lead_id: int, framework: str) -> dict[str, Answer]:
    """The newest answer to each criterion of `framework` recorded for the lead."""
    c = s.qualification_answers.c
    rows = conn.execute(select(c.criterion, c.answer, c.answered_by, c.answered_at)
                        .where(c.lead_id == lead_id, c.framework == framework).order_by(c.answered_at, c.id))
    return {row.criterion: Answer(row.criterion, row.answer, row.answered_by, row.answered_at) for row in rows}


def cycle_start(conn: Connection, lead_id: int) -> datetime | None:
    """When the lead last came back to marketing (recycled or rejected): the current sales cycle starts there."""
    c = t.stage_changes.c
    return conn.scalar(select(func.max(c.at)).where(
        c.lead_id == lead_id, c.transition.in_([Transition.RECYCLE.value, Transition.REJECT.value])))


def meeting_booked(conn: Connection, lead_id: int) -> bool:
    """A meeting booked (or held) in the current sales cycle; a no-show or a cancellation does not count."""
    c = h.meetings.c
    query = select(c.id).where(c.lead_id == lead_id, c.status.in_(BOOKED))
    since = cycle_start(conn, lead_id)
    if since is not None:
        query = query.where(c.booked_at >= since)
    return conn.scalar(query.limit(1)) is not None


def is_product_qualified(conn: Connection, lead_id: int) -> bool:
    return conn.scalar(select(s.product_qualified.c.lead_id).where(s.product_qualified.c.lead_id == lead_id)) \
        is not None


def qualification(conn: Connection, app: App, lead: Lead, now: datetime) -> Qualification:
    """Judge a lead against the playbook's framework and SQL gate as of `now`."""
    assert lead.id is not None  # every caller read it from its row
    sales = app.playbook.rules.sales
    statuses = assess(sales.framework, latest_answers(conn, lead.id, sales.framework.id), now.date())
    booked = meeting_booked(conn, lead.id)
    pql = is_product_qualified(conn, lead.id)
    verdict = judge_gate(sales.gate, sales.framework, statuses, meeting_booked=booked, product_qualified=pql)
    return Qualification(statuses, booked, pql, verdict)


def crosses_sql(lead: Lead, kind: Transition, target: Stage) -> bool:
    """Whether a move takes a lead from before SQL to SQL or beyond (a reopen only restores a place)."""
    return (kind in _FORWARD and lead.stage is not None and lead.stage is not Stage.DISQUALIFIED
            and lead.stage.rank < Stage.SQL.rank <= target.rank)


def require_sql_gate(conn: Connection, app: App, lead: Lead, kind: Transition, target: Stage,
                     now: datetime) -> str | None:
    """Raise SqlGateNotMet (with every reason) if this move crosses into SQL without the gate met.

    Returns the verdict's one-line summary when the move crosses the gate, else None.
    """
    if not crosses_sql(lead, kind, target):
        return None
    verdict = qualification(conn, app, lead, now).verdict
    if not verdict.passed:
        raise SqlGateNotMet(f"lead {lead.id} cannot become an SQL: " + "; ".join(verdict.reasons), verdict.reasons)
    return verdict.summary


def on_stage_move_proposed(uow: UnitOfWork, message: StageMoveProposed) -> None:
    """Refuse (SqlGateNotMet) a proposed move into SQL without the gate met (history already happened: not judged)."""
    if not message.history and crosses_sql(message.lead, message.kind, message.target):
        require_sql_gate(uow.conn, uow.app, message.lead, message.kind, message.target, message.at)
