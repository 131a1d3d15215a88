"""Reading leads: find one, list many, and explain one ("why is this lead an MQL?")."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, literal, select, union_all

from leadrelay.core.addresses import normalise_email
from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.core.numbers import shown
from leadrelay.core.time import utc_iso
from leadrelay.lead.model import Lead
from leadrelay.lead.profiling import next_fields, unreadable
from leadrelay.lead.rows import lead_from_row
from leadrelay.lead.scoring import decay_factor, engagement_at
from leadrelay.lead.sequences import progress
from leadrelay.lead.stages import Stage
from leadrelay.lead.store import attach_accounts
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack

RECENT_ACTIVITIES = 20


def ref_identities(text: str) -> list[tuple[str, str]]:
    """The identities a lead ref (stripped) may be, in the order they are tried: its email when it is an address,
    else a user id, then an anonymous id."""
    email = normalise_email(text)
    return [("email", email)] if email else [("user", text), ("anonymous", text)]


def lead_id_for(conn: Connection, ref: str | int) -> int:
    """The id of a lead given by id, email, user id or anonymous id; a merged lead gives its survivor. A number
    is LeadRelay's own id when a lead has it, else a user id (a CRM's numeric id).

    Raises NotFound.
    """
    text = str(ref).strip()
    if not text:
        raise InvalidInput("give a lead id, email, user id or anonymous id")
    lead_id = None
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        lead_id = conn.scalar(select(t.leads.c.id).where(t.leads.c.id == int(text)))
    if lead_id is None:
        c = t.identities.c
        for kind, value in ref_identities(text):
            lead_id = conn.scalar(select(c.lead_id).where(c.kind == kind, c.value == value))
            if lead_id is not None:
                break
    seen = set()
    while lead_id is not None and lead_id not in seen:  # follow merges to the survivor
        seen.add(lead_id)
        row = conn.execute(select(t.leads.c.id, t.leads.c.merged_into).where(t.leads.c.id == lead_id)).first()
        if row is None:
            break
        if row.merged_into is None:
            return row.id
        lead_id = row.merged_into
    raise NotFound(f"no lead {text}")


MAX_MERGE_HOPS = 16  # a chain of merges is followed this far (merges point at survivors: chains are short)


def find_visible_lead(conn: Connection, ref: str | int, owners: frozenset[str] | None) -> Lead:
    """The lead `ref` names, if one of `owners` has it (None: anyone may see it); NotFound otherwise.

    "There is no such lead" and "there is, but not yours" run the same statements (one lookup
    across ids and identities, then the lead's row, read even for an id that names nobody) and
    raise the same error before the row is parsed: a caller cannot tell them apart, not by the
    answer and not by how long it took.
    """
    text = str(ref).strip()
    if not text:
        raise InvalidInput("give a lead id, email, user id or anonymous id")
    lookups = []
    if text.isascii() and text.isdigit() and int(text) < 2**63:
        lookups.append(select(t.leads.c.id.label("lead_id"), literal(0).label("rank")).where(t.leads.c.id == int(text)))
    c = t.identities.c
    lookups += [select(c.lead_id.label("lead_id"), literal(rank).label("rank")).where(c.kind == kind, c.value == value)
                for rank, (kind, value) in enumerate(ref_identities(text), start=1)]  # user before anonymous
    found = union_all(*lookups).subquery()
    lead_id = conn.scalar(select(found.c.lead_id).order_by(found.c.rank).limit(1))
    row = None
    for _ in range(MAX_MERGE_HOPS):
        row = conn.execute(select(t.leads).where(t.leads.c.id == (lead_id if lead_id is not None else -1))).first()
        if row is None or row.merged_into is None:
            break
        lead_id = row.merged_into
    if row is None or row.merged_into is not None or (owners is not None and row.owner not in owners):
        raise NotFound(f"no lead {text}")
    return lead_from_row(row)


def find_lead(conn: Connection, ref: str | int) -> Lead:
    """A lead by id, email, user id or anonymous id (a merged lead leads to its survivor), with its account's
    traits, as the rules read it. Raises NotFound."""
    lead_id = lead_id_for(conn, ref)
    lead = lead_from_row(conn.execute(select(t.leads).where(t.leads.c.id == lead_id)).one())
    attach_accounts(conn, [lead])
    return lead


def engagement_now(app: App, lead: Lead, now: datetime) -> float:
    """Engagement decayed to `now` (never decays backwards when `now` precedes the last activity)."""
    ts = now.timestamp()
    state = lead.scoring
    if state.as_of is not None and ts < state.as_of:
        ts = state.as_of
    return engagement_at(state, ts, app.playbook.rules.half_life_seconds)


def list_leads(app: App, *, stage: str | None = None, limit: int = 50, include_anonymous: bool = False,
               segment: str | None = None) -> list[dict]:
    """Known leads (newest activity first), optionally in one stage and segment, as plain dicts."""
    query = select(t.leads).where(t.leads.c.merged_into.is_(None))
    if segment is not None:
        if segment not in ("new", "recycled"):
            raise InvalidInput(f"unknown segment '{segment}' (new or recycled)")
        query = query.where(t.leads.c.segment == segment)
    if stage:
        try:
            query = query.where(t.leads.c.stage == Stage(stage.lower()).value)
        except ValueError:
            raise InvalidInput(f"unknown stage '{stage}' (one of {', '.join(s.value for s in Stage)})") from None
    elif not include_anonymous:
        query = query.where(t.leads.c.stage.is_not(None))
    query = query.order_by(t.leads.c.last_activity_at.desc(), t.leads.c.id.desc()).limit(limit)
    now = app.clock()
    with app.engine.connect() as conn:
        return [summary(app, lead_from_row(row), now) for row in conn.execute(query)]


def summary(app: App, lead: Lead, now: datetime) -> dict[str, Any]:
    return {
        "id": lead.id,
        "email": lead.email,
        "stage": lead.stage.value if lead.stage else None,
        "segment": lead.segment,
        "source": lead.source,
        "campaign": lead.campaign,
        "owner": lead.owner,
        "persona": lead.persona,
        "fit_score": shown(lead.scoring.fit, 2),
        "engagement_score": shown(engagement_now(app, lead, now), 2),
        "last_activity_at": utc_iso(lead.last_activity_at),
    }


def explain_lead(app: App, ref: str | int) -> dict[str, Any]:
    """Everything about one lead, with every point and every stage move explained."""
    now = app.clock()
    with app.engine.connect() as conn:
        lead = find_lead(conn, ref)
        assert lead.id is not None  # read from its row
        out = summary(app, lead, now)
        out.update(
            user_id=lead.user_id,
            company_domain=lead.company_domain,
            country=lead.country,
            traits=lead.traits,
            disqualified_by=lead.disqualified_by,
            first_seen_at=utc_iso(lead.first_seen_at),
            account=_account(conn, lead.account_id),
            identities=[{"kind": k, "value": v} for k, v in conn.execute(
                select(t.identities.c.kind, t.identities.c.value)
                .where(t.identities.c.lead_id == lead.id).order_by(t.identities.c.kind, t.identities.c.value))],
            score_breakdown=_breakdown(app, conn, lead.id, now),
            history=_history(conn, lead.id),
            recent_activities=_activities(conn, lead.id),
            merged_leads=list(conn.scalars(select(t.leads.c.id).where(t.leads.c.merged_into == lead.id))),
            ask_next=[ask.as_dict() for ask in next_fields(lead, app.playbook.rules, engagement_now(app, lead, now))],
            unreadable=unreadable(lead, app.playbook.rules),
            alerts=_alerts(conn, lead.id),
            followups=_followups(conn, lead.id),
            meetings=_meetings(conn, lead.id, now),
            meeting_notes=_meeting_notes(conn, lead.id),
            sequences=progress(lead, app.playbook.rules.sequences),
        )
        out["version"] = lead.version
        return out


def _alerts(conn: Connection, lead_id: int) -> list[dict[str, Any]]:
    """The alerts that fired for the lead, newest first, with why (the playbook's `alerts:`)."""
    e = h.domain_events.c
    rows = conn.execute(select(e.at, e.data, e.quiet).where(e.lead_id == lead_id, e.type == "AlertRaised")
                        .order_by(e.at.desc(), e.id.desc()).limit(50))
    return [{"at": utc_iso(r.at), "alert": r.data.get("alert"), "why": r.data.get("why"), "told": not r.quiet}
            for r in rows]


def _followups(conn: Connection, lead_id: int) -> list[dict[str, Any]]:
    """The lead's absence timers, newest first: pending, fired, cancelled (the playbook's `followups:`)."""
    f = t.followup_timers.c
    rows = conn.execute(select(t.followup_timers).where(f.lead_id == lead_id).order_by(f.started_at.desc(),
                                                                                      f.id.desc()).limit(50))
    return [{"followup": r.followup, "status": r.status, "started_at": utc_iso(r.started_at),
             "due_at": utc_iso(r.due_at), "closed_at": utc_iso(r.closed_at)} for r in rows]


MEETING_COLUMNS = ("id", "status", "starts_at", "host", "booked_at", "ended_at", "reschedules", "source",
                   "external_id", "credited_to", "credit")


def _meetings(conn: Connection, lead_id: int, now: datetime) -> list[dict[str, Any]]:
    """The lead's meetings, oldest booking first; the latest no-show's follow-up (due, done, breached: done late or
    not done in time) from its handoff."""
    m, o = h.meetings.c, h.handoffs.c
    rows = conn.execute(select(*(m[name] for name in MEETING_COLUMNS), o.follow_up_from, o.follow_up_due_at,
                               o.follow_up_met_at)
                        .select_from(h.meetings.outerjoin(h.handoffs, o.id == m.handoff_id))
                        .where(m.lead_id == lead_id).order_by(m.booked_at, m.id).limit(50))
    out = []
    for row in rows:
        meeting = {name: utc_iso(v) if isinstance(v := getattr(row, name), datetime) else v for name in MEETING_COLUMNS}
        if row.status == "no_show" and row.follow_up_from is not None and row.follow_up_from == row.ended_at:
            due, done = row.follow_up_due_at, row.follow_up_met_at
            meeting["follow_up"] = {"due_at": utc_iso(due), "done_at": utc_iso(done),
                                    "breached": due is not None and due < (done or now)}
        out.append(meeting)
    return out


def _meeting_notes(conn: Connection, lead_id: int) -> list[dict[str, Any]]:
    """A scheduler's meeting events that changed nothing (and why), or corrected a meeting: newest first."""
    e = h.domain_events.c
    rows = conn.execute(select(e.at, e.type, e.data).where(e.lead_id == lead_id,
                                                           e.type.in_(("MeetingIgnored", "MeetingCorrected")))
                        .order_by(e.at.desc(), e.id.desc()).limit(50))
    return [{"at": utc_iso(r.at), "event": r.data.get("event"), "ignored": r.type == "MeetingIgnored",
             "reason": r.data.get("reason")} for r in rows]


def _account(conn: Connection, account_id: int | None) -> dict | None:
    if account_id is None:
        return None
    row = conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).one()
    return {"id": row.id, "group_id": row.group_id, "name": row.name, "domain": row.domain, "traits": row.traits}


def _breakdown(app: App, conn: Connection, lead_id: int, now: datetime) -> dict[str, list[dict]]:
    """Per rule: fit points that hold now; engagement points awarded and what is left of them now."""
    half_life = app.playbook.rules.half_life_seconds
    now_ts = now.timestamp()
    c = t.score_changes.c
    fit: dict[str, float] = defaultdict(float)
    engagement: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for kind, rule_id, delta, at in conn.execute(
        select(c.kind, c.rule_id, c.delta, c.occurred_at).where(c.lead_id == lead_id).order_by(c.id)
    ):
        if kind == "fit":
            fit[rule_id] += delta
        else:
            entry = engagement[rule_id]
            entry[0] += delta
            entry[1] += delta * decay_factor(max(now_ts - at.timestamp(), 0.0), half_life)
            entry[2] += 1
    return {
        "fit": [{"rule": r, "points": round(p, 2)} for r, p in sorted(fit.items(), key=lambda x: -abs(x[1])) if p],
        "engagement": [
            {"rule": r, "awarded": round(v[0], 2), "now": round(v[1], 2), "times": v[2]}
            for r, v in sorted(engagement.items(), key=lambda x: -abs(x[1][1]))
        ],
    }


def _history(conn: Connection, lead_id: int) -> list[dict]:
    c = t.stage_changes.c
    rows = conn.execute(select(t.stage_changes).where(c.lead_id == lead_id).order_by(c.at, c.id))
    return [
        {"from": r.from_stage, "to": r.to_stage, "at": utc_iso(r.at), "transition": r.transition, "actor": r.actor,
         "reason": r.reason, "activity_id": r.activity_id, "playbook_version": r.playbook_version}
        for r in rows
    ]


def _activities(conn: Connection, lead_id: int) -> list[dict]:
    c = t.activities.c
    rows = conn.execute(select(c.id, c.type, c.name, c.occurred_at, c.payload).where(c.lead_id == lead_id)
                        .order_by(c.occurred_at.desc(), c.id.desc()).limit(RECENT_ACTIVITIES))
    out = []
    for r in rows:
        item = {"id": r.id, "type": r.type, "name": r.name, "occurred_at": utc_iso(r.occurred_at)}
        path = unpack(conn, r.payload).get("properties", {}).get("path")
        if path:
            item["path"] = path
        out.append(item)
    return out

