"""The sales side's read models: pages of opportunities, a team's forecast lines, one deal's owner.

What the API and the CLI read; they never touch the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, or_, select

from leadrelay.core.app import App
from leadrelay.core.cursor import decode_cursor, encode_cursor
from leadrelay.lead.model import Lead
from leadrelay.lead.profiling import next_fields
from leadrelay.lead.queries import engagement_now, find_lead
from leadrelay.lead.stages import Stage
from leadrelay.sales import store as repo
from leadrelay.sales.forecast import deal_lines
from leadrelay.sales.forecast_snapshots import current_forecast, rep_teams
from leadrelay.sales.model import DealLine, forecast, iso_week
from leadrelay.sales.service import deal_dict
from leadrelay.sales.sql_gate import latest_answers
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t


def opportunity_page(
    app: App, *, status: str, stage: str | None, owner: str | None, owner_sets: Iterable[Set[str] | None],
    limit: int, cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Soonest expected close first; every non-None set in `owner_sets` narrows the owners seen."""
    c, a = s.opportunities.c, t.accounts.c
    query = select(s.opportunities, a.name.label("account_name"), a.domain.label("account_domain")).join(
        t.accounts, a.id == c.account_id)
    if status != "all":
        query = query.where(c.status == status)
    if stage is not None:
        query = query.where(c.stage == app.playbook.rules.sales.deals.stage(stage).id)
    if owner is not None:
        query = query.where(c.owner == owner)
    for owners in owner_sets:
        if owners is not None:
            query = query.where(c.owner.in_(sorted(owners)))
    if cursor is not None:
        close, deal_id = decode_cursor(cursor, date, int)
        query = query.where(or_(c.close_date > close, and_(c.close_date == close, c.id > deal_id)))
    with app.engine.connect() as conn:
        rows = conn.execute(query.order_by(c.close_date, c.id).limit(limit + 1)).all()
    deals = [deal_dict(repo.deal_from_row(r), SimpleNamespace(name=r.account_name, domain=r.account_domain))
             for r in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1].close_date, rows[limit - 1].id) if len(rows) > limit else None
    return deals, next_cursor


def forecast_lines(app: App, owners: Iterable[str]) -> list[DealLine]:
    """The open and won deal lines of these owners, for a team's forecast."""
    owners = set(owners)
    with app.engine.connect() as conn:
        return [line for line in deal_lines(conn, rep_teams(app)) if line.owner in owners]


def visible_forecast(app: App, owners: Iterable[str] | None, *, by: str | None = None,
                     team: str | None = None) -> dict[str, Any]:
    """The forecast of `owners`' deals grouped `by` month, rep, team or category; None: every deal, with the weekly
    snapshots' story (a team's forecast has none: the snapshots are of every deal)."""
    if owners is None:
        return current_forecast(app, by=by) | {"team": None}
    today = app.clock().date()
    lines = forecast_lines(app, owners)
    return {
        "as_of": today.isoformat(), "week": iso_week(today), "by": by, "team": team,
        "rows": [{"group": group, "currency": currency} | totals.as_dict()
                 for (group, currency), totals in forecast(lines, by).items()],
        "totals": [{"currency": currency} | totals.as_dict() for (_, currency), totals in forecast(lines).items()],
        "snapshots": [],
    }


def deal_owner(app: App, deal_id: int) -> str | None:
    """The deal's owner; NotFound when there is no such deal."""
    with app.engine.connect() as conn:
        return repo.load_deal(conn, deal_id).owner


def next_fields_of(app: App, ref: str | int) -> dict[str, Any]:
    """The fields to ask a lead for next, most telling first, each with what knowing it could do and the rules that
    read it (`leadrelay.lead.profiling`); the SQL gate's unanswered criteria last."""
    with app.engine.connect() as conn:
        lead = find_lead(conn, ref)
        assert lead.id is not None  # read from its row
        framework = app.playbook.rules.sales.framework
        answered = latest_answers(conn, lead.id, framework.id)
    gate = [(c.id, framework.id) for c in framework.criteria if c.id not in answered] \
        if lead.stage is not None and lead.stage is not Stage.DISQUALIFIED else []
    asks = next_fields(lead, app.playbook.rules, engagement_now(app, lead, app.clock()), gate=gate)
    return {"id": lead.id, "stage": lead.stage.value if lead.stage else None, "fields": [a.as_dict() for a in asks]}


def next_field_names(app: App, *, anonymous_id: str | None = None) -> list[str]:
    """For a web form: the names of the fields to ask the visitor for next, nothing else; the sales questions of the
    SQL gate are not a form's. Looked up by the browser's own anonymous id only — never by email, user id or lead
    id, which anyone holding the public write key could try — and a visitor not seen yet gets those of a new lead."""
    c = t.identities.c
    with app.engine.connect() as conn:
        lead = find_lead(conn, lead_id) if anonymous_id and (lead_id := conn.scalar(
            select(c.lead_id).where(c.kind == "anonymous", c.value == anonymous_id))) is not None else Lead()
    engagement = engagement_now(app, lead, app.clock()) if lead.id is not None else 0.0
    return [ask.field for ask in next_fields(lead, app.playbook.rules, engagement)]
