"""Meetings over HTTP: book one with a lead, then reschedule it, mark it held or a no-show, or cancel it.

A rep acts on their own leads' meetings (as the owner); a manager on their team's leads' and an
admin on any. A scheduler (Chili Piper, Calendly through Segment) sends tracks instead
(`Meeting Booked`, `Meeting No Show`, ...) to `/v1/track`. The same service functions as
`leadrelay meetings book|reschedule|held|no-show|cancel|list`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from leadrelay.bootstrap import App
from leadrelay.core.errors import NotFound
from leadrelay.delivery.payloads import MeetingRef as Meeting  # one shape: the API and the meeting.* notices
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller, Role
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.leads import LeadRef, _visible_lead
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.handoff import meeting_service
from leadrelay.handoff.meeting_store import find_meeting
from leadrelay.lead.search import utc

router = APIRouter(prefix="/api", tags=["meetings"], responses=error_responses(400, 401, 403, 422, 429, 503))
_MAX_ID = 2**63 - 1
MeetingId = Path(..., ge=1, le=_MAX_ID, description="The meeting's id.")


def _text(value: Any) -> Any:
    if isinstance(value, int | float):  # JSON has no dates: a number would be read as seconds since 1970
        raise ValueError("give an RFC 3339 date and time with a zone (2026-12-09T15:00:00Z), not a number")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_text)]  # RFC 3339 text with a zone: not a date alone, no number


class NewMeeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: Moment | None = Field(default=None, description="When it starts (RFC 3339 with a zone; "
                                                                      "a date alone is not a meeting time).")
    host: str | None = Field(default=None, max_length=80,
                             description="The rep who meets the lead (default: the owner).")
    external_id: SafeText | None = Field(default=None, max_length=200, description="The scheduler's id for it.")


class MeetingStepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: Moment | None = Field(None, description="When it happened (RFC 3339 with a zone; default now).")


class Reschedule(MeetingStepBody):
    starts_at: Moment = Field(description="The new time (RFC 3339 with a zone).")


def _rep(caller: Caller) -> str | None:
    """A rep acts as the lead's owner; a manager or an admin as themselves."""
    return caller.token.rep_id if caller.role is Role.REP else None


@router.get("/leads/{ref}/meetings", response_model=list[Meeting], summary="A lead's meetings",
            responses=error_responses(404))
def list_meetings(ref: str = LeadRef, caller: Caller = Depends(allow(Action.READ_LEADS)),
                  app: App = Depends(current_app)) -> list[dict[str, Any]]:
    """Oldest booking first, with each meeting's status and round-robin credit."""
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return meeting_service.meetings_of(app, lead.id)


@router.post("/leads/{ref}/meetings", response_model=Meeting, status_code=201, summary="Book a meeting",
             responses=error_responses(404))
def book(body: NewMeeting | None = Body(None), ref: str = LeadRef,
         caller: Caller = Depends(allow(Action.MANAGE_MEETINGS)), app: App = Depends(current_app)) -> dict[str, Any]:
    """Book a meeting with the lead: it counts as "meeting booked" for the SQL gate, credits its host in round
    robin (the playbook's `meetings.credit`) and meets an open no-show follow-up."""
    body = body or NewMeeting()
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    starts = utc(body.starts_at, "starts_at") if body.starts_at else None
    return meeting_service.book(app, lead.id, actor=caller.actor, rep=_rep(caller), host=body.host,
                                starts_at=starts, external_id=body.external_id, source="api")


def _meeting_lead(app: App, caller: Caller, meeting_id: int) -> None:
    """404 unless the meeting exists and the caller may see its lead."""
    with app.engine.connect() as conn:
        meeting = find_meeting(conn, meeting_id)
    if meeting is None:
        raise NotFound(f"no meeting {meeting_id}")
    try:
        _visible_lead(app, caller, str(meeting.lead_id))
    except NotFound:
        raise NotFound(f"no meeting {meeting_id}") from None


def _stepper(step: str, summary: str, help_text: str, body_model: type[MeetingStepBody]):
    def act(body: MeetingStepBody | None = Body(None), meeting: int = MeetingId,
            caller: Caller = Depends(allow(Action.MANAGE_MEETINGS)), app: App = Depends(current_app)) -> dict:
        _meeting_lead(app, caller, meeting)
        at = utc(body.at, "at") if body and body.at else None
        starts = utc(body.starts_at, "starts_at") if isinstance(body, Reschedule) else None
        return meeting_service.change(app, meeting, step, actor=caller.actor, rep=_rep(caller), starts_at=starts,
                                      at=at)

    act.__name__ = f"meeting_{step}"
    act.__doc__ = help_text
    act.__annotations__ = {**act.__annotations__, "body": body_model | None}  # this step's own body
    router.add_api_route(f"/meetings/{{meeting}}/{step.replace('_', '-')}", act, methods=["POST"],
                         response_model=Meeting, summary=summary, responses=error_responses(404))


_stepper("reschedule", "Reschedule a meeting", "Move a booked meeting to `starts_at`.", Reschedule)
_stepper("held", "Mark a meeting held", "The meeting took place: a touch by its host (it meets the first-touch "
         "clock).", MeetingStepBody)
_stepper("no_show", "Mark a meeting a no-show", "The lead did not come: the meeting no longer counts as booked "
         "for the SQL gate, and the owner owes a follow-up within the SLA policy's `follow_up_within`.",
         MeetingStepBody)
_stepper("cancel", "Cancel a meeting", "Cancel a booked meeting.", MeetingStepBody)
