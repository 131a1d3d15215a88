"""Checks across the sales sections: the gate against the framework, `won`/`lost` against the deal stages, ...

Each problem carries the path of the value at fault, so `playbook check` names file and line.
"""

from __future__ import annotations

from leadrelay.sales.frameworks import BUILTIN_FRAMEWORKS, PRODUCT_QUALIFIED
from leadrelay.sales.model import CLOSED, OMITTED

Issue = tuple[tuple, str]


def framework_criteria(model) -> list[str] | None:
    """Criterion ids of the framework the playbook uses (None when `use` names no framework)."""
    use = model.frameworks.use
    if use in BUILTIN_FRAMEWORKS:
        return [c.id for c in BUILTIN_FRAMEWORKS[use].criteria]
    custom = next((f for f in model.frameworks.custom if f.id == use), None)
    return [c.id for c in custom.criteria] if custom else None


def sales_issues(model) -> list[Issue]:
    """Every cross-section problem of the sales sections, in document order."""
    issues: list[Issue] = []
    criteria = framework_criteria(model)
    if criteria is None:
        known = list(BUILTIN_FRAMEWORKS) + [f.id for f in model.frameworks.custom]
        issues.append((("frameworks", "use"), f"unknown framework '{model.frameworks.use}' "
                       f"(built in or defined: {', '.join(known)})"))
    gate = model.sql_gate
    if criteria is not None:
        if gate.min_met is not None and gate.min_met > len(criteria):
            issues.append((("sql_gate", "min_met"), f"{gate.min_met} criteria can never be met: "
                           f"'{model.frameworks.use}' has {len(criteria)}"))
        for i, criterion in enumerate(gate.must_meet):
            if criterion not in criteria:
                issues.append((("sql_gate", "must_meet", i), f"no criterion '{criterion}' in framework "
                               f"'{model.frameworks.use}' (criteria: {', '.join(criteria)})"))
    for i, extra in enumerate(gate.also_require):
        if extra == PRODUCT_QUALIFIED and not model.pql.signals:
            issues.append((("sql_gate", "also_require", i), "product_qualified needs `pql.signals` to mark "
                           "leads product-qualified"))
    issues += _deal_issues(model.opportunities)
    return issues


def _deal_issues(deals) -> list[Issue]:
    issues: list[Issue] = []
    if deals.default_currency is not None and deals.default_currency not in deals.currencies:
        issues.append((("opportunities", "default_currency"), f"'{deals.default_currency}' is not one of "
                       f"`currencies` ({', '.join(deals.currencies)})"))
    index = {stage.id: i for i, stage in enumerate(deals.stages)}
    names = ", ".join(index)
    for key, category, probability in (("won", CLOSED, 100), ("lost", OMITTED, 0)):
        stage_id = getattr(deals, key)
        if stage_id not in index:
            issues.append((("opportunities", key), f"unknown deal stage '{stage_id}' (stages: {names})"))
            continue
        stage = deals.stages[index[stage_id]]
        if stage.forecast != category:
            issues.append((("opportunities", "stages", index[stage_id], "forecast"),
                           f"the {key} stage '{stage_id}' must be in forecast category {category}"))
        if stage.probability != probability:
            issues.append((("opportunities", "stages", index[stage_id], "probability"),
                           f"the {key} stage '{stage_id}' must have probability {probability}"))
    if deals.won == deals.lost:
        issues.append((("opportunities", "lost"), f"'{deals.lost}' cannot be both the won and the lost stage"))
    open_stages = [s for s in deals.stages if s.id not in (deals.won, deals.lost)]
    if not open_stages:
        issues.append((("opportunities", "stages"), "no open stage: a new deal needs somewhere to start"))
    for stage in open_stages:
        if stage.forecast == CLOSED:
            issues.append((("opportunities", "stages", index[stage.id], "forecast"),
                           f"'{stage.id}' is an open stage: only the won stage is in category {CLOSED}"))
    return issues
