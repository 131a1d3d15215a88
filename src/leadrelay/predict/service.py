"""The predictive score's use cases: record outcomes, evaluate, train a version, score the leads, show a version.

A model is learned from the team's own outcomes (`store.outcomes`), on features rebuilt as they
stood when each lead was judged (`features`), and only once there are enough of them
(`PredictRules.shortfall`). Training evaluates first, beside the rule scores and the
naive-Bayes baseline (`evaluation`), then fits on every outcome, stores the fitted model as a
new version with that report, and scores every lead with it. The probability sits beside the
rule scores; only when the playbook lets conditions read it (`predict.in_conditions`) may a
changed probability move a lead, as its stage entry criteria say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from leadrelay.core.addresses import normalise_email
from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, NotEnoughData, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.lead import store as repo
from leadrelay.lead.events import StagesMoved
from leadrelay.lead.lifecycle import advance
from leadrelay.lead.scoring import engagement_at
from leadrelay.predict import store
from leadrelay.predict.features import Choice, choose, features_of
from leadrelay.predict.model import Example, PredictRules
from leadrelay.storage.database import transaction
from leadrelay.storage.unit_of_work import UnitOfWork

SCORE_BATCH = 5_000
KEEP_UP_BATCH = 2_000  # leads the worker scores per pass, so that a pass stays short
RETRY_SHORTFALL_SECONDS = 3600.0  # a scheduled retrain without enough outcomes is tried again this much later
_SCORERS: dict[tuple, Any] = {}  # (database, version, trained at) -> the unpickled model, kept between passes


def rules_of(app: App) -> PredictRules:
    return app.playbook.rules.predict or PredictRules()


def record_outcomes(app: App, found: Iterable[tuple[str | None, str | None, bool, datetime]], source: str,
                    now: datetime | None = None) -> dict[str, int]:
    """Store `(user id, email, converted, decided at)` for the leads they name; count the ones no lead has."""
    now = now or app.clock()
    found = list(found)
    with transaction(app.engine) as conn:
        users = store.resolve(conn, "user", sorted({u for u, _, _, _ in found if u}))
        emails = store.resolve(conn, "email", sorted({e for _, e, _, _ in found if e and normalise_email(e)}))
        rows: dict[int, tuple[bool, datetime]] = {}
        unknown = 0
        for user_id, email, converted, decided_at in found:
            lead_id = users.get(user_id) if user_id else None
            if lead_id is None and email:
                lead_id = emails.get(normalise_email(email) or "")
            if lead_id is None:
                unknown += 1
            elif lead_id not in rows or decided_at >= rows[lead_id][1]:  # rows about one lead: the latest decides
                rows[lead_id] = (converted, decided_at)
        store.write_outcomes(conn, rows, source, now)
    return {"recorded": len(rows), "converted": sum(c for c, _ in rows.values()), "unknown_leads": unknown}


def examples(app: App) -> tuple[list[Example], set[str]]:
    """Every lead with a known outcome, with its features and rule scores as they stood when it was judged; and
    the name of every field those leads have had at any time (what `predict.exclude` may name)."""
    with app.engine.connect() as conn:
        known = store.outcomes(conn, app.clock(), rules_of(app).horizon_seconds)
        judged = {o.lead_id: o.scored_at for o in known}
        seen = store.activities(conn, list(judged))
        scores = store.rule_scores(conn, judged, app.playbook.rules)
    found = [Example(o.lead_id, features_of(seen.get(o.lead_id, ()), o.scored_at), o, *scores[o.lead_id])
             for o in known]
    ever = {name.casefold() for activities in seen.values() for name in features_of(activities)}
    return found, ever


def readiness(app: App) -> dict[str, Any]:
    """How many outcomes the store holds, by kind, and whether they are enough to train on."""
    with app.engine.connect() as conn:
        known = store.outcomes(conn, app.clock(), rules_of(app).horizon_seconds)
    converted = sum(o.converted for o in known)
    by_kind: dict[str, int] = {}
    for o in known:
        by_kind[o.because] = by_kind.get(o.because, 0) + 1
    return {"outcomes": len(known), "converted": converted, "by_kind": dict(sorted(by_kind.items())),
            "shortfall": rules_of(app).shortfall(len(known), converted)}


def _prepared(app: App) -> tuple[list[Example], Choice]:
    rules = rules_of(app)
    found, ever = examples(app)
    converted = sum(e.known_outcome.converted for e in found)
    shortfall = rules.shortfall(len(found), converted)
    if shortfall:
        raise NotEnoughData(f"not enough outcomes to learn from: {shortfall}")
    unknown = sorted(rules.exclude - ever)
    if unknown:
        raise InvalidInput("; ".join(f"predict.exclude: no lead with an outcome has ever had a field '{name}' (a "
                                     "typo? the fields are the traits of `leads show`)" for name in unknown))
    choice = choose([e.features for e in found], rules)
    if not choice.features:
        raise InvalidInput("no field is known for enough leads to learn from (see `leadrelay model evaluate`)")
    return found, choice


def evaluate(app: App) -> dict[str, Any]:
    """The evaluation report for a model trained now, without storing anything (see `evaluation`)."""
    return evaluate_examples(*_prepared(app), rules_of(app))


def train(app: App, trigger: str = "manual", now: datetime | None = None) -> dict[str, Any]:
    """Evaluate, fit on every outcome, store the model as the new active version, and score every lead with it."""
    from leadrelay.predict.learner import LIBRARY, Scorer

    now = now or app.clock()
    found, choice = _prepared(app)
    report = evaluate_examples(found, choice, rules_of(app))
    scorer = Scorer.fit(choice.features, [e.features for e in found], [e.known_outcome.converted for e in found])
    with transaction(app.engine) as conn:
        version = store.insert_version(
            conn, trained_at=now, trigger=trigger, playbook_version=app.playbook.version, library=LIBRARY,
            outcomes=len(found), converted=sum(e.known_outcome.converted for e in found),
            features=[c.as_dict() for c in choice.features], report=report, estimator=scorer.dumps())
    moved: Counter = Counter()
    scored = score_leads(app, scorer, version, now, moved=moved)
    return {"version": version, "trained_at": utc_iso(now), "trigger": trigger, "scored": scored,
            "moved": dict(sorted(moved.items())), "report": report}


def evaluate_examples(found: list[Example], choice: Choice, rules: PredictRules) -> dict[str, Any]:
    from leadrelay.predict.evaluation import evaluate as run

    report = run(found, choice.features, rules.horizon_seconds)
    report["left_out"] = choice.left_out
    report["notes"] = choice.notes
    report["features"] = [c.as_dict() for c in choice.features]
    return report


def score_leads(app: App, scorer: Any, version: int, now: datetime, lead_ids: list[int] | None = None, *,
                moved: Counter | None = None) -> int:
    """Score these leads (every lead when None) with a model version, as they stand now; returns how many.
    `moved` counts the stage moves the new probabilities made, by the stage moved to (conditions reading
    `predicted`)."""
    with app.engine.connect() as conn:
        ids = lead_ids if lead_ids is not None else store.live_leads(conn)
    for start in range(0, len(ids), SCORE_BATCH):
        part = ids[start:start + SCORE_BATCH]
        with app.engine.connect() as conn:
            seen = store.activities(conn, part)
        probabilities, factors = scorer.explain([features_of(seen.get(lead_id, ())) for lead_id in part])
        with UnitOfWork(app, now) as uow:
            changed = store.write_predictions(uow.conn, version, [
                (lead_id, float(pr), fs) for lead_id, pr, fs in zip(part, probabilities, factors, strict=True)], now)
            if rules_of(app).in_conditions and changed:
                for change in _advance(uow, changed):
                    if moved is not None:
                        moved[change.to_stage.value] += 1
            uow.commit()
    return len(ids)


def _advance(uow: UnitOfWork, lead_ids: list[int]) -> list:
    """Leads whose probability changed, when conditions read it: a stage entry reading `predicted` may now hold
    (or re-arm), as it would on the lead's next activity — moved now, with the handoff that follows."""
    rules, now = uow.app.playbook.rules, uow.now
    writer = repo.lead_writer(uow)
    leads = writer.load_for_update(lead_ids)
    changes: list = []
    for lead in leads.values():
        advance(lead, rules, engagement_at(lead.scoring, now.timestamp(), rules.half_life_seconds), now, None,
                changes)
    if changes:
        writer.insert_stage_changes(changes, uow.app.playbook.version)
        uow.publish(StagesMoved(changes))
    writer.update(leads.values(), now)
    return changes


