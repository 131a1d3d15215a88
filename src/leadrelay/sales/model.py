"""Opportunities (deals) and the forecast: stage moves, probability, win and loss, and the sums.

An opportunity belongs to an account and moves through the playbook's deal stages, each
with a default probability and a forecast category (pipeline, best_case, commit, closed,
omitted). A rep may override the probability; moving to another stage drops the
override (the new stage's default applies again). Every change returns a `DealChange`
— what changed, from what to what, who and when — which the service stores as history.

The forecast sums deals per group (month of the close date, rep, team or category) and
per currency (amounts in different currencies are never added together):

- open pipeline: the amount of open deals not in `omitted`
- weighted pipeline: the same deals, each amount × its probability
- commit / best case: the amount of open deals in that category (each deal in one bucket)
- closed won: the amount of won deals

Standard library only; time and "today" come in as arguments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from leadrelay.core.errors import InvalidInput, InvalidTransition

OPEN, WON, LOST = "open", "won", "lost"
NEW_BUSINESS, EXPANSION = "new_business", "expansion"
PIPELINE, BEST_CASE, COMMIT, CLOSED, OMITTED = "pipeline", "best_case", "commit", "closed", "omitted"
CATEGORIES = (PIPELINE, BEST_CASE, COMMIT, CLOSED, OMITTED)
GROUPINGS = ("month", "rep", "team", "category")
MAX_AMOUNT = Decimal("1e16")  # the column holds 16 digits before the point
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DealStage:
    id: str
    probability: Decimal  # percent, 0-100
    category: str
    outcome: str | None = None  # None while the deal is open; "won" or "lost"


@dataclass(frozen=True)
class DealRules:
    """The playbook's `opportunities` section, compiled."""

    stages: tuple[DealStage, ...]
    currencies: tuple[str, ...] = ("USD",)
    default_currency: str = "USD"
    lost_reasons: tuple[str, ...] = ()
    lost_to_nurture: bool = True
    nurture_reason: str = "closed_lost"

    def stage(self, stage_id: str) -> DealStage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise InvalidInput(f"no deal stage '{stage_id}' in the playbook (stages: "
                           f"{', '.join(s.id for s in self.stages)})")

    @property
    def open_stages(self) -> tuple[DealStage, ...]:
        return tuple(s for s in self.stages if s.outcome is None)

    @property
    def won_stage(self) -> DealStage:
        return next(s for s in self.stages if s.outcome == WON)

    @property
    def lost_stage(self) -> DealStage:
        return next(s for s in self.stages if s.outcome == LOST)


@dataclass(slots=True)
class Opportunity:
    """A deal. `probability` is the stage's default; `probability_override` a rep's own figure."""

    id: int | None
    account_id: int
    lead_id: int | None
    name: str
    amount: Decimal
    currency: str
    close_date: date
    owner: str
    stage: str
    probability: Decimal
    category: str
    probability_override: Decimal | None = None
    status: str = OPEN
    lost_reason: str | None = None
    kind: str = NEW_BUSINESS
    version: int = 0
    created_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def effective_probability(self) -> Decimal:
        return self.probability if self.probability_override is None else self.probability_override


@dataclass(frozen=True, slots=True)
class DealChange:
    """A history row: what an action changed on an opportunity, as (old, new) plain values."""

    action: str  # opened | stage | probability | updated | won | lost
    at: datetime
    actor: str
    changes: dict[str, tuple[Any, Any]]
    reason: str | None = None


# --- checks on what people type ---------------------------------------------------------------

def check_amount(value: Any) -> Decimal:
    """A money amount: zero or more, at most two decimals. Raises InvalidInput."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace("_", ""))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"amount must be a number like 12000 or 12000.50, got {value!r}") from None
    if not amount.is_finite():
        raise InvalidInput(f"amount must be a number like 12000 or 12000.50, got {value!r}")
    if amount < 0:
        raise InvalidInput(f"amount must be zero or more, got {_money_text(amount)}")
    if amount >= MAX_AMOUNT:  # before quantize: a huge value cannot be rounded to cents at all
        raise InvalidInput(f"amount is too large: {value}")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise InvalidInput(f"amount has more than two decimals: {value}")
    return amount.quantize(CENT)


def check_currency(code: str | None, rules: DealRules) -> str:
    """The currency (ISO 4217, as the playbook allows), defaulting to the playbook's default."""
    if code is None or not str(code).strip():
        return rules.default_currency
    upper = str(code).strip().upper()
    if upper not in rules.currencies:
        raise InvalidInput(f"unknown currency '{code}': the playbook allows {', '.join(rules.currencies)}")
    return upper


