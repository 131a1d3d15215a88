"""`GET /api/reports/{name}`: the cohort reports over HTTP, scoped by role, with the CLI's parameter checks."""

from tests.api.conftest import add_lead, bearer


def test_a_rep_counts_their_own_leads_and_an_admin_every_lead(app, client, tokens, people):
    add_lead(app, "one@corp1.io", owner=people.rep, hand_raise=True)
    add_lead(app, "two@corp2.io", owner=people.teammate, hand_raise=True)
    add_lead(app, "three@corp3.io", owner=people.stranger, hand_raise=True)
    query = "/api/reports/funnel?stage=subscriber&mode=any_order"
    entered = {}
    for role in ("admin", "manager", "rep"):
        answer = client.get(query, headers=bearer(tokens.of(role)))
        assert answer.status_code == 200, answer.text
        entered[role] = sum(row["entered"] for row in answer.json()["rows"])
    assert entered == {"admin": 3, "manager": 2, "rep": 1}  # the manager's team is the rep's and the teammate's
    rows = client.get(query + "&by=rep", headers=bearer(tokens.admin)).json()["rows"]
    assert sorted((row["group"], row["entered"]) for row in rows) == sorted(
        (rep, 1) for rep in (people.rep, people.teammate, people.stranger))


def test_a_report_asked_for_wrongly_is_a_422_naming_every_problem(client, tokens):
    answer = client.get("/api/reports/funnel?by=colour&period=decade&from=2026-11-01&to=2026-10-01",
                        headers=bearer(tokens.admin))
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_input"
    message = answer.json()["message"]
    for part in ("by: no dimension 'colour'", "period: no period 'decade'", "from: 2026-11-01 is after to: 2026-10-01"):
        assert part in message
    assert client.get("/api/reports/pipeline", headers=bearer(tokens.admin)).status_code == 422


def test_a_report_to_the_last_day_there_is_has_no_end(client, tokens):
    answer = client.get("/api/reports/conversion?from_stage=lead&to_stage=mql&to=9999-12-31",
                        headers=bearer(tokens.admin))
    assert (answer.status_code, answer.json()["rows"]) == (200, [])