def keep_up(app: App, now: datetime) -> dict[str, Any]:
    """What the worker does for the predictive score: train on schedule (`predict.retrain_every`) when there
    is enough data, and score the leads the active model has not seen as they stand (a batch per pass)."""
    done: dict[str, Any] = {"retrained": None, "scored": 0, "skipped": None}
    rules = rules_of(app)
    if rules.retrain_every_seconds is not None:
        with app.engine.connect() as conn:
            last = store.latest_trained_at(conn)
        due = last is None or (now - last).total_seconds() >= rules.retrain_every_seconds
        tried = _TRIED.get(id(app.engine))
        if due and (tried is None or (now - tried).total_seconds() >= RETRY_SHORTFALL_SECONDS):
            try:
                done["retrained"] = train(app, trigger="schedule", now=now)["version"]
            except (NotEnoughData, InvalidInput) as exc:
                _TRIED[id(app.engine)] = now
                done["skipped"] = exc.message
    try:
        active = active_scorer(app)
    except InvalidInput as exc:  # the playbook no longer allows the model: conditions must not read its figures
        done["skipped"] = exc.message
        with transaction(app.engine) as conn:
            store.forget_predicted(conn)
        return done
    if active is not None:
        version, scorer = active
        with app.engine.connect() as conn:
            ids = store.unscored_leads(conn, version, KEEP_UP_BATCH)
        done["scored"] = score_leads(app, scorer, version, now, ids) if ids else 0
    return done


