"""Compile a validated playbook into the domain's `Rules`: conditions become functions once."""

from __future__ import annotations

import re

from leadrelay.domain import rules as r
from leadrelay.domain.qualification import builtin_disqualifiers
from leadrelay.domain.stages import FUNNEL, Stage, Transition
from leadrelay.domain.webmail import WEBMAIL_DOMAINS
from leadrelay.playbook.conditions import compile_condition, required_values
from leadrelay.playbook.countries import normalise_country
from leadrelay.playbook.schema import PlaybookModel

_DAY = 86400.0


def _types(condition) -> frozenset[str] | None:
    """Activity types a rule can match: pinned by `type`, and `event` only exists on tracks."""
    types = required_values(condition, "type")
    if required_values(condition, "event") is not None:
        types = frozenset({"track"}) if types is None else types & {"track"}
    return types


def compile_rules(model: PlaybookModel, version: str) -> r.Rules:
    """Build the engine's rules from a playbook that already passed validation."""
    q = model.qualification
    webmail = WEBMAIL_DOMAINS | frozenset(d.lower() for d in q.webmail.extra_domains)

    def is_webmail(domain: str) -> bool:
        return domain in webmail

    size = q.company_size
    disqualifiers = builtin_disqualifiers(
        competitors=q.competitors,
        served_countries=q.served_countries,
        disqualify_webmail=q.webmail.disqualify,
        is_webmail=is_webmail,
        industries=q.industries,
        size_min=size.min if size else None,
        size_max=size.max if size else None,
    ) + [r.Disqualifier(rule.id, compile_condition(rule.when), rule.reason) for rule in q.rules]

    fit, eng = model.scoring.fit, model.scoring.engagement
    reasons = model.reasons
    return r.Rules(
        version=version,
        fit_rules=tuple(r.FitRule(x.id, compile_condition(x.when), x.points, x.description) for x in fit.rules),
        fit_min=fit.min,
        fit_max=fit.max,
        engagement_rules=tuple(
            r.EngagementRule(
                x.id, compile_condition(x.when), x.points,
                per_day=x.cap.per_day if x.cap else None,
                lifetime=x.cap.lifetime if x.cap else None,
                description=x.description,
                types=_types(x.when),
                events=required_values(x.when, "event"),
            )
            for x in eng.rules
        ),
        half_life_seconds=eng.half_life_days * _DAY if eng.half_life_days else None,
        engagement_min=eng.min,
        engagement_max=eng.max,
        personas=tuple(
            r.Persona(p.id, tuple(re.compile(t, re.IGNORECASE) for t in p.titles)) for p in model.personas
        ),
        disqualifiers=tuple(disqualifiers),
        auto_reopen=q.auto_reopen,
        stage_entries=tuple(
            r.StageEntry(stage, compile_condition(model.stages.spec(stage).entry))
            for stage in FUNNEL
            if model.stages.spec(stage).entry is not None
        ),
        hand_raisers=tuple(r.HandRaiser(h.id, compile_condition(h.when), h.to) for h in model.hand_raisers),
        stage_owners={stage: model.stages.spec(stage).owner.value for stage in FUNNEL}
        | {Stage.DISQUALIFIED: Stage.DISQUALIFIED.default_owner.value},
        reasons={
            Transition.RECYCLE: frozenset(reasons.recycle),
            Transition.REJECT: frozenset(reasons.reject),
            Transition.DISQUALIFY: frozenset(reasons.disqualify),
            Transition.REOPEN: frozenset(reasons.reopen),
        },
        is_webmail=is_webmail,
        normalise_country=normalise_country,
    )