def check_close_date(close_date: date, today: date, *, allow_past: bool) -> str | None:
    """A close date before today is refused unless `allow_past`; then it comes back as a warning."""
    if close_date >= today:
        return None
    if not allow_past:
        raise InvalidInput(f"expected close date {close_date.isoformat()} is in the past (today is "
                           f"{today.isoformat()}); give a future date, or allow a past one on purpose "
                           "(--allow-past-close) to record a deal after the fact")
    return f"expected close date {close_date.isoformat()} is in the past"


# --- what happens to a deal -------------------------------------------------------------------

def open_opportunity(*, account_id: int, lead_id: int | None, name: str, amount: Any, currency: str | None,
                     close_date: date, owner: str, rules: DealRules, at: datetime, actor: str,
                     stage: str | None = None, kind: str = NEW_BUSINESS,
                     allow_past_close: bool = False) -> tuple[Opportunity, DealChange, list[str]]:
    """A new open deal in `stage` (default: the first open stage), with its history row and warnings."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("an opportunity needs a name")
    value = check_amount(amount)
    code = check_currency(currency, rules)
    warning = check_close_date(close_date, at.date(), allow_past=allow_past_close)
    where = rules.stage(stage) if stage else rules.open_stages[0]
    if where.outcome is not None:
        raise InvalidInput(f"a new opportunity starts in an open stage, not '{where.id}' "
                           f"(open stages: {', '.join(s.id for s in rules.open_stages)})")
    deal = Opportunity(None, account_id, lead_id, name, value, code, close_date, owner, where.id,
                       where.probability, where.category, kind=kind, created_at=at)
    change = DealChange("opened", at, actor, {
        "name": (None, name), "amount": (None, _money_text(value)), "currency": (None, code),
        "close_date": (None, close_date.isoformat()), "owner": (None, owner), "stage": (None, where.id),
        "probability": (None, _pct(where.probability)), "forecast_category": (None, where.category)})
    return deal, change, [warning] if warning else []


def _require_open(deal: Opportunity) -> None:
    if deal.status != OPEN:
        raise InvalidTransition(f"opportunity {deal.id} is {deal.status}: a closed deal does not change")


def move_stage(deal: Opportunity, stage_id: str, rules: DealRules, *, at: datetime, actor: str) -> DealChange:
    """Move an open deal to another open stage: its default probability and category apply again."""
    _require_open(deal)
    target = rules.stage(stage_id)
    if target.outcome == WON:
        raise InvalidInput(f"'{target.id}' is the won stage: win the deal instead (opps win)")
    if target.outcome == LOST:
        raise InvalidInput(f"'{target.id}' is the lost stage: lose the deal with a reason instead (opps lose)")
    if target.id == deal.stage:
        raise InvalidInput(f"opportunity {deal.id} is already in '{target.id}'")
    changes = {"stage": (deal.stage, target.id), "probability": (_pct(deal.probability), _pct(target.probability)),
               "forecast_category": (deal.category, target.category)}
    if deal.probability_override is not None:
        changes["probability_override"] = (_pct(deal.probability_override), None)
    deal.stage, deal.probability, deal.category, deal.probability_override = (
        target.id, target.probability, target.category, None)
    return DealChange("stage", at, actor, changes)


def set_probability(deal: Opportunity, percent: Any, *, at: datetime, actor: str) -> DealChange:
    """A rep's own probability (0-100) for an open deal; None goes back to the stage's default."""
    _require_open(deal)
    value = None if percent is None else check_percent(percent)
    old = deal.probability_override
    deal.probability_override = value
    return DealChange("probability", at, actor, {"probability_override": (_pct(old), _pct(value))})


def check_percent(value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip().rstrip("%"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"probability must be a percentage from 0 to 100, got {value!r}") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(f"probability must be a percentage from 0 to 100, got {value!r}")
    return number.quantize(CENT)


def update_deal(deal: Opportunity, rules: DealRules, *, at: datetime, actor: str, name: str | None = None,
                amount: Any = None, currency: str | None = None, close_date: date | None = None,
                owner: str | None = None, allow_past_close: bool = False) -> tuple[DealChange, list[str]]:
    """Change an open deal's name, amount, currency, expected close date or owner."""
    _require_open(deal)
    changes: dict[str, tuple[Any, Any]] = {}
    warnings: list[str] = []
    if name is not None and name.strip() and name.strip() != deal.name:
        changes["name"] = (deal.name, name.strip())
    if amount is not None:
        value = check_amount(amount)
        if value != deal.amount:
            changes["amount"] = (_money_text(deal.amount), _money_text(value))
    if currency is not None:
        code = check_currency(currency, rules)
        if code != deal.currency:
            changes["currency"] = (deal.currency, code)
    if close_date is not None and close_date != deal.close_date:
        warning = check_close_date(close_date, at.date(), allow_past=allow_past_close)
        warnings += [warning] if warning else []
        changes["close_date"] = (deal.close_date.isoformat(), close_date.isoformat())
    if owner is not None and owner != deal.owner:
        changes["owner"] = (deal.owner, owner)
    if not changes:
        raise InvalidInput(f"nothing to change on opportunity {deal.id}")
    for key, (_, new) in changes.items():
        if key == "amount":
            deal.amount = Decimal(new)
        elif key == "close_date":
            deal.close_date = date.fromisoformat(new)
        else:
            setattr(deal, key, new)
    return DealChange("updated", at, actor, changes), warnings


