"""The predictive score's SQL: outcomes where the store keeps them, activities as the features read them, the rule
scores as they stood, model versions and each lead's probability."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update

from leadrelay.handoff.model import MARKETING
from leadrelay.lead.scoring import clamp, decay_factor
from leadrelay.lead.store import chunks
from leadrelay.predict.model import Outcome, Seen
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import predict_tables as p
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.packing import unpack

# When a lead has several, the first named here is its outcome: an imported outcome is what the team says;
# a won deal or a customer outweighs a loss before it; a rejection or a worked recycle is a weaker "no", and
# "nothing within the horizon" the weakest.
PRECEDENCE = ("import", "won", "customer", "lost", "rejected", "recycled", "horizon")
JUDGED_STAGES = ("mql", "sal", "sql", "opportunity", "customer")  # a lead is judged when it first reaches one


def outcomes(conn: Connection, now: datetime, horizon_seconds: float | None = None) -> list[Outcome]:
    """Every lead with a known outcome, judged when it first became an MQL or went to sales (or at the
    outcome, if earlier or never). With a horizon, a lead judged longer ago than that which has no outcome
    counts as not converted, decided when the horizon ran out."""
    found: dict[int, dict[str, datetime]] = defaultdict(dict)

    def note(because: str, rows: Iterable[Any]) -> None:
        for lead_id, at in rows:
            if lead_id is not None and at is not None:
                found[lead_id][because] = at

    imported: dict[int, bool] = {}
    for row in conn.execute(select(p.lead_outcomes.c.lead_id, p.lead_outcomes.c.converted,
                                   p.lead_outcomes.c.decided_at)):
        imported[row.lead_id] = row.converted
        found[row.lead_id]["import"] = row.decided_at
    o = s.opportunities.c
    note("won", conn.execute(select(o.lead_id, func.min(o.closed_at)).where(o.status == "won").group_by(o.lead_id)))
    note("lost", conn.execute(select(o.lead_id, func.min(o.closed_at)).where(o.status == "lost").group_by(o.lead_id)))
    c = t.stage_changes.c
    note("customer", conn.execute(select(c.lead_id, func.min(c.at)).where(c.to_stage == "customer")
                                  .group_by(c.lead_id)))
    f = h.handoffs.c
    note("rejected", conn.execute(select(f.lead_id, func.min(f.closed_at)).where(f.outcome == "rejected")
                                  .group_by(f.lead_id)))
    worked = or_(f.accepted_at.is_not(None), f.touches > 0)  # recycled before anyone worked it says nothing
    note("recycled", conn.execute(select(f.lead_id, func.min(f.closed_at)).where(f.outcome == "recycled", worked)
                                  .group_by(f.lead_id)))
    judged: dict[int, datetime] = dict(conn.execute(
        select(c.lead_id, func.min(c.at)).where(c.to_stage.in_(JUDGED_STAGES)).group_by(c.lead_id)).tuples().all())
    for lead_id, at in conn.execute(select(f.lead_id, func.min(f.opened_at)).where(f.to_function != MARKETING)
                                    .group_by(f.lead_id)):
        judged[lead_id] = min(at, judged.get(lead_id, at))
    if horizon_seconds is not None:
        horizon = timedelta(seconds=horizon_seconds)
        for lead_id, at in judged.items():
            if lead_id not in found and at + horizon <= now:
                found[lead_id]["horizon"] = at + horizon
    live: set[int] = set()
    for part in chunks(sorted(found)):
        live.update(conn.scalars(select(t.leads.c.id).where(t.leads.c.id.in_(part), t.leads.c.merged_into.is_(None))))
    result = []
    for lead_id in sorted(live):
        kinds = found[lead_id]
        because = next(k for k in PRECEDENCE if k in kinds)
        converted = imported[lead_id] if because == "import" else because in ("won", "customer")
        decided = kinds[because]
        first = judged.get(lead_id)
        result.append(Outcome(lead_id, converted, because, decided, min(first, decided) if first else decided))
    return result


def activities(conn: Connection, lead_ids: Sequence[int]) -> dict[int, list[Seen]]:
    """Each lead's stored activities in time order; only an identify's traits are read from its payload."""
    a = t.activities.c
    seen: dict[int, list[tuple]] = defaultdict(list)
    for part in chunks(sorted(lead_ids)):
        for row in conn.execute(select(a.lead_id, a.id, a.occurred_at, a.payload)
                                .where(a.lead_id.in_(part), a.type == "identify")):
            seen[row.lead_id].append((row.occurred_at, row.id, Seen("identify", None, row.occurred_at,
                                                                    unpack(conn, row.payload).get("traits"))))
        for row in conn.execute(select(a.lead_id, a.id, a.type, a.name, a.occurred_at)
                                .where(a.lead_id.in_(part), a.type != "identify")):
            seen[row.lead_id].append((row.occurred_at, row.id, Seen(row.type, row.name, row.occurred_at)))
    return {lead_id: [item[2] for item in sorted(items, key=lambda i: (i[0], i[1]))] for lead_id, items in seen.items()}


def rule_scores(conn: Connection, judged: dict[int, datetime], rules: Any) -> dict[int, tuple[float, float]]:
    """Each lead's fit and engagement scores as they stood at its moment (`judged`), from the score history."""
    sc = t.score_changes.c
    fit: dict[int, float] = defaultdict(float)
    engagement: dict[int, float] = defaultdict(float)
    for part in chunks(sorted(judged)):
        for row in conn.execute(select(sc.lead_id, sc.kind, sc.delta, sc.occurred_at).where(sc.lead_id.in_(part))):
            at = judged[row.lead_id]
            if row.occurred_at > at:
                continue
            if row.kind == "fit":
                fit[row.lead_id] += row.delta
            else:
                age = (at - row.occurred_at).total_seconds()
                engagement[row.lead_id] += row.delta * decay_factor(age, rules.half_life_seconds)
    return {lead_id: (clamp(fit[lead_id], rules.fit_min, rules.fit_max),
                      clamp(engagement[lead_id], rules.engagement_min, rules.engagement_max)) for lead_id in judged}


