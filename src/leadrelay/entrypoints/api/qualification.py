"""Qualifying a lead over HTTP: answers to the framework, the SQL gate, and converting an SQL into an opportunity.

`GET /api/leads/{ref}/qualification` says where a lead stands (every criterion met,
missing or failed, with who answered and when; the SQL gate's verdict and reasons);
`POST` records answers. `POST /api/leads/{ref}/sql` passes a sales-accepted lead through
the SQL gate: the owning rep's own work, refused with 422 `sql_gate_not_met` and every
reason in the message while the gate does not hold (nothing changes). `POST
/api/leads/{ref}/convert` opens the opportunity on the company's account.

The same service functions as `leadrelay qualify`, `leadrelay leads sql` and
`leadrelay convert`; who may do what is `authz`'s.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from leadrelay.bootstrap import App
from leadrelay.core.errors import InvalidInput
from leadrelay.entrypoints.api import authz
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.leads import LeadRef, _visible_lead
from leadrelay.entrypoints.api.opportunities import Opportunity
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.sales import service as opps
from leadrelay.sales.model import MAX_AMOUNT
from leadrelay.sales.qualify import advance_to_sql, qualification_status, record_answers

router = APIRouter(prefix="/api/leads", tags=["qualification"],
                   responses=error_responses(400, 401, 403, 422, 429, 503))

_MAX_ID = 2**63 - 1
CriterionId = Annotated[str, StringConstraints(min_length=1, max_length=80)]
AnswerValue = SafeText | bool | int | float


# --- request and response bodies -------------------------------------------------------

class Answers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: dict[CriterionId, AnswerValue] = Field(
        max_length=50, description="Criterion id → answer, as the framework asks: yes/no (or true/false), one of "
                                   "the choices, a number, a date (YYYY-MM-DD) or text. All of them are checked "
                                   "before any is stored.",
        examples=[{"budget": "yes", "authority": "decision_maker", "need": "important", "timeline": "2027-01-15"}])


class FrameworkRef(BaseModel):
    id: str
    name: str


class CriterionStatus(BaseModel):
    id: str
    question: str
    answer_type: str = Field(description="yes_no, choice, number, date or text.")
    met_when: str
    status: str = Field(description="met, missing (no answer yet) or failed (answered, but not so it counts).")
    answer: str | None = Field(description="The latest answer, in stored form.")
    answered_by: str | None
    answered_at: str | None


class SqlGate(BaseModel):
    passed: bool
    reasons: list[str] = Field(description="Every reason the gate does not hold; empty when it does.")
    summary: str = Field(description="What was met, in one line.")


class Qualification(BaseModel):
    id: int
    email: str | None
    stage: str | None
    owner: str | None
    framework: FrameworkRef
    criteria: list[CriterionStatus]
    met: list[str]
    missing: list[str]
    failed: list[str]
    meeting_booked: bool = Field(description="A touch with outcome meeting_booked in the current sales cycle.")
    product_qualified: bool = Field(description="Marked PQL by product signals.")
    sql_gate: SqlGate


class Recorded(Qualification):
    recorded: list[str] = Field(description="The criteria just answered, in the order given.")


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=0, le=_MAX_ID,
                                description="The lead's version as read: a stale version gets 409 and changes nothing.")


class Advanced(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: int
    from_: str | None = Field(alias="from")
    to: str
    transition: str
    reason: str | None = Field(description="What the gate found met.")
    owner: str | None = Field(description="The account executive the lead went to (null: queued for the team).")
    version: int
    gate: str


class Conversion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=200, description="The opportunity's name.")
    amount: Decimal = Field(description="Deal value: zero or more, at most two decimals (a number or a string).")
    currency: SafeText | None = Field(None, max_length=16, description="ISO 4217 code the playbook lists; "
                                                                       "default: the playbook's default currency.")
    expected_close: date = Field(description="Expected close date, YYYY-MM-DD: not in the past unless "
                                             "allow_past_close.")
    allow_past_close: bool = Field(False, description="Record a deal after the fact: a past close date is kept, "
                                                      "with a warning.")
    stage: SafeText | None = Field(None, max_length=80, description="An open deal stage of the playbook; default: "
                                                                    "the first.")
    owner: SafeText | None = Field(None, max_length=80, description="Who owns the deal: default the converting rep "
                                   "(a rep may name only themselves), or the lead's owner; a manager: a rep of "
                                   "their team.")
    account_domain: SafeText | None = Field(None, max_length=253, description="The company's own domain, when the "
                                            "contact's email does not say it (webmail).")


class AccountResult(BaseModel):
    id: int
    name: str | None
    domain: str | None
    created: bool = Field(description="The account was made by this conversion.")
    owner_set: bool = Field(description="The account had no owner: the deal's owner now owns it.")


class LeadAfter(BaseModel):
    id: int
    stage: str
    version: int


class Converted(BaseModel):
    opportunity: Opportunity
    warnings: list[str] = Field(description="e.g. a past close date kept on purpose.")
    account: AccountResult
    lead: LeadAfter


# --- endpoints ---------------------------------------------------------------------------

@router.get("/{ref}/qualification", response_model=Qualification, summary="Where a lead stands against the "
            "framework and the SQL gate", responses=error_responses(404))
def show_qualification(
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.READ_LEADS)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """Every criterion met, missing or failed (with who answered and when), the PQL mark, the gate's verdict."""
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return qualification_status(app, lead.id)


