"""Weekly forecast snapshots: the totals and every open deal as they stood, once per ISO week.

Taking a snapshot again in the same ISO week changes nothing (it returns the one there
is), so a weekly cron job or a worker may call it as often as it likes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from leadrelay.core.app import App
from leadrelay.core.time import utc_iso
from leadrelay.sales.forecast import deal_lines, forecast_report, totals_by_currency
from leadrelay.sales.model import OPEN, iso_week
from leadrelay.storage import sales_tables as s
from leadrelay.storage.database import transaction


def rep_teams(app: App) -> dict[str, str]:
    """Each rep's team, from the playbook."""
    return {rep.id: rep.team for rep in app.playbook.rules.handoff.directory.reps.values()}


def current_forecast(app: App, *, by: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The forecast report (see `reports.forecast`) as of now."""
    now = now or app.clock()
    with app.engine.connect() as conn:
        return forecast_report(conn, rep_teams(app), by=by, today=now.date())


def take_snapshot(app: App, *, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Store this ISO week's forecast snapshot, unless it is already stored; say which."""
    now = now or app.clock()
    week = iso_week(now.date())
    try:
        with transaction(app.engine) as conn:
            existing = _existing(conn, week)
            if existing is not None:
                return existing
            lines = deal_lines(conn, rep_teams(app))
            totals = {currency: t.as_dict() for currency, t in totals_by_currency(lines).items()}
            snapshot_id = conn.scalar(insert(s.forecast_snapshots).values(
                week=week, taken_at=now, taken_by=actor, totals=totals, playbook_version=app.playbook.version,
            ).returning(s.forecast_snapshots.c.id))
            deals = [line for line in lines if line.status == OPEN]
            if deals:
                c = s.opportunities.c
                stages: dict[int, str] = dict(
                    conn.execute(select(c.id, c.stage).where(c.status == OPEN)).tuples().all())
                conn.execute(insert(s.forecast_snapshot_deals), [
                    {"snapshot_id": snapshot_id, "opportunity_id": line.id, "owner": line.owner, "team": line.team,
                     "stage": stages[line.id], "forecast_category": line.category, "status": line.status,
                     "amount": line.amount, "currency": line.currency, "probability": line.probability,
                     "close_date": line.close_date}
                    for line in deals])
            return {"week": week, "created": True, "taken_at": utc_iso(now), "taken_by": actor,
                    "open_deals": len(deals), "totals": totals}
    except IntegrityError:  # another process took this week's snapshot at the same moment
        with app.engine.connect() as conn:
            existing = _existing(conn, week)
        if existing is None:
            raise
        return existing


def _existing(conn, week: str) -> dict[str, Any] | None:
    f = s.forecast_snapshots.c
    row = conn.execute(select(s.forecast_snapshots).where(f.week == week)).first()
    if row is None:
        return None
    deals = conn.scalar(select(func.count()).select_from(s.forecast_snapshot_deals)
                        .where(s.forecast_snapshot_deals.c.snapshot_id == row.id))
    return {"week": week, "created": False, "taken_at": utc_iso(row.taken_at), "taken_by": row.taken_by,
            "open_deals": deals, "totals": row.totals}