def live_leads(conn: Connection) -> list[int]:
    return list(conn.scalars(select(t.leads.c.id).where(t.leads.c.merged_into.is_(None)).order_by(t.leads.c.id)))


def resolve(conn: Connection, kind: str, values: Sequence[str]) -> dict[str, int]:
    """Identity value -> lead id (the survivor of any merge) for the given kind (user or email)."""
    i = t.identities.c
    found: dict[str, int] = {}
    for part in chunks(list(values)):
        found.update(conn.execute(select(i.value, i.lead_id).where(i.kind == kind, i.value.in_(part))).tuples().all())
    return found


def write_outcomes(conn: Connection, rows: dict[int, tuple[bool, datetime]], source: str, now: datetime) -> None:
    """Store imported outcomes; a lead's newer import replaces its older one."""
    ids = list(rows)
    for part in chunks(ids):
        conn.execute(delete(p.lead_outcomes).where(p.lead_outcomes.c.lead_id.in_(part)))
    for part in chunks(ids):
        conn.execute(insert(p.lead_outcomes), [
            {"lead_id": lead_id, "converted": rows[lead_id][0], "decided_at": rows[lead_id][1], "source": source,
             "recorded_at": now} for lead_id in part])


def insert_version(conn: Connection, **values: Any) -> int:
    """Store a trained model as the active one; the ones before it stay, inactive, with their metrics."""
    conn.execute(update(p.model_versions).where(p.model_versions.c.active).values(active=False))
    return conn.execute(insert(p.model_versions).values(active=True, **values)
                        .returning(p.model_versions.c.version)).scalar_one()


def version_row(conn: Connection, version: int | None = None, *, with_model: bool = True) -> Any:
    """A model version (the active one when `version` is None), with its stored model unless told not to."""
    m = p.model_versions.c
    columns = [c for c in p.model_versions.c if with_model or c.name != "estimator"]
    return conn.execute(select(*columns).where(m.version == version if version is not None else m.active)).first()


def versions(conn: Connection) -> Sequence[Any]:
    m = p.model_versions.c
    return conn.execute(select(m.version, m.trained_at, m.trigger, m.playbook_version, m.outcomes, m.converted,
                               m.report, m.active).order_by(m.version.desc())).all()


def latest_trained_at(conn: Connection) -> datetime | None:
    return conn.scalar(select(func.max(p.model_versions.c.trained_at)))


def write_predictions(conn: Connection, version: int, rows: Sequence[tuple[int, float, list]],
                      now: datetime) -> list[int]:
    """Replace the probabilities of these leads with the ones from `version`, on the lead too (which conditions
    read); returns the leads whose probability changed."""
    changed = []
    for part in chunks(list(rows)):
        ids = [r[0] for r in part]
        before: dict[int, float | None] = dict(
            conn.execute(select(t.leads.c.id, t.leads.c.predicted).where(t.leads.c.id.in_(ids))).tuples().all())
        conn.execute(delete(p.lead_predictions).where(p.lead_predictions.c.lead_id.in_(ids)))
        conn.execute(insert(p.lead_predictions), [
            {"lead_id": lead_id, "model_version": version, "probability": probability, "factors": factors,
             "scored_at": now} for lead_id, probability, factors in part])
        moved = [{"b_id": lead_id, "b_predicted": probability} for lead_id, probability, _ in part
                 if before.get(lead_id) != probability]
        if moved:
            conn.execute(update(t.leads).where(t.leads.c.id == bindparam("b_id"))
                         .values(predicted=bindparam("b_predicted")), moved)
            changed += [m["b_id"] for m in moved]
    return changed


def prediction(conn: Connection, lead_id: int) -> Any:
    q = p.lead_predictions.c
    return conn.execute(select(q.model_version, q.probability, q.factors, q.scored_at)
                        .where(q.lead_id == lead_id)).first()


def unscored_leads(conn: Connection, version: int, limit: int) -> list[int]:
    """Leads the model `version` has not scored as they stand: never scored, scored by another version, or
    changed since."""
    lead, pred = t.leads.c, p.lead_predictions.c
    query = (select(lead.id).select_from(t.leads.outerjoin(p.lead_predictions, pred.lead_id == lead.id))
             .where(lead.merged_into.is_(None),
                    or_(pred.lead_id.is_(None), pred.model_version != version, lead.updated_at > pred.scored_at))
             .order_by(lead.id).limit(limit))
    return list(conn.scalars(query))


def forget_predicted(conn: Connection) -> int:
    """Take every lead's probability away from what conditions read (the stored predictions stay, for the record)."""
    return conn.execute(update(t.leads).where(t.leads.c.predicted.is_not(None)).values(predicted=None)).rowcount