@router.post("/{ref}/qualification", response_model=Recorded, summary="Record qualification answers",
             responses=error_responses(404))
def qualify(
    body: Answers,
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.QUALIFY)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """A rep on a lead they own (its open handoff), a manager on their team's leads, an admin on any.

    A wrong answer (unknown criterion, wrong type, a disqualified lead) stores none of them.
    Earlier answers stay as history; the latest counts.
    """
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return record_answers(app, lead.id, list(body.answers.items()), **authz.answering_as(caller))


@router.post("/{ref}/sql", response_model=Advanced, summary="Pass a lead through the SQL gate (rep)",
             responses=error_responses(404, 409))
def advance(
    ref: str = LeadRef,
    body: Advance | None = Body(None),
    caller: Caller = Depends(allow(Action.ADVANCE_TO_SQL)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """The owning rep moves a sales-accepted lead to SQL; the account executives get it through the usual handoff.

    While the playbook's SQL gate does not hold: 422 `sql_gate_not_met`, every reason in the
    message, nothing changed.
    """
    body = body or Advance()
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    assert caller.token.rep_id is not None  # a rep token names its rep
    return advance_to_sql(app, lead.id, rep=caller.token.rep_id, expected_version=body.version)


@router.post("/{ref}/convert", response_model=Converted, status_code=201,
             summary="Convert an SQL into an opportunity", responses=error_responses(404, 409))
def convert(
    body: Conversion,
    ref: str = LeadRef,
    caller: Caller = Depends(allow(Action.CONVERT)),
    app: App = Depends(current_app),
) -> dict[str, Any]:
    """The opportunity opens on the company's account (made if new) and the lead moves to `opportunity`
    (a customer's lead opens an expansion deal and stays a customer).

    Refused, nothing changed: a disqualified lead, a lead before SQL, a lead already
    converted (an open deal), a negative amount, a currency the playbook does not list, an
    undefined or closed stage, a past close date without `allow_past_close`.
    """
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    who = authz.converting_as(caller, app.playbook, lead, body.owner)
    if who["rep"] is None and who["owner"] is None:  # a lead nobody owns (disqualified, recycled, queued)
        with app.engine.connect() as conn:
            opps._conversion_kind(conn, lead)  # why it cannot be converted anyway comes first
        raise InvalidInput(f"lead {lead.id} has no owner: say who owns the opportunity (owner)")
    return opps.convert(app, lead.id, name=body.name, amount=_amount(body.amount), currency=body.currency,
                        close_date=body.expected_close, stage=body.stage, account_domain=body.account_domain,
                        allow_past_close=body.allow_past_close, **who)


def _amount(value: Decimal) -> Decimal:
    """The amount for the service, which words every refusal; one far out of range is refused here already."""
    if abs(value) >= MAX_AMOUNT:
        raise InvalidInput(f"amount must be zero or more, got {value}" if value < 0
                           else f"amount is too large: {value}")
    return value