_TRIED: dict[int, datetime] = {}  # engine -> when a scheduled retrain last found too little data


def active_scorer(app: App) -> tuple[int, Any] | None:
    """The active model version and its scorer, or None when no model was trained. Raises InvalidInput when
    the playbook no longer allows it (see `unusable`)."""
    with app.engine.connect() as conn:
        row = store.version_row(conn, with_model=False)
        if row is None:
            return None
        # Only now: importing scikit-learn takes seconds, holding the GIL from the worker's other threads.
        from leadrelay.predict.learner import Scorer

        problem = unusable(app, row)
        if problem:
            raise InvalidInput(problem)
        key = (app.engine.url.render_as_string(), row.version, row.trained_at)
        if key not in _SCORERS:
            _SCORERS.clear()
            _SCORERS[key] = Scorer.loads(store.version_row(conn, row.version).estimator, row.library)
    return row.version, _SCORERS[key]


def unusable(app: App, row: Any) -> str | None:
    """Why a stored model may not score leads under the active playbook: it reads a field the playbook now
    excludes. None when it may."""
    banned = _banned(rules_of(app), row)
    if banned:
        return (f"model version {row.version} reads {', '.join(repr(b) for b in banned)}, which the playbook now "
                "excludes: train again (`leadrelay model train`)")
    return None


def _banned(rules: PredictRules, row: Any) -> list[str]:
    return [f["name"] for f in row.features if rules.excluded(f["name"])]


def probabilities_readable(conn: Connection, rules: PredictRules | None) -> bool:
    """Whether conditions may read the leads' stored probabilities under a playbook's predict rules: no model was
    trained, or the active one reads no field they exclude."""
    row = store.version_row(conn, with_model=False)
    return row is None or not _banned(rules or PredictRules(), row)


def forget_if_unreadable(conn: Connection, rules: PredictRules | None) -> int:
    """On activating a playbook that excludes a field the active model reads: the leads' probabilities are
    forgotten at once (conditions read none), not at the worker's next pass. The leads it cleared."""
    return 0 if probabilities_readable(conn, rules) else store.forget_predicted(conn)


def show(app: App, version: int | None = None) -> dict[str, Any]:
    """One model version (the active one by default) with its report, and every version in a line each."""
    with app.engine.connect() as conn:
        row = store.version_row(conn, version, with_model=False)
        history = store.versions(conn)
    if row is None:
        if version is not None:
            raise NotFound(f"no model version {version} (versions: {', '.join(str(v.version) for v in history)})"
                           if history else f"no model version {version}: no model was trained yet")
        return {"model": None, "versions": [], "readiness": readiness(app)}
    model = _version(row, full=True) | {"unusable": unusable(app, row)}
    return {"model": model, "versions": [_version(v) for v in history], "readiness": readiness(app)}


def _version(row: Any, full: bool = False) -> dict[str, Any]:
    scores = row.report["scores"]
    found = {"version": row.version, "active": row.active, "trained_at": utc_iso(row.trained_at),
             "trigger": row.trigger, "playbook_version": row.playbook_version, "outcomes": row.outcomes,
             "converted": row.converted, "roc_auc": scores["model"]["roc_auc"],
             "rule_fit_roc_auc": scores["rule_fit"]["roc_auc"]}
    if full:
        found.update(library=row.library, report=row.report)
    return found
