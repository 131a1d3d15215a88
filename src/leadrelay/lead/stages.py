"""Lifecycle stages and the transitions between them, as data.

Stages are ordered: subscriber → lead → mql → sal → sql → opportunity → customer, with
one side exit, disqualified. Forward moves happen when entry criteria hold (or a
hand-raiser, or a sales action); every backward or sideways move is a named transition
that needs a reason code. The table below is the only place that says what is allowed.
"""

from __future__ import annotations

from enum import Enum

from leadrelay.core.errors import InvalidTransition


class Team(str, Enum):
    MARKETING = "marketing"
    SDR = "sdr"
    AE = "ae"
    CUSTOMER_SUCCESS = "customer_success"


class Stage(str, Enum):
    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    DISQUALIFIED = "disqualified"

    @property
    def rank(self) -> int:
        """Position in the funnel; disqualified sits outside it (-1)."""
        return _RANK[self]

    @property
    def default_owner(self) -> Team:
        return _DEFAULT_OWNER[self]


FUNNEL = (Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
_RANK = {stage: i for i, stage in enumerate(FUNNEL)} | {Stage.DISQUALIFIED: -1}
_DEFAULT_OWNER = {
    Stage.SUBSCRIBER: Team.MARKETING, Stage.LEAD: Team.MARKETING, Stage.MQL: Team.MARKETING,
    Stage.SAL: Team.SDR, Stage.SQL: Team.AE, Stage.OPPORTUNITY: Team.AE,
    Stage.CUSTOMER: Team.CUSTOMER_SUCCESS, Stage.DISQUALIFIED: Team.MARKETING,
}

# Stages the engine may enter on its own (entry criteria, hand-raisers). Later stages
# are reached only by sales actions.
AUTOMATIC_STAGES = (Stage.LEAD, Stage.MQL, Stage.SAL)


class Transition(str, Enum):
    """How a lead got from one stage to another. Everything but ADVANCE needs a reason code."""

    IDENTIFY = "identify"  # an anonymous visitor became known: enters the funnel at subscriber
    ADVANCE = "advance"  # entry criteria held
    HAND_RAISE = "hand_raise"  # a demo request or contact-sales form
    RECYCLE = "recycle"  # sales hands it back to nurture: to `lead`, segment recycled
    REJECT = "reject"  # sales refuses the handoff: back to `lead`
    DISQUALIFY = "disqualify"
    REOPEN = "reopen"  # out of disqualified, back to where it was

    @property
    def needs_reason(self) -> bool:
        return self in _NEEDS_REASON


_NEEDS_REASON = {Transition.RECYCLE, Transition.REJECT, Transition.DISQUALIFY, Transition.REOPEN}
_SALES_STAGES = {Stage.MQL, Stage.SAL, Stage.SQL, Stage.OPPORTUNITY}


def check_transition(kind: Transition, current: Stage | None, target: Stage, reason: str | None) -> None:
    """Raise InvalidTransition unless the lifecycle table allows `kind` from `current` to `target`."""
    if kind.needs_reason and not (reason and reason.strip()):
        raise InvalidTransition(f"{kind.value} needs a reason code")
    here = current.value if current else "anonymous"
    if kind is Transition.IDENTIFY:
        ok = current is None and target is Stage.SUBSCRIBER
    elif kind in (Transition.ADVANCE, Transition.HAND_RAISE):
        ok = current is not None and current is not Stage.DISQUALIFIED and target.rank > current.rank
    elif kind in (Transition.RECYCLE, Transition.REJECT):
        ok = current in _SALES_STAGES and target is Stage.LEAD
    elif kind is Transition.DISQUALIFY:
        ok = current is not Stage.DISQUALIFIED and target is Stage.DISQUALIFIED
    else:  # REOPEN
        ok = current is Stage.DISQUALIFIED and target is not Stage.DISQUALIFIED
    if not ok:
        raise InvalidTransition(f"cannot {kind.value} a lead from {here} to {target.value}")
