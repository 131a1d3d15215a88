"""Progressive profiling over HTTP: the fields to ask a lead for next.

- `GET /api/leads/{ref}/next-fields` (a person's token): every field with what knowing it
  could do and the rules that read it, as `leadrelay leads next-fields` prints.
- `GET /v1/next-fields?anonymousId=...` (a write key, as the Segment endpoints take it, or
  `writeKey=` in the query so a web form on another site can call it without a preflight):
  the names of the fields only, never any personal data, looked up by the browser's own
  anonymous id only (an email or user id could be tried by anyone holding the public key);
  a visitor not seen yet gets those of a new lead. Any origin may read the answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from leadrelay.bootstrap import App
from leadrelay.entrypoints.api.auth import allow, authenticate_write_key, basic_auth_username, current_app
from leadrelay.entrypoints.api.authz import Action, Caller
from leadrelay.entrypoints.api.errors import error_responses
from leadrelay.entrypoints.api.leads import _visible_lead
from leadrelay.sales.queries import next_field_names, next_fields_of

router = APIRouter(tags=["profiling"])


class FieldAsk(BaseModel):
    field: str = Field(description="The form field to ask for (a trait name, `title`, `country`, `email`, or a "
                                   "criterion of the qualification framework).")
    could: str | None = Field(description="What knowing it could do: `disqualify`, `reach STAGE` (its fit points "
                                          "alone could), `pass the SQL gate`; null: it changes the fit score only.")
    points: float = Field(description="Fit points at stake: the sizes of the points of the rules that read it.")
    why: list[str] = Field(description="The rules that read it.")


class NextFields(BaseModel):
    id: int
    stage: str | None
    fields: list[FieldAsk] = Field(description="Most telling first.")


class FieldNames(BaseModel):
    fields: list[str] = Field(description="Field names, most telling first.")


@router.get("/api/leads/{ref}/next-fields", response_model=NextFields, summary="The fields to ask a lead for next",
            responses=error_responses(401, 403, 404, 422, 429, 503))
def lead_next_fields(ref: str, app: App = Depends(current_app),
                     caller: Caller = Depends(allow(Action.READ_LEADS))) -> dict[str, Any]:
    lead = _visible_lead(app, caller, ref)
    assert lead.id is not None  # read from its row
    return next_fields_of(app, lead.id)


@router.get("/v1/next-fields", response_model=FieldNames, summary="For a web form: the fields to ask a visitor for",
            responses=error_responses(400, 401, 403, 422, 429, 503))
def visitor_next_fields(
    request: Request, response: Response,
    anonymous_id: str | None = Query(None, alias="anonymousId", max_length=200,
                                     description="The visitor's anonymous id (analytics.js: analytics.user()."
                                                 "anonymousId()). Never an email or user id: anyone holding the "
                                                 "public write key could try those."),
    write_key: str | None = Query(None, alias="writeKey", max_length=200,
                                  description="The write key. From a browser pass it here (a simple GET, no "
                                              "preflight); a server may send it as the Basic auth user name."),
    app: App = Depends(current_app),
) -> FieldNames:
    authenticate_write_key(app, basic_auth_username(request.headers.get("authorization")) or write_key)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return FieldNames(fields=next_field_names(app, anonymous_id=anonymous_id))
