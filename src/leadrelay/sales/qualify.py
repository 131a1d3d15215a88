"""Qualifying a lead: answers to the team's framework, where the lead stands, and the move to SQL.

An SDR records answers (who and when are stored with each, and older answers stay as
history); every criterion is then met, missing or failed. `advance_to_sql` moves a
sales-accepted lead to SQL through `move_lead`, which refuses — with every reason — while
the playbook's SQL gate is not met; the AEs get the lead through the usual handoff.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, InvalidTransition
from leadrelay.core.time import utc_iso
from leadrelay.handoff.service import _open_handoff
from leadrelay.lead.model import Lead
from leadrelay.lead.queries import find_lead
from leadrelay.lead.service import load_for_update, move_lead, moved
from leadrelay.lead.stages import Stage, Transition
from leadrelay.sales.frameworks import parse_answer
from leadrelay.sales.sql_gate import Qualification, qualification
from leadrelay.storage import sales_tables as s
from leadrelay.storage.database import transaction
from leadrelay.storage.unit_of_work import UnitOfWork


def parse_answers(app: App, answers: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """Check every (criterion, answer) against the playbook's framework; all of them, before anything is stored.

    Every bad answer is told in one error (`; `-separated, in the order given), not only the first."""
    framework = app.playbook.rules.sales.framework
    parsed: dict[str, str] = {}
    problems: list[str] = []
    given = 0
    for criterion_id, raw in answers:
        given += 1
        try:
            criterion = framework.criterion(str(criterion_id).strip())
            if criterion.id in parsed:
                raise InvalidInput(f"{criterion.id} is answered twice")
            parsed[criterion.id] = parse_answer(criterion, raw)
        except InvalidInput as exc:
            problems.append(exc.message)
    if problems:
        raise InvalidInput("; ".join(problems))
    if not given:
        raise InvalidInput(f"no answers given (criteria of {framework.name}: "
                           f"{', '.join(c.id for c in framework.criteria)})")
    return list(parsed.items())


def record_answers(app: App, ref: str | int, answers: Iterable[tuple[str, Any]], *, rep: str | None = None,
                   actor: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Store answers to the framework's criteria for a lead; return where the lead stands now.

    `rep` must own the lead (its open handoff). Without `rep`, `actor` (e.g. `user:dana`, a
    manager) records them without the ownership check. A wrong answer changes nothing.
    """
    if rep is None and not actor:
        raise InvalidInput("say who is answering: a rep (--rep) or a person (--by)")
    parsed = parse_answers(app, answers)
    now = now or app.clock()
    framework = app.playbook.rules.sales.framework
    with transaction(app.engine) as conn:
        lead = load_for_update(conn, ref)
        if lead.stage is Stage.DISQUALIFIED:
            raise InvalidTransition(f"lead {lead.id} is disqualified: reopen it before qualifying it")
        if rep is not None:
            _open_handoff(conn, lead, rep)
        by = f"user:{rep}" if rep is not None else actor
        conn.execute(insert(s.qualification_answers), [
            {"lead_id": lead.id, "framework": framework.id, "criterion": criterion, "answer": answer,
             "answered_by": by, "answered_at": now, "playbook_version": app.playbook.version}
            for criterion, answer in parsed])
        result = qualification_dict(app, lead, qualification(conn, app, lead, now))
    return result | {"recorded": [criterion for criterion, _ in parsed]}


def qualification_status(app: App, ref: str | int, *, now: datetime | None = None) -> dict[str, Any]:
    """A lead's criteria (met, missing, failed, with who answered and when), PQL mark and SQL gate verdict."""
    now = now or app.clock()
    with app.engine.connect() as conn:
        lead = find_lead(conn, ref)
        return qualification_dict(app, lead, qualification(conn, app, lead, now))


def qualification_dict(app: App, lead: Lead, q: Qualification) -> dict[str, Any]:
    framework = app.playbook.rules.sales.framework
    criteria = [{
        "id": st.criterion.id, "question": st.criterion.question, "answer_type": st.criterion.answer,
        "met_when": st.criterion.met_when(), "status": st.status,
        "answer": st.answer.value if st.answer else None,
        "answered_by": st.answer.by if st.answer else None,
        "answered_at": utc_iso(st.answer.at) if st.answer else None,
    } for st in q.statuses]
    return {
        "id": lead.id, "email": lead.email, "stage": lead.stage.value if lead.stage else None, "owner": lead.owner,
        "framework": {"id": framework.id, "name": framework.name},
        "criteria": criteria,
        "met": [c["id"] for c in criteria if c["status"] == "met"],
        "missing": [c["id"] for c in criteria if c["status"] == "missing"],
        "failed": [c["id"] for c in criteria if c["status"] == "failed"],
        "meeting_booked": q.meeting_booked,
        "product_qualified": q.product_qualified,
        "sql_gate": {"passed": q.verdict.passed, "reasons": list(q.verdict.reasons), "summary": q.verdict.summary},
    }


def advance_to_sql(app: App, ref: str | int, *, rep: str, expected_version: int | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """The owner moves a sales-accepted lead to SQL — refused with the reasons while the SQL gate is not met.

    The move hands the lead to the account executives (routing, SLA, notices) in the same
    transaction; the history row's reason records what was met.
    """
    now = now or app.clock()
    with UnitOfWork(app, now) as uow:
        conn = uow.conn
        lead = load_for_update(conn, ref, expected_version)
        if lead.stage is Stage.SQL:
            raise InvalidTransition(f"lead {lead.id} is already an SQL")
        if lead.stage is not Stage.SAL:
            here = lead.stage.value if lead.stage else "anonymous"
            hint = ": accept it first (leads accept)" if lead.stage is Stage.MQL else ""
            raise InvalidTransition(f"lead {lead.id} is {here}: only a sales-accepted lead (sal) becomes an SQL{hint}")
        _open_handoff(conn, lead, rep)
        verdict = qualification(conn, app, lead, now).verdict
        change = move_lead(uow, lead, Transition.ADVANCE, Stage.SQL, actor=f"user:{rep}",
                           reason=f"SQL gate met: {verdict.summary}", now=now)
        uow.commit()
    return moved(lead, change) | {"gate": verdict.summary}
