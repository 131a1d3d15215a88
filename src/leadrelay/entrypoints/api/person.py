"""`/api/people` (admin): everything held about a person, and erasing it on request.

The same functions as `leadrelay person export|erase`. A person is named like a lead (id,
email, user id or anonymous id); once erased, by the identifiers they had. Admin only,
whatever the lead's owner: an export is the whole record, an erasure cannot be undone.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.schemas import SafeText
from leadrelay.privacy.erase import MAX_REASON, erase
from leadrelay.privacy.export import export_person

router = APIRouter(prefix="/api/people", tags=["people"], responses=error_responses(400, 401, 403, 404, 422, 429, 503))

PersonRef = Path(description="Lead id, email, user id or anonymous id.", max_length=320,
                 openapi_examples={"email": {"value": "jane@acme.io"}, "id": {"value": "42"}})


class Erase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: SafeText = Field(min_length=1, max_length=MAX_REASON,
                             description="Why (kept in the audit record), e.g. the request's reference.")


class Erasure(BaseModel):
    erasure: int = Field(description="The audit record's id.")
    lead_id: int
    leads: list[int] = Field(description="Every lead erased: the person's, then those merged into it.")
    erased_at: str
    erased_by: str
    reason: str
    identities: int = Field(description="Identities (email, user ids, anonymous ids) refused from now on, kept only "
                                        "as keyed one-way digests.")
    changed: dict[str, int] = Field(description="Rows changed per table.")
    already_erased: bool = Field(description="True when there was nothing left to erase: this is the erasure "
                                             "made before.")


@router.get("/{ref}", summary="Everything held about a person", response_model=dict[str, Any])
def export(
    ref: str = PersonRef,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.EXPORT_PEOPLE)),
) -> dict[str, Any]:
    """One JSON document: the lead (and those merged into it), identities, activities, score and stage history,
    handoffs, routing decisions, SLA timers, touches, meetings, deals, outbox and rejected messages naming them,
    predictions, and any erasure."""
    return export_person(app, ref)


@router.post("/{ref}/erase", response_model=Erasure, summary="Erase a person's personal data")
def erase_person(
    body: Erase,
    ref: str = PersonRef,
    app: App = Depends(current_app),
    caller: Caller = Depends(allow(Action.ERASE_PEOPLE)),
) -> dict[str, Any]:
    """Removes their personal data and keeps the facts the reports count; later messages about them are refused
    until they opt in again (an identify call with `traits.consent: true`). Erasing again is harmless."""
    return erase(app, ref, reason=body.reason, by=caller.actor)