def _close(deal: Opportunity, stage: DealStage, at: datetime, actor: str, action: str,
           reason: str | None) -> DealChange:
    assert stage.outcome is not None  # the won or the lost stage
    changes = {"status": (deal.status, stage.outcome), "stage": (deal.stage, stage.id),
               "probability": (_pct(deal.effective_probability), _pct(stage.probability)),
               "forecast_category": (deal.category, stage.category)}
    if deal.close_date != at.date():
        changes["close_date"] = (deal.close_date.isoformat(), at.date().isoformat())
    if reason:
        changes["lost_reason"] = (None, reason)
    deal.status, deal.stage, deal.category = stage.outcome, stage.id, stage.category
    deal.probability = stage.probability
    deal.probability_override, deal.close_date, deal.closed_at, deal.lost_reason = None, at.date(), at, reason
    return DealChange(action, at, actor, changes, reason)


def win(deal: Opportunity, rules: DealRules, *, at: datetime, actor: str) -> DealChange:
    """Close the deal as won: the won stage, its probability, and today as the close date."""
    _require_open(deal)
    return _close(deal, rules.won_stage, at, actor, "won", None)


def lose(deal: Opportunity, reason: str, rules: DealRules, *, at: datetime, actor: str) -> DealChange:
    """Close the deal as lost, with one of the playbook's lost reasons."""
    _require_open(deal)
    if reason not in rules.lost_reasons:
        raise InvalidInput(f"'{reason}' is not a lost reason in the playbook "
                           f"(one of {', '.join(rules.lost_reasons)})")
    return _close(deal, rules.lost_stage, at, actor, "lost", reason)


# --- the forecast ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DealLine:
    """What the forecast needs of one deal."""

    id: int
    owner: str
    team: str | None
    close_date: date
    category: str
    status: str
    amount: Decimal
    currency: str
    probability: Decimal  # the effective one


@dataclass(slots=True)
class Totals:
    open_pipeline: Decimal = field(default_factory=Decimal)
    weighted_pipeline: Decimal = field(default_factory=Decimal)
    commit: Decimal = field(default_factory=Decimal)
    best_case: Decimal = field(default_factory=Decimal)
    closed_won: Decimal = field(default_factory=Decimal)
    open_deals: int = 0
    won_deals: int = 0
    lost_deals: int = 0

    def add(self, line: DealLine) -> None:
        if line.status == WON:
            self.closed_won += line.amount
            self.won_deals += 1
        elif line.status == LOST:
            self.lost_deals += 1
        elif line.category != OMITTED:
            self.open_deals += 1
            self.open_pipeline += line.amount
            self.weighted_pipeline += line.amount * line.probability / 100
            if line.category == COMMIT:
                self.commit += line.amount
            elif line.category == BEST_CASE:
                self.best_case += line.amount

    def as_dict(self) -> dict[str, Any]:
        return {"open_pipeline": money(self.open_pipeline), "weighted_pipeline": money(self.weighted_pipeline),
                "commit": money(self.commit), "best_case": money(self.best_case),
                "closed_won": money(self.closed_won), "open_deals": self.open_deals,
                "won_deals": self.won_deals, "lost_deals": self.lost_deals}


def group_of(line: DealLine, by: str | None) -> str:
    """The group a deal falls in: month of its close date (YYYY-MM), owner, team or category."""
    if by is None:
        return "all"
    if by == "month":
        return line.close_date.strftime("%Y-%m")
    if by == "rep":
        return line.owner
    if by == "team":
        return line.team or "-"
    if by == "category":
        return line.category
    raise InvalidInput(f"cannot group a forecast by '{by}' (use one of {', '.join(GROUPINGS)})")


def forecast(lines: Iterable[DealLine], by: str | None = None) -> dict[tuple[str, str], Totals]:
    """Totals per (group, currency), in group then currency order."""
    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"cannot group a forecast by '{by}' (use one of {', '.join(GROUPINGS)})")
    out: dict[tuple[str, str], Totals] = {}
    for line in lines:
        out.setdefault((group_of(line, by), line.currency), Totals()).add(line)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return dict(sorted(out.items(), key=lambda kv: ((order.get(kv[0][0], 99), "") if by == "category"
                                                    else (0, kv[0][0]), kv[0][1])))


def iso_week(day: date) -> str:
    """`2026-W40`: the ISO week a day falls in (weekly forecast snapshots are keyed by it)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def money(value: Decimal) -> float:
    """An amount rounded to cents, as a JSON number."""
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def _money_text(value: Decimal) -> str:
    return format(value.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
