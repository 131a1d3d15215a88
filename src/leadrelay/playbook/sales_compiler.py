"""Compile the sales sections of a validated playbook into the domain's `SalesRules`."""

from __future__ import annotations

from decimal import Decimal

from leadrelay.playbook.conditions import compile_condition, required_values
from leadrelay.playbook.sales_schema import CriterionSpec, DateMet, FrameworkSpec, NumberMet, SignalSpec
from leadrelay.sales import frameworks as fw
from leadrelay.sales.model import LOST, WON, DealRules, DealStage
from leadrelay.sales.rules import SalesRules, Signal


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _criterion(spec: CriterionSpec) -> fw.Criterion:
    met = spec.met
    if spec.answer == fw.CHOICE:
        assert spec.choices is not None and isinstance(met, list)  # CriterionSpec's validator requires both
        return fw.Criterion(spec.id, spec.question, spec.answer, tuple(spec.choices), met_choices=frozenset(met))
    if spec.answer == fw.YES_NO:
        return fw.Criterion(spec.id, spec.question, spec.answer, met_yes=True if met is None else bool(met))
    if isinstance(met, NumberMet):
        return fw.Criterion(spec.id, spec.question, spec.answer, met_min=_decimal(met.min), met_max=_decimal(met.max))
    if isinstance(met, DateMet):
        return fw.Criterion(spec.id, spec.question, spec.answer, met_within_days=met.within_days)
    return fw.Criterion(spec.id, spec.question, spec.answer)


def _framework(spec: FrameworkSpec) -> fw.Framework:
    return fw.Framework(spec.id, spec.name or spec.id, tuple(_criterion(c) for c in spec.criteria))


def _signal(spec: SignalSpec) -> Signal:
    types = required_values(spec.when, "type")
    events = required_values(spec.when, "event")
    if events is not None:  # only track calls have an event name
        types = frozenset({"track"}) if types is None else types & {"track"}
    return Signal(spec.id, compile_condition(spec.when), types, events)


def compile_sales(model) -> SalesRules:
    """Framework, SQL gate, PQL and expansion signals, and deal rules, from a model that passed its checks."""
    use = model.frameworks.use
    custom = {f.id: f for f in model.frameworks.custom}
    framework = fw.BUILTIN_FRAMEWORKS.get(use) or _framework(custom[use])
    gate = model.sql_gate
    deals = model.opportunities
    outcome = {deals.won: WON, deals.lost: LOST}
    return SalesRules(
        framework=framework,
        gate=fw.Gate(gate.min_met, tuple(gate.must_meet), tuple(gate.also_require)),
        deals=DealRules(
            stages=tuple(DealStage(s.id, Decimal(str(s.probability)), s.forecast, outcome.get(s.id))
                         for s in deals.stages),
            currencies=tuple(deals.currencies),
            default_currency=deals.default_currency or deals.currencies[0],
            lost_reasons=tuple(deals.lost_reasons),
            lost_to_nurture=deals.lost_to_nurture,
            nurture_reason=deals.nurture_reason,
        ),
        pql_signals=tuple(_signal(s) for s in model.pql.signals),
        pql_require=model.pql.require,
        expansion_signals=tuple(_signal(s) for s in model.expansion.signals),
        expansion_cooldown_days=model.expansion.cooldown_days,
    )
