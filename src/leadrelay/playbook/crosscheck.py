"""Checks across playbook sections (a rule naming an unknown team, a team nobody is in, ...).

They run after the model validated, and each problem carries the path of the value at
fault, so `playbook check` can name the file and line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from leadrelay.lead.stages import FUNNEL, Stage, Team
from leadrelay.playbook.conditions import AllOf, AnyOf, Compare, NotOf, fields_of
from leadrelay.playbook.handoff_schema import EscalationStep
from leadrelay.playbook.sales_check import sales_issues
from leadrelay.playbook.schema import ID_LISTS, AlertSpec, FollowupSpec, PlaybookModel

Issue = tuple[tuple, str]  # (path in the document, message)
SEQUENCE_FIELDS = ("sent", "opened", "clicked", "engaged", "completed", "emails")  # leadrelay.lead.sequences


def cross_check(model: PlaybookModel) -> list[Issue]:
    """Every cross-section problem in the playbook, in document order."""
    issues: list[Issue] = []
    teams = {team.id: team for team in model.teams}
    reps = {rep.id: rep for rep in model.reps}
    for i, team in enumerate(model.teams):
        if team.calendar is not None and team.calendar not in model.calendars:
            issues.append((("teams", i, "calendar"), f"unknown calendar '{team.calendar}' "
                           f"(defined: {', '.join(model.calendars) or 'none'})"))
        if team.function is not Team.MARKETING and not any(rep.team == team.id for rep in model.reps):
            issues.append((("teams", i), f"team '{team.id}' has no members: no rep names it as `team`"))
    for i, rep in enumerate(model.reps):
        if rep.team not in teams:
            issues.append((("reps", i, "team"), f"unknown team '{rep.team}' (teams: {', '.join(teams) or 'none'})"))
        elif rep.timezone is None and rep.working_hours is None and teams[rep.team].calendar is None:
            issues.append((("reps", i), f"rep '{rep.id}' has no calendar: give the rep a timezone and "
                           "working_hours, or the team a calendar"))
        if rep.timezone is not None or rep.working_hours is not None:
            try:
                rep_calendar(model, rep.id)
            except ValueError as exc:
                issues.append((("reps", i), str(exc)))
    issues += _duplicate_ids(model)
    issues += _condition_values(model)
    issues += _predicted_issues(model)
    issues += _alert_issues(model)
    issues += _routing_issues(model, teams, reps)
    issues += _ladder_issues(model)
    issues += sales_issues(model)
    return issues


def _duplicate_ids(model: PlaybookModel) -> list[Issue]:
    return _duplicates(model.id_groups())


def duplicate_ids_in(data: Any) -> list[Issue]:
    """The same check on the YAML as read, for a playbook that does not validate: every error in one run."""
    groups: dict[tuple[str, ...], list] = {}
    for path in ID_LISTS:
        node = data
        for name in path:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, list):
            groups[path] = [item.get("id") if isinstance(item, dict) else None for item in node]
    return _duplicates(groups)


def _duplicates(groups: dict[tuple[str, ...], list]) -> list[Issue]:
    """A rule id used twice in one list: told at the second use."""
    issues: list[Issue] = []
    for where, ids in groups.items():
        first: dict[str, int] = {}
        for n, rule_id in enumerate(ids):
            if not isinstance(rule_id, str):
                continue
            if rule_id in first:
                issues.append(((*where, n, "id"), f"rule id '{rule_id}' is used twice (first at "
                               f"{'.'.join(where)}[{first[rule_id]}])"))
            first.setdefault(rule_id, n)
    return issues


def _conditions(model: PlaybookModel) -> Iterator[tuple[tuple, Any]]:
    """Every condition of the playbook, with where it is."""
    for stage in Stage:
        spec = getattr(model.stages, stage.value, None)
        entry = getattr(spec, "entry", None)
        if entry is not None:
            yield ("stages", stage.value, "entry"), entry
    lists = (("scoring", "fit", "rules"), model.scoring.fit.rules, ("when",)), \
        (("scoring", "engagement", "rules"), model.scoring.engagement.rules, ("when",)), \
        (("qualification", "rules"), model.qualification.rules, ("when",)), \
        (("hand_raisers",), model.hand_raisers, ("when",)), (("alerts",), model.alerts, ("when",)), \
        (("followups",), model.followups, ("after", "unless")), (("sequences",), model.sequences, ("match",)), \
        (("routing", "rules"), model.routing.rules, ("when",)), \
        (("suppression", "permanent"), model.suppression.permanent, ("when",))
    for where, items, keys in lists:
        for n, item in enumerate(items):
            for key in keys:
                if getattr(item, key, None) is not None:
                    yield (*where, n, key), getattr(item, key)


def _compares(condition: Any, path: tuple) -> Iterator[tuple[tuple, Compare]]:
    if isinstance(condition, (AllOf, AnyOf)):
        key = "all" if isinstance(condition, AllOf) else "any"
        for n, part in enumerate(getattr(condition, key)):
            yield from _compares(part, (*path, key, n))
    elif isinstance(condition, NotOf):
        yield from _compares(condition.not_, (*path, "not"))
    else:
        yield (*path, condition.field), condition


def _condition_values(model: PlaybookModel) -> list[Issue]:
    """A condition comparing `stage`, `segment` or `persona` with a value that can never be there (a typo)."""
    known = {"stage": {s.value for s in Stage}, "segment": {"new", "recycled"},
             "persona": {p.id.casefold() for p in model.personas}}
    issues: list[Issue] = []
    for where, condition in _conditions(model):
        for path, compare in _compares(condition, where):
            names = known.get(compare.field)
            if names is None or compare.op not in ("==", "!=", "in", "not in"):
                continue
            values = compare.value if isinstance(compare.value, list) else [compare.value]
            wrong = [v for v in values if isinstance(v, str) and v.casefold() not in names]
            if wrong:
                issues.append((path, f"no {compare.field} {', '.join(map(repr, wrong))} "
                               f"(one of {', '.join(sorted(names)) or 'none: the playbook has no personas'})"))
    return issues


def _predicted_issues(model: PlaybookModel) -> list[Issue]:
    """A condition reading `predicted` while the playbook keeps the model's probability out of its rules, or
    comparing it with a percentage (it is a probability from 0 to 1)."""
    issues: list[Issue] = []
    for where, condition in _conditions(model):
        for path, compare in _compares(condition, where):
            if compare.field != "predicted":
                continue
            if not model.predict.in_conditions:
                issues.append((path, "reads `predicted`, the model's probability, which conditions may read only "
                                     "when `predict.in_conditions` is true"))
            values = compare.value if isinstance(compare.value, list) else [compare.value]
            if any(isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v <= 1 for v in values):
                issues.append((path, f"`predicted` is a probability from 0 to 1: {compare.value} never holds "
                                     "(60 % is 0.6)"))
    return issues


def _alert_issues(model: PlaybookModel) -> list[Issue]:
    """An alert naming a channel the notifications section lacks, or emailing without an email section."""
    issues: list[Issue] = []
    channels = [c.id for c in [*model.notifications.webhooks, *model.notifications.slack]]
    sections: list[tuple[str, Sequence[AlertSpec | FollowupSpec]]] = [("alerts", model.alerts),
                                                                      ("followups", model.followups)]
    for section, rules in sections:
        for i, rule in enumerate(rules):
            for j, channel in enumerate(rule.channels or ()):
                if channel not in channels:
                    issues.append(((section, i, "channels", j), f"unknown channel '{channel}' (notifications "
                                   f"webhooks and slack: {', '.join(channels) or 'none'})"))
    for i, alert in enumerate(model.alerts):
        for path in fields_of(alert.when):
            if path.startswith("sequences."):
                _, sequence, *rest = path.split(".")
                if sequence not in {s.id for s in model.sequences}:
                    issues.append((("alerts", i, "when"), f"'{path}': no sequence '{sequence}' (sequences: "
                                   f"{', '.join(s.id for s in model.sequences) or 'none'})"))
                elif len(rest) != 1 or rest[0] not in SEQUENCE_FIELDS:
                    issues.append((("alerts", i, "when"), f"'{path}': a sequence has "
                                   f"{', '.join(SEQUENCE_FIELDS)} (e.g. sequences.{sequence}.engaged)"))
        email = model.notifications.email
        if alert.email and email is None:
            issues.append((("alerts", i, "email"), f"alert '{alert.id}' emails, but the playbook has no "
                           "notifications.email section (its sender)"))
        for j, who in enumerate(alert.email or ()):
            try:
                if email is not None:
                    email.check_group(who, f"alert '{alert.id}'")  # a group the email section lacks
            except ValueError as exc:
                issues.append((("alerts", i, "email", j), str(exc)))
    return issues


def _routing_issues(model: PlaybookModel, teams: dict, reps: dict) -> list[Issue]:
    issues: list[Issue] = []
    covered: dict[Team, str] = {}  # function -> id of its catch-all rule
    for i, rule in enumerate(model.routing.rules):
        if rule.team is not None and rule.team not in teams:
            issues.append((("routing", "rules", i, "team"), f"unknown team '{rule.team}'"))
            continue
        if rule.rep is not None and rule.rep not in reps:
            issues.append((("routing", "rules", i, "rep"), f"unknown rep '{rule.rep}'"))
            continue
        function = teams[rule.team].function if rule.team else teams[reps[rule.rep].team].function \
            if reps[rule.rep].team in teams else None
        if function is None:
            continue
        if function in covered:
            issues.append((("routing", "rules", i), f"rule '{rule.id}' can never match: the catch-all "
                           f"'{covered[function]}' before it takes every {function.value} lead"))
        elif rule.when is None:
            covered[function] = rule.id
    if model.teams:
        receiving = {model.stages.spec(stage).owner for stage in FUNNEL} - {Team.MARKETING}
        for function in sorted(receiving - set(covered), key=lambda f: f.value):
            if any(team.function is function for team in model.teams):
                issues.append((("routing",), f"no catch-all rule (a rule without `when`) for {function.value} "
                               "leads: a lead no rule matches would have nowhere to go"))
    return issues


def _ladder_issues(model: PlaybookModel) -> list[Issue]:
    """Ladders that cannot run to their end: out of order, a step after the lead went back to
    marketing, a ladder for a clock the policy does not run, a reassign loop without a cap."""
    issues: list[Issue] = []
    for i, policy in enumerate(model.sla.policies):
        here = ("sla", "policies", i, "escalation")
        running = policy.running()
        ladders: dict[str | None, list[EscalationStep]]
        if isinstance(policy.escalation, list):
            ladders = {None: policy.escalation}
            if policy.escalation and not (running["accept"] or running["first_touch"]):
                issues.append((here, f"policy '{policy.id}' has no accept or first-touch deadline, and a list "
                               "ladder runs on those clocks: write `escalation: {touches: [...]}`"))
        else:
            ladders = {}
            for clock, steps in vars(policy.escalation).items():
                if not steps:
                    continue
                ladders[clock] = steps
                if not running[clock]:
                    issues.append(((*here, clock), f"policy '{policy.id}' has no {clock} deadline, so this "
                                   f"ladder could never start (give the policy a deadline for {clock})"))
        steps_all = [step for steps in ladders.values() for step in steps]
        if policy.max_reassignments is not None and not any(s.action == "reassign" for s in steps_all):
            issues.append((("sla", "policies", i, "max_reassignments"), f"policy '{policy.id}' has no reassign "
                           "step, so `max_reassignments` would never apply"))
        windows = {"accept": policy.accept_within, "first_touch": policy.first_touch_within,
                   "follow_up": policy.follow_up_within}
        short = [clock for clock, window in windows.items() if window and policy.warn_before is not None
                 and policy.warn_before >= window]
        if short:
            issues.append((("sla", "policies", i, "warn_before"), f"warn_before ({_words(policy.warn_before)}) "
                           f"is not shorter than the {' and '.join(c.replace('_', ' ') for c in short)} deadline, "
                           "so no warning would be sent for it"))
        for key, steps in ladders.items():
            path = here if key is None else (*here, key)
            if [s.after for s in steps] != sorted(s.after for s in steps):
                issues.append((path, "escalation steps must be in order of `after`"))
            for j, step in enumerate(steps):
                if j and steps[j - 1].action == "return_to_marketing":
                    issues.append(((*path, j), f"step {j + 1} ({step.action}) can never run: the step before "
                                   "returns the lead to marketing, which ends the handoff"))
                    break
                if step.restart_clock and policy.max_reassignments is None:
                    issues.append(((*path, j), f"this reassign restarts the clock, so policy '{policy.id}' "
                                   "would reassign the lead forever: set `max_reassignments` on the policy"))
    return issues


def _words(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def rep_calendar(model: PlaybookModel, rep_id: str):
    """The business calendar a rep's SLA deadlines run on: the team's, with the rep's overrides."""
    from leadrelay.handoff.calendar import BusinessCalendar

    rep = next(r for r in model.reps if r.id == rep_id)
    team = next((t for t in model.teams if t.id == rep.team), None)
    base = model.calendars.get(team.calendar) if team and team.calendar else None
    timezone = rep.timezone or (base.timezone if base else "UTC")
    hours = rep.working_hours or (base.hours if base else {"mon-fri": "09:00-17:00"})
    holidays = base.holidays if base else []
    return BusinessCalendar.parse(timezone, hours, holidays)
