"""Qualification frameworks (BANT, CHAMP, GPCTBA/C&I or a team's own) and the SQL gate.

A framework is a list of criteria; each asks a question, takes one type of answer
(yes/no, a choice, a number, a date, free text) and says which answers count as met.
Given the answers recorded for a lead, every criterion is *met*, *failed* (answered, but
not in a way that counts) or *missing* (no answer yet). The SQL gate is the playbook's
bar on top of that — at least N criteria met, some that must be met, a booked meeting —
and judging it returns every reason it is not met.

Standard library only; "today" comes in as an argument (a timeline is judged against it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from leadrelay.core.errors import InvalidInput, InvalidTransition

YES_NO, CHOICE, NUMBER, DATE, TEXT = "yes_no", "choice", "number", "date", "text"
ANSWER_TYPES = (YES_NO, CHOICE, NUMBER, DATE, TEXT)
MET, MISSING, FAILED = "met", "missing", "failed"

MEETING_BOOKED = "meeting_booked"
PRODUCT_QUALIFIED = "product_qualified"
GATE_EXTRAS = (MEETING_BOOKED, PRODUCT_QUALIFIED)
NO_MEETING = ("no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a cancellation "
              "does not count)")

_YES = {"yes", "y", "true", "t", "1"}
_NO = {"no", "n", "false", "f", "0"}


class SqlGateNotMet(InvalidTransition):
    """A move to SQL (or past it) while the playbook's SQL gate is not met. `reasons` says why."""

    code = "sql_gate_not_met"

    def __init__(self, message: str, reasons: Sequence[str]):
        super().__init__(message)
        self.reasons = list(reasons)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One question of a framework and what counts as met.

    `met_yes` (yes/no: which answer is met), `met_choices` (choice), `met_min`/`met_max`
    (number, inclusive), `met_within_days` (date: on or after today and at most this many
    days ahead). A text answer is met when given.
    """

    id: str
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    met_yes: bool = True
    met_choices: frozenset[str] = frozenset()
    met_min: Decimal | None = None
    met_max: Decimal | None = None
    met_within_days: int | None = None

    def met_when(self) -> str:
        """What counts as met, in words."""
        if self.answer == YES_NO:
            return "yes" if self.met_yes else "no"
        if self.answer == CHOICE:
            return "one of " + ", ".join(c for c in self.choices if c in self.met_choices)
        if self.answer == NUMBER:
            parts = ([f">= {_plain(self.met_min)}"] if self.met_min is not None else []) + (
                [f"<= {_plain(self.met_max)}"] if self.met_max is not None else [])
            return " and ".join(parts)
        if self.answer == DATE:
            return f"within {self.met_within_days} days" if self.met_within_days is not None else "any date"
        return "answered"

    def expects(self) -> str:
        """The answers this criterion takes, for error messages and help."""
        return {YES_NO: "yes or no", CHOICE: "one of " + ", ".join(self.choices),
                NUMBER: "a number like 12000 or 3.5", DATE: "a date like 2027-01-15",
                TEXT: "some text"}[self.answer]


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    criteria: tuple[Criterion, ...]

    def criterion(self, criterion_id: str) -> Criterion:
        """The criterion with this id; InvalidInput naming the ones there are."""
        for criterion in self.criteria:
            if criterion.id == criterion_id:
                return criterion
        known = ", ".join(c.id for c in self.criteria)
        raise InvalidInput(f"no criterion '{criterion_id}' in {self.name} (criteria: {known})")


def _plain(value: Decimal | None) -> str:
    if value is None:
        return "-"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- answers ----------------------------------------------------------------------------

def parse_answer(criterion: Criterion, raw: Any) -> str:
    """Check an answer against its criterion's type; return it in stored form, or raise InvalidInput.

    Stored forms: `yes`/`no`, the choice as the playbook spells it, a plain decimal number,
    an ISO date, or the trimmed text.
    """
    where = f"{criterion.id}: expected {criterion.expects()}"
    if isinstance(raw, bool):
        raw = "yes" if raw else "no"
    if isinstance(raw, datetime):
        raw = raw.date()
    text = raw.isoformat() if isinstance(raw, date) else str(raw).strip() if raw is not None else ""
    if not text:
        raise InvalidInput(f"{where}, got an empty answer")
    if criterion.answer == YES_NO:
        folded = text.casefold()
        if folded in _YES:
            return "yes"
        if folded in _NO:
            return "no"
        raise InvalidInput(f"{where}, got {text!r}")
    if criterion.answer == CHOICE:
        for choice in criterion.choices:
            if choice.casefold() == text.casefold():
                return choice
        raise InvalidInput(f"{where}; got {text!r}")
    if criterion.answer == NUMBER:
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise InvalidInput(f"{where}, got {text!r}") from None
        if not number.is_finite():
            raise InvalidInput(f"{where}, got {text!r}")
        return _plain(number)
    if criterion.answer == DATE:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidInput(f"{where}, got {text!r}") from None
    return text


def is_met(criterion: Criterion, answer: str, today: date) -> bool:
    """Whether a stored answer (see `parse_answer`) meets the criterion, judged on `today`."""
    if criterion.answer == YES_NO:
        return (answer == "yes") is criterion.met_yes
    if criterion.answer == CHOICE:
        return answer in criterion.met_choices
    if criterion.answer == NUMBER:
        number = Decimal(answer)
        return (criterion.met_min is None or number >= criterion.met_min) and (
            criterion.met_max is None or number <= criterion.met_max)
    if criterion.answer == DATE:
        when = date.fromisoformat(answer)
        if criterion.met_within_days is None:
            return True
        return today <= when <= today + timedelta(days=criterion.met_within_days)
    return bool(answer.strip())


@dataclass(frozen=True, slots=True)
class Answer:
    """The latest answer to one criterion, with who gave it and when."""

    criterion: str
    value: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CriterionStatus:
    criterion: Criterion
    status: str  # met | missing | failed
    answer: Answer | None


def assess(framework: Framework, answers: Mapping[str, Answer], today: date) -> list[CriterionStatus]:
    """Met, missing or failed for every criterion of the framework, in the framework's order.

    Answers to criteria the framework no longer has are ignored. An answer that no longer
    parses (the playbook changed the criterion's type or choices) counts as failed.
    """
    out = []
    for criterion in framework.criteria:
        answer = answers.get(criterion.id)
        if answer is None:
            out.append(CriterionStatus(criterion, MISSING, None))
            continue
        try:
            met = is_met(criterion, parse_answer(criterion, answer.value), today)
        except (InvalidInput, InvalidOperation, ValueError):
            met = False
        out.append(CriterionStatus(criterion, MET if met else FAILED, answer))
    return out


# --- the SQL gate -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Gate:
    """What a lead needs to become an SQL. `min_met` None: every criterion of the framework."""

    min_met: int | None = None
    must_meet: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()  # meeting_booked, product_qualified


@dataclass(frozen=True, slots=True)
class GateVerdict:
    passed: bool
    reasons: tuple[str, ...]  # why not; empty when passed
    summary: str  # one line: what was met


def judge_gate(gate: Gate, framework: Framework, statuses: Sequence[CriterionStatus], *,
               meeting_booked: bool, product_qualified: bool) -> GateVerdict:
    """Judge the SQL gate on a lead's criteria and extras; every reason it fails, in order."""
    by_id = {s.criterion.id: s for s in statuses}
    met = [s.criterion.id for s in statuses if s.status == MET]
    need = len(framework.criteria) if gate.min_met is None else gate.min_met
    reasons: list[str] = []
    if len(met) < need:
        missing = [s.criterion.id for s in statuses if s.status == MISSING]
        failed = [f"{s.criterion.id} ({_given(s)})" for s in statuses if s.status == FAILED]
        detail = "; ".join(part for part in (
            f"missing: {', '.join(missing)}" if missing else "",
            f"failed: {', '.join(failed)}" if failed else "") if part)
        reasons.append(f"{len(met)} of {len(framework.criteria)} {framework.name} criteria met, {need} needed"
                       + (f" ({detail})" if detail else ""))
    for criterion_id in gate.must_meet:
        status = by_id.get(criterion_id)
        if status is None or status.status == MET:
            continue
        if status.status == MISSING:
            reasons.append(f"{criterion_id} must be met (no answer yet: {status.criterion.question})")
        else:
            reasons.append(f"{criterion_id} must be met ({status.criterion.met_when()}), "
                           f"the answer is {_given(status)!r}")
    if MEETING_BOOKED in gate.extras and not meeting_booked:
        reasons.append(NO_MEETING)
    if PRODUCT_QUALIFIED in gate.extras and not product_qualified:
        reasons.append("not product-qualified (no PQL signals yet)")
    summary = f"{len(met)} of {len(framework.criteria)} {framework.name} criteria met" + (
        f" ({', '.join(met)})" if met else "")
    return GateVerdict(not reasons, tuple(reasons), summary)


def _given(status: CriterionStatus) -> str:
    """The answer a failed criterion was given (`assess` fails only answered criteria)."""
    assert status.answer is not None
    return status.answer.value


# --- the built-in frameworks ------------------------------------------------------------------

_AUTHORITY = ("decision_maker", "influencer", "user")


def _c(id: str, question: str, answer: str, *, choices: tuple[str, ...] = (), met: Any = None) -> Criterion:
    if answer == CHOICE:
        return Criterion(id, question, answer, choices, met_choices=frozenset(met))
    if answer == DATE:
        return Criterion(id, question, answer, met_within_days=met)
    if answer == NUMBER:
        return Criterion(id, question, answer, met_min=Decimal(met))
    return Criterion(id, question, answer)


BANT = Framework("bant", "BANT", (
    _c("budget", "Is budget set aside for this purchase?", YES_NO),
    _c("authority", "What is this contact's role in the buying decision?", CHOICE, choices=_AUTHORITY,
       met=("decision_maker",)),
    _c("need", "How strong is their need for what we sell?", CHOICE,
       choices=("critical", "important", "nice_to_have", "none"), met=("critical", "important")),
    _c("timeline", "By when do they intend to buy?", DATE, met=180),
))

CHAMP = Framework("champ", "CHAMP", (
    _c("challenges", "What challenges are they trying to solve?", TEXT),
    _c("authority", "What is this contact's role in the buying decision?", CHOICE, choices=_AUTHORITY,
       met=("decision_maker",)),
    _c("money", "Can they fund it (budget now, or they know where to find it)?", YES_NO),
    _c("prioritization", "How high a priority is solving these challenges?", CHOICE,
       choices=("top", "high", "medium", "low"), met=("top", "high")),
))

GPCTBA_CI = Framework("gpctba_ci", "GPCTBA/C&I", (
    _c("goals", "What goals do they have (ideally in numbers)?", TEXT),
    _c("plans", "How do they plan to reach them?", TEXT),
    _c("challenges", "What stands in the way?", TEXT),
    _c("timeline", "By when do they need to get there?", DATE, met=180),
    _c("budget", "Is there budget to fix it?", YES_NO),
    _c("authority", "What is this contact's role in the buying decision?", CHOICE, choices=_AUTHORITY,
       met=("decision_maker",)),
    _c("negative_consequences", "What happens if they do nothing?", TEXT),
    _c("positive_implications", "What does success bring them?", TEXT),
))

BUILTIN_FRAMEWORKS: dict[str, Framework] = {f.id: f for f in (BANT, CHAMP, GPCTBA_CI)}
