"""Segments for the email tool: leads by stage, segment (new or recycled, with why they went back), persona and
suppression, so marketing can nurture recycled leads with content for where they are.

What `leadrelay segment export` and `GET /api/segments/export` give, as CSV or JSON. A lead
is `recycled` once sales sent it back (recycled or rejected) and it came round again; its
`went_back`, `reason` and `went_back_at` are the newest such move. `suppressed` says whether
marketing may use the channel now (a lead sales owns, an unsubscribe, a bounce).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput
from leadrelay.core.numbers import shown
from leadrelay.core.time import utc_iso
from leadrelay.handoff.queries import CHANNELS, lead_contact
from leadrelay.lead.scoring import decayed
from leadrelay.lead.stages import Stage, Transition
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t

SEGMENTS = ("new", "recycled")
BACK = (Transition.RECYCLE.value, Transition.REJECT.value)
COLUMNS = ("id", "email", "name", "title", "company", "stage", "segment", "went_back", "reason", "went_back_at",
           "persona", "source", "campaign", "fit_score", "engagement_score", "suppressed", "suppressed_because")


def segment_export(app: App, *, stage: str | None = None, segment: str | None = None, persona: str | None = None,
                   reason: str | None = None, suppressed: bool | None = None, channel: str = "email",
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """The known leads that match every filter given, newest activity first (see the module docstring)."""
    problems = []
    if stage is not None and stage not in {s.value for s in Stage}:
        problems.append(f"stage: no stage '{stage}' (one of {', '.join(s.value for s in Stage)})")
    if segment is not None and segment not in SEGMENTS:
        problems.append(f"segment: no segment '{segment}' (one of {', '.join(SEGMENTS)})")
    if channel not in CHANNELS:
        problems.append(f"channel: no channel '{channel}' (one of {', '.join(CHANNELS)})")
    reasons = sorted(app.playbook.rules.reasons[Transition.RECYCLE] | app.playbook.rules.reasons[Transition.REJECT]
                     | {app.playbook.rules.handoff.stale_reason or "no_response", "sla_breached"})
    if reason is not None and reason not in reasons:
        problems.append(f"reason: no recycle or reject reason '{reason}' (one of {', '.join(reasons)})")
    personas = sorted(p.id for p in app.playbook.rules.personas)
    if persona is not None and persona not in personas:
        problems.append(f"persona: no persona '{persona}' (one of {', '.join(personas) or 'none'})")
    if problems:
        raise InvalidInput("; ".join(problems))
    now = now or app.clock()
    lc, sc, su = t.leads.c, t.stage_changes.c, h.suppressions.c
    query = (select(t.leads, t.accounts.c.name.label("account_name"))
             .outerjoin(t.accounts, t.accounts.c.id == lc.account_id)
             .where(lc.merged_into.is_(None), lc.stage.is_not(None)))
    for column, value in ((lc.stage, stage), (lc.segment, segment), (lc.persona, persona)):
        if value is not None:
            query = query.where(column == value)
    newest = select(func.max(sc.id).label("id")).where(sc.transition.in_(BACK)).group_by(sc.lead_id).subquery()
    half_life = app.playbook.rules.half_life_seconds
    with app.engine.connect() as conn:
        leads = conn.execute(query.order_by(lc.last_activity_at.desc(), lc.id.desc())).all()
        back = {r.lead_id: r for r in conn.execute(
            select(sc.lead_id, sc.transition, sc.reason, sc.at).join(newest, sc.id == newest.c.id))} \
            if leads else {}
        held: dict[int, str] = {}
        for row in conn.execute(select(su.lead_id, su.reason).where(su.lifted_at.is_(None), su.channel == channel)
                                .order_by(su.created_at)):
            held.setdefault(row.lead_id, row.reason)
    out = []
    for row in leads:
        went = back.get(row.id)
        if reason is not None and (went is None or went.reason != reason):
            continue
        if suppressed is not None and (row.id in held) is not suppressed:
            continue
        contact = lead_contact(row)
        engagement = decayed(row.engagement_score, row.engagement_as_of, now.timestamp(), half_life)
        out.append({
            "id": row.id, "email": row.email, "name": contact["name"], "title": contact["title"],
            "company": contact["company"], "stage": row.stage, "segment": row.segment,
            "went_back": went.transition if went else None, "reason": went.reason if went else None,
            "went_back_at": utc_iso(went.at) if went else None, "persona": row.persona, "source": row.source,
            "campaign": row.campaign, "fit_score": contact["fit_score"], "engagement_score": shown(engagement, 2),
            "suppressed": row.id in held, "suppressed_because": held.get(row.id)})
    return out


def as_csv(rows: list[dict[str, Any]]) -> str:
    """The export as CSV: a header and one line per lead (an empty cell for nothing)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: "" if value is None else str(value).lower() if isinstance(value, bool) else value
                      for key, value in row.items()} for row in rows)
    return out.getvalue()
