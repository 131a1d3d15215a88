"""Fuzzing the API from its own OpenAPI document (schemathesis), a bounded run of a few hundred cases.

Every operation gets generated requests, valid and invalid, with a credential its route
takes (a write key for /v1; for /api an admin token, or for what only the owning rep may do
— accept, log a touch, advance to SQL — a rep's token, the table in test_roles.py says which).
No answer may be a 500, and every answer must match the document: a declared status, the
declared content type, headers and body.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import People, add_deal, add_lead, add_sql, bearer
from tests.api.test_ingest_segment import basic
from tests.api.test_roles import EXPECTED, FORBIDDEN

CASES_PER_OPERATION = 10  # x 53 operations: over five hundred requests, within make test's five minutes
KEEP = {str(i) for i in range(1, 9)}  # ids of the tokens `shared` made, the fuzzer's credentials among them
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzzed(shared):
    # Something to find: a lead, an SQL and an open deal.
    add_lead(shared.app, "sam@acme.io", owner=None, hand_raise=True)
    rep = People.of(shared.app.playbook).rep
    add_lead(shared.app, "rita@acme.io", owner=rep, hand_raise=True)  # the fuzzing rep's own: accept, touch
    add_sql(shared.app, "quinn@acme.io")
    add_deal(shared.app, "olga@acme.io", owner="erin")
    return schemathesis.openapi.from_asgi("/openapi.json", shared.api)


schema = schemathesis.pytest.from_fixture("fuzzed")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_answer_matches_the_schema(case, shared):
    if case.path == "/api/tokens/{token_id}/revoke" and str(case.path_parameters.get("token_id")) in KEEP:
        case.path_parameters["token_id"] = 10**12  # the fuzzer must not revoke its own credentials
    case.call_and_validate(headers=credential(case, shared.tokens), checks=CHECKS)


def credential(case, tokens) -> dict[str, str]:
    """A credential the route takes: the first of admin, rep, manager, marketing allowed on it."""
    if case.path.startswith("/v1/"):
        return basic(tokens.ingest)
    roles = EXPECTED.get((case.method.upper(), case.path), {})  # every route is in it; a method it has not: admin
    role = next(r for r in ("admin", "rep", "manager", "marketing") if roles.get(r) != FORBIDDEN)
    return bearer(tokens.of(role))
