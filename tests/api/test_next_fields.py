"""Progressive profiling over HTTP and the CLI: a person's view with reasons, a web form's view with field names
only (write key; no personal data; any origin), and who may see what."""

from sqlalchemy import update

from leadrelay.activity.service import ingest
from leadrelay.storage import tables as t
from tests.api.conftest import add_lead, bearer
from tests.e2e.cli import Cli
from tests.messages import group, identify, numbered


def test_a_person_sees_each_field_with_why_and_a_rep_only_for_their_own_leads(client, app, tokens, people):
    lead = add_lead(app, "ask@corp.example", owner=people.rep, hand_raise=True)
    found = client.get(f"/api/leads/{lead}/next-fields", headers=bearer(tokens.rep))
    assert found.status_code == 200, found.text
    body = found.json()
    assert (body["id"], body["stage"]) == (lead, "sal")
    fields = {ask["field"]: ask for ask in body["fields"]}
    assert fields["employees"]["could"] == "disqualify"  # the starter playbook's company size
    assert any(why.startswith("fit rule") for why in fields["employees"]["why"])
    assert [ask["could"] for ask in body["fields"]][-4:] == ["pass the SQL gate"] * 4  # BANT, none answered yet
    assert "title" not in fields  # known: VP Sales
    other = client.get(f"/api/leads/{lead}/next-fields", headers=bearer(tokens.teammate))
    assert other.status_code == 404


def test_a_field_the_leads_account_already_answers_is_not_asked(client, app, tokens):
    """Regression: the lead was read without its account, so `employees` and `industry` were asked of a person
    whose company's group call had given both (and whose fit already counted them)."""
    ingest(app, numbered([identify(user="u-priya", email="priya@bolt.example", title="VP Sales"),
                          group("g-bolt", user="u-priya", name="Bolt", employees=1200, industry="Retail")]))
    found = client.get("/api/leads/priya@bolt.example/next-fields", headers=bearer(tokens.admin))
    assert found.status_code == 200, found.text
    fields = [ask["field"] for ask in found.json()["fields"]]
    assert "employees" not in fields and "industry" not in fields, fields


def test_a_web_form_gets_field_names_only_with_a_write_key(client, app, tokens):
    ingest(app, numbered([identify(anon="visitor-1", email="form@corp.example", title="CTO", employees=300)]))
    response = client.get("/v1/next-fields", params={"anonymousId": "visitor-1", "writeKey": tokens.ingest})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    names = response.json()["fields"]
    assert set(response.json()) == {"fields"} and all(isinstance(name, str) for name in names)
    assert "employees" not in names and "title" not in names and "country" in names  # known fields are not asked
    basic = client.get("/v1/next-fields", params={"anonymousId": "visitor-1"}, auth=(tokens.ingest, ""))
    assert basic.json() == response.json()  # the key as Basic auth, from a server
    new = client.get("/v1/next-fields", params={"anonymousId": "never-seen", "writeKey": tokens.ingest}).json()
    assert new["fields"] == ["title", "employees", "email", "country", "industry"]  # what the playbook reads most
    assert names == ["country", "industry"]  # not the SQL gate's sales questions: a form does not ask those


def test_a_web_form_cannot_look_a_lead_up_by_its_id(client, app, tokens):
    lead = add_lead(app, "byid@corp.example", owner=None, employees=500)
    new = client.get("/v1/next-fields", params={"anonymousId": "never-seen", "writeKey": tokens.ingest}).json()
    by_id = client.get("/v1/next-fields", params={"anonymousId": str(lead), "writeKey": tokens.ingest}).json()
    assert by_id == new  # "123" is an anonymous id no one has, not lead 123


def test_the_web_form_endpoint_needs_a_write_key(client, tokens):
    assert client.get("/v1/next-fields").status_code == 401
    assert client.get("/v1/next-fields", params={"writeKey": "lrw_wrong"}).status_code == 401
    assert client.get("/v1/next-fields", params={"writeKey": tokens.rep}).status_code == 403  # not a write key


def test_the_cli_lists_the_fields_to_ask_next(app, tokens, people, database_url, tmp_path):
    lead = add_lead(app, "cli-ask@corp.example", owner=people.rep, hand_raise=True)
    with app.engine.begin() as conn:
        conn.execute(update(t.leads).where(t.leads.c.id == lead).values(traits={"email": "cli-ask@corp.example"}))
    cli = Cli(tmp_path, database_url)
    shown = cli("leads", "next-fields", str(lead))
    assert shown.code == 0 and "ask next" in shown.out and "employees" in shown.out, shown.err
    as_json = cli("leads", "next-fields", "cli-ask@corp.example", "--json").json()
    assert as_json["id"] == lead and as_json["fields"][0]["could"] == "disqualify"
    missing = cli("leads", "next-fields", "nobody@corp.example")
    assert missing.code != 0 and "no lead" in missing.err


def test_a_web_form_cannot_learn_whether_an_email_is_a_lead(client, app, tokens):
    """Regression: by email, the public endpoint told anyone holding the write key who was a known lead."""
    ingest(app, numbered([identify(user="u-known", email="known@corp.example", title="CTO", employees=300)]))
    known = client.get("/v1/next-fields", params={"email": "known@corp.example", "userId": "u-known",
                                                  "writeKey": tokens.ingest}).json()
    stranger = client.get("/v1/next-fields", params={"email": "nobody@corp.example", "writeKey": tokens.ingest}).json()
    assert known == stranger  # the same answer: email and user id are not looked up
