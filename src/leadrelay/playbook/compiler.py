"""Compile a validated playbook into the domain's `Rules`: conditions become functions once."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.handoff.calendar import parse_duration
from leadrelay.handoff.meetings import Credit, MeetingRules, MeetingStep
from leadrelay.handoff.model import HandoffRules, PermanentSuppression
from leadrelay.handoff.routing import Directory, Rep, Route, TeamInfo
from leadrelay.handoff.sla import Policy, Rung
from leadrelay.lead import rules as r
from leadrelay.lead.qualification import builtin_disqualifiers
from leadrelay.lead.stages import FUNNEL, Stage, Transition
from leadrelay.lead.webmail import WEBMAIL_DOMAINS
from leadrelay.playbook.conditions import compile_condition, fields_of, numeric_fields, required_values
from leadrelay.playbook.countries import normalise_country
from leadrelay.playbook.crosscheck import rep_calendar
from leadrelay.playbook.patterns import compile_pattern
from leadrelay.playbook.sales_compiler import compile_sales
from leadrelay.playbook.schema import PlaybookModel
from leadrelay.predict.model import PredictRules

_DAY = 86400.0


def _types(condition) -> frozenset[str] | None:
    """Activity types a rule can match: pinned by `type`, and `event` only exists on tracks."""
    types = required_values(condition, "type")
    if required_values(condition, "event") is not None:
        types = frozenset({"track"}) if types is None else types & {"track"}
    return types


def compile_handoff(model: PlaybookModel) -> HandoffRules:
    """Teams, reps, routing, SLA policies, stale-lead and suppression rules, compiled."""
    managers = {team.id: team.manager for team in model.teams}
    reps = {}
    for rep in model.reps:
        manager = rep.manager or managers.get(rep.team)
        reps[rep.id] = Rep(
            id=rep.id, name=rep.name, email=rep.email, team=rep.team, calendar=rep_calendar(model, rep.id),
            manager_name=manager.name if manager else None, manager_email=manager.email if manager else None,
            active=rep.active, capacity=rep.capacity, daily_quota=rep.daily_quota, weight=rep.weight,
            away=tuple((p.start, p.end) for p in rep.out_of_office),
        )
    directory = Directory(
        teams={t.id: TeamInfo(t.id, t.function.value, t.strategy, t.working_hours_only) for t in model.teams},
        reps=reps,
        routes=tuple(Route(x.id, compile_condition(x.when) if x.when else None, x.team, x.rep)
                     for x in model.routing.rules),
        account_owner_first=model.routing.account_owner_first,
    )
    policies: dict[str, Policy] = {
        p.handoff: Policy(
            id=p.id, kind=p.handoff, business=p.clock == "business", accept=p.accept_within,
            first_touch=p.first_touch_within, touches=(p.touches.count, p.touches.within) if p.touches else None,
            warn_before=p.warn_before, max_reassignments=p.max_reassignments, follow_up=p.follow_up_within,
            shared_ladder=isinstance(p.escalation, list) and bool(p.escalation),
            ladders={clock: tuple(Rung(x.after, x.action, x.restart_clock, x.to_same_rep) for x in steps)
                     for clock, steps in p.ladders().items()},
        )
        for p in model.sla.policies
    }
    stale = model.stale
    return HandoffRules(
        directory=directory,
        policies=policies,
        mqls_per_month=model.sla.marketing.mqls_per_month if model.sla.marketing else None,
        stale_after=timedelta(days=stale.after_days) if stale else None,
        stale_recycle=bool(stale and stale.recycle),
        stale_reason=stale.reason if stale else "no_response",
        suppress_while_sales=tuple(model.suppression.while_owned_by_sales),
        permanent=tuple(PermanentSuppression(x.id, compile_condition(x.when), x.channel, x.reason,
                                             _types(x.when), required_values(x.when, "event"))
                        for x in model.suppression.permanent),
        meetings=_meetings(model),
    )


_STEP_OF = {"booked": MeetingStep.BOOK, "rescheduled": MeetingStep.RESCHEDULE, "held": MeetingStep.HELD,
            "no_show": MeetingStep.NO_SHOW, "canceled": MeetingStep.CANCEL}


def _meetings(model: PlaybookModel) -> MeetingRules:
    spec = model.meetings
    credit = spec.credit
    return MeetingRules(
        events={name.casefold(): _STEP_OF[step] for step, names in vars(spec.events).items() for name in names},
        credit=Credit(credit.booked, credit.no_show, credit.canceled, credit.reassigned))


def _either(first, second) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """The activity types and events either of two conditions can match (None: any)."""
    types1, types2 = _types(first), _types(second)
    events1, events2 = required_values(first, "event"), required_values(second, "event")
    return (None if types1 is None or types2 is None else types1 | types2), \
        (None if events1 is None or events2 is None else events1 | events2)


def _spike_windows(model: PlaybookModel) -> tuple[tuple[str, float], ...]:
    """Every `engagement_rise.W` the alerts read, as (W, seconds), shortest first."""
    names = {path.removeprefix("engagement_rise.") for alert in model.alerts for path in fields_of(alert.when)
             if path.startswith("engagement_rise.")}
    return tuple(sorted(((name, parse_duration(name).total_seconds()) for name in names), key=lambda w: w[1]))


def _alert(spec) -> r.AlertRule:
    every = spec.rearm if isinstance(spec.rearm, timedelta) else None
    return r.AlertRule(
        spec.id, compile_condition(spec.when), "every" if every else spec.rearm,
        every_seconds=every.total_seconds() if every else None, description=spec.description,
        channels=tuple(spec.channels) if spec.channels is not None else None,
        email=tuple(spec.email) if spec.email is not None else None,
        rearm_text=_span(every) if every else spec.rearm, types=_types(spec.when),
        events=required_values(spec.when, "event"))


def _span(delta: timedelta) -> str:
    """A window as a playbook writes it: 7d, 12h, 30m."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


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
    ) + [r.Disqualifier(rule.id, compile_condition(rule.when), rule.reason, tuple(fields_of(rule.when)))
         for rule in q.rules]

    fit, eng = model.scoring.fit, model.scoring.engagement
    reasons = model.reasons
    return r.Rules(
        version=version,
        fit_rules=tuple(r.FitRule(x.id, compile_condition(x.when), x.points, x.description, tuple(fields_of(x.when)))
                        for x in fit.rules),
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
                reads=tuple(dict.fromkeys(fields_of(x.when))),
            )
            for x in eng.rules
        ),
        half_life_seconds=eng.half_life_days * _DAY if eng.half_life_days else None,
        engagement_min=eng.min,
        engagement_max=eng.max,
        personas=tuple(
            r.Persona(p.id, tuple(compile_pattern(t) for t in p.titles)) for p in model.personas
        ),
        disqualifiers=tuple(disqualifiers),
        auto_reopen=q.auto_reopen,
        stage_entries=tuple(
            r.StageEntry(stage, compile_condition(entry), "predicted" in fields_of(entry))
            for stage in FUNNEL
            if (entry := model.stages.spec(stage).entry) is not None
        ),
        hand_raisers=tuple(r.HandRaiser(h.id, compile_condition(h.when), h.to) for h in model.hand_raisers),
        alerts=tuple(_alert(a) for a in model.alerts),
        spike_windows=_spike_windows(model),
        sequences=tuple(r.Sequence(s.id, compile_condition(s.match), s.emails) for s in model.sequences),
        followups=tuple(r.Followup(f.id, compile_condition(f.after), compile_condition(f.unless),
                                   f.within.total_seconds(), f.description,
                                   tuple(f.channels) if f.channels is not None else None, _span(f.within),
                                   *_either(f.after, f.unless))
                        for f in model.followups),
        hand_raiser_window_seconds=model.hand_raiser_window.total_seconds(),
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
        numeric_reads=tuple(dict.fromkeys(
            [(path, f"fit rule {x.id}") for x in fit.rules for path in numeric_fields(x.when)]
            + [(path, f"disqualifier {x.id}") for x in q.rules for path in numeric_fields(x.when)]
            + ([("traits.employees", "disqualifier company_size"), ("account.employees", "disqualifier company_size")]
               if size else []))),
        handoff=compile_handoff(model),
        sales=compile_sales(model),
        predict=PredictRules(
            exclude=frozenset(name.removeprefix("traits.").casefold() for name in model.predict.exclude),
            min_outcomes=model.predict.min_outcomes, min_per_class=model.predict.min_per_class,
            retrain_every_seconds=model.predict.retrain_every.total_seconds() if model.predict.retrain_every else None,
            horizon_seconds=model.predict.horizon.total_seconds() if model.predict.horizon else None,
            in_conditions=model.predict.in_conditions),
    )
