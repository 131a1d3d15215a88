"""`/api/playbook`: the active version, candidates, activation, versions kept, decisions naming their version."""

from __future__ import annotations

import yaml
from fastapi.testclient import TestClient

from leadrelay.bootstrap import bootstrap
from leadrelay.entrypoints.api import runtime
from leadrelay.entrypoints.api.app import create_app
from leadrelay.playbook import service as playbooks
from leadrelay.playbook.loader import parse_playbook, starter_playbook, starter_text
from tests.api.conftest import add_lead, bearer


def stricter_text() -> str:
    """The starter with a higher bar for `lead`: fit 45 instead of 25."""
    data = yaml.safe_load(starter_text())
    data["name"] = "Stricter playbook"
    data["stages"]["lead"]["entry"] = {"any": [{"fit": {">=": 45}}, {"engagement": {">=": 15}}]}
    return yaml.safe_dump(data, sort_keys=False)


def test_until_someone_activates_one_the_file_playbook_rules(client, app, tokens):
    body = client.get("/api/playbook", headers=bearer(tokens.admin)).json()
    assert (body["version"], body["activated_by"], body["activated_at"]) == (app.playbook.version, None, None)
    assert (body["text"], body["redacted"]) == (app.playbook.text, False)


def test_reps_and_managers_read_the_rules_without_webhook_urls_or_email_addresses(client, app, tokens):
    """Issue 13 (low): a rep could read the whole playbook, webhook URLs and the managers' emails included."""
    text = starter_text() + ("notifications:\n  webhooks:\n"
                             "    - {id: crm, url: 'https://hooks.example.com/T0/B0/s3cret', secret_env: CRM_SECRET}\n")
    ok = client.post("/api/playbook/activate", json={"text": text}, headers=bearer(tokens.admin))
    assert ok.status_code == 200, ok.text
    marketing = client.get("/api/playbook", headers=bearer(tokens.marketing)).json()
    assert (marketing["text"], marketing["redacted"]) == (text, False)
    for role in ("rep", "manager"):
        body = client.get("/api/playbook", headers=bearer(getattr(tokens, role))).json()
        assert body["redacted"] is True and body["version"] == marketing["version"]
        assert "s3cret" not in body["text"]
        assert not any(line.startswith("notifications") for line in body["text"].splitlines())
        assert "@acme-analytics.example" not in body["text"] and "hidden@redacted.invalid" in body["text"]
        # What is left is still the playbook's rules, readable as one.
        assert parse_playbook(body["text"], "redacted.yaml").model.scoring == app.playbook.model.scoring


def test_a_candidate_is_validated_with_every_problem_and_its_line(client, tokens):
    good = client.post("/api/playbook/validate", json={"text": stricter_text()}, headers=bearer(tokens.marketing))
    assert good.json() == {"valid": True, "version": playbooks.check(stricter_text())[0], "issues": [],
                           "hand_back": []}  # it drops no rep who owns a lead

    broken = "name: x\nscoring:\n  fit:\n    max: lots\n"
    bad = client.post("/api/playbook/validate", json={"text": broken, "filename": "candidate.yaml"},
                      headers=bearer(tokens.marketing)).json()
    assert bad["valid"] is False and bad["version"] is None and bad["hand_back"] == []
    assert bad["issues"] and bad["issues"][0].startswith("candidate.yaml:4: scoring.fit.max:")


def test_activating_a_version_changes_later_decisions_and_keeps_every_version(client, app, tokens, people):
    old = app.playbook.version
    add_lead(app, "before@acme.io", owner=None, title="Marketing Analyst")  # fit 25: lead under the old bar

    response = client.post("/api/playbook/activate", json={"text": stricter_text(), "expected_active": old},
                           headers=bearer(tokens.admin))
    assert response.status_code == 200, response.text
    new = response.json()["version"]
    assert (response.json()["name"], response.json()["activated_by"]) == ("Stricter playbook", "token:1")

    client.post("/v1/identify", json={"messageId": "m-after", "userId": "after@acme.io", "writeKey": tokens.ingest,
                                      "traits": {"email": "after@acme.io", "title": "Marketing Analyst"}})
    admin = bearer(tokens.admin)
    before = client.get("/api/leads/before@acme.io", headers=admin).json()
    after = client.get("/api/leads/after@acme.io", headers=admin).json()
    assert (before["stage"], {h["playbook_version"] for h in before["history"]}) == ("lead", {old})
    assert (after["stage"], {h["playbook_version"] for h in after["history"]}) == ("subscriber", {new})
    versions = client.get("/api/playbook/versions", headers=admin).json()
    assert {(v["version"], v["active"]) for v in versions} == {(old, False), (new, True)}


def test_text_sent_without_a_filename_is_stored_under_who_sent_it_not_a_file_it_never_was(client, app, tokens):
    admin = bearer(tokens.admin)
    sent = client.post("/api/playbook/activate", json={"text": stricter_text()}, headers=admin)
    assert sent.status_code == 200, sent.text
    assert sent.json()["source"] == "sent over the API by token:1"
    named = client.post("/api/playbook/activate", json={"text": stricter_text().replace("Stricter", "Named"),
                                                        "filename": "kestrel.yaml"}, headers=admin)
    assert named.json()["source"] == "kestrel.yaml"


def test_activating_over_a_version_you_did_not_see_gets_409_and_changes_nothing(client, app, tokens):
    old = app.playbook.version
    client.post("/api/playbook/activate", json={"text": stricter_text()}, headers=bearer(tokens.admin))

    stale = client.post("/api/playbook/activate", json={"version": old, "expected_active": old},
                        headers=bearer(tokens.marketing))
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert client.get("/api/playbook", headers=bearer(tokens.admin)).json()["name"] == "Stricter playbook"

    rollback = client.post("/api/playbook/activate", json={"version": old}, headers=bearer(tokens.marketing))
    assert rollback.status_code == 200 and rollback.json()["version"] == old


def test_an_invalid_playbook_is_never_activated(client, app, tokens):
    response = client.post("/api/playbook/activate", json={"text": "name: [unclosed"}, headers=bearer(tokens.admin))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_playbook" and response.json()["issues"]
    assert playbooks.active_version(app.engine) is None


def test_the_active_version_in_the_database_wins_over_the_file_and_every_process_follows(app, tokens, monkeypatch):
    first = create_app(app)
    with TestClient(first) as one:
        one.post("/api/playbook/activate", json={"text": stricter_text()}, headers=bearer(tokens.admin))
    stricter = playbooks.active_version(app.engine)

    restarted = bootstrap(app.settings, playbook=starter_playbook(), clock=app.clock)  # the file says: starter
    with TestClient(create_app(restarted)) as two:
        assert two.get("/api/playbook", headers=bearer(tokens.admin)).json()["version"] == stricter
        monkeypatch.setattr(runtime, "RECHECK_SECONDS", 0.0)
        with TestClient(first) as one:
            back = one.post("/api/playbook/activate", json={"text": starter_text()}, headers=bearer(tokens.admin))
            assert back.status_code == 200, back.text
        assert two.get("/api/playbook", headers=bearer(tokens.admin)).json()["version"] == starter_playbook().version
    restarted.close()


def test_a_rep_taken_out_of_the_playbook_loses_their_token_for_good(client, app, tokens):
    """Issue 13: removing a rep only suspended their token; a rollback, or a new person given the same id,
    brought it back."""
    admin, zoe = bearer(tokens.admin), bearer(tokens.zoe)
    assert client.get("/api/me", headers=zoe).status_code == 200
    with_zoe = app.playbook.text
    without = yaml.safe_load(with_zoe)
    without["reps"] = [rep for rep in without["reps"] if rep["id"] != "zoe"]
    assert client.post("/api/playbook/activate", json={"text": yaml.safe_dump(without, sort_keys=False)},
                       headers=admin).status_code == 200
    assert client.get("/api/me", headers=zoe).status_code == 401
    assert client.post("/api/playbook/activate", json={"text": with_zoe}, headers=admin).status_code == 200  # rollback
    refused = client.get("/api/me", headers=zoe)
    assert refused.status_code == 401 and refused.json()["message"] == "unknown or revoked token"
    listed = client.get("/api/tokens?include_revoked=true", headers=admin).json()
    assert any(token["rep_id"] == "zoe" and token["revoked_at"] for token in listed)


def test_a_rep_missing_from_the_playbook_file_loses_their_token_at_its_next_use(app, tokens):
    data = yaml.safe_load(app.playbook.text)
    data["reps"] = [rep for rep in data["reps"] if rep["id"] != "zoe"]
    edited = bootstrap(app.settings, playbook=parse_playbook(yaml.safe_dump(data, sort_keys=False), "p.yaml"),
                       clock=app.clock)
    with TestClient(create_app(edited)) as other:
        assert other.get("/api/me", headers=bearer(tokens.zoe)).status_code == 401
    with TestClient(create_app(app)) as back:  # the file as it was: the token stays revoked
        assert back.get("/api/me", headers=bearer(tokens.zoe)).json()["message"] == "unknown or revoked token"
    edited.close()


def test_a_playbook_that_drops_a_rep_with_open_leads_says_the_worker_hands_them_back(client, app, tokens, people):
    """Checked and activated: the reps it no longer names who still own open leads, with how many and what
    happens to them; once the worker has swept, nobody."""
    from leadrelay.worker import sweep

    admin = bearer(tokens.admin)
    for n in range(2):
        add_lead(app, f"kept{n}@corp.example", owner=people.rep, hand_raise=True)
    add_lead(app, "other@corp.example", owner=people.teammate, hand_raise=True)
    with_rep = app.playbook.text
    data = yaml.safe_load(with_rep)
    data["reps"] = [rep for rep in data["reps"] if rep["id"] != people.rep]
    without = yaml.safe_dump(data, sort_keys=False)
    said = [{"rep": people.rep, "open_leads": 2,
             "message": f"rep {people.rep} has 2 open leads: the worker hands them back to routing at its next sweep"}]

    assert client.post("/api/playbook/validate", json={"text": with_rep}, headers=admin).json()["hand_back"] == []
    checked = client.post("/api/playbook/validate", json={"text": without}, headers=admin).json()
    assert checked["valid"] is True and checked["hand_back"] == said
    done = client.post("/api/playbook/activate", json={"text": without}, headers=admin)
    assert done.status_code == 200, done.text
    assert done.json()["hand_back"] == said and done.json()["version"] == version_of(without)
    assert "hand_back" not in client.get("/api/playbook", headers=admin).json()  # the activation's answer only

    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    activate_ref = client.get("/openapi.json").json()["paths"]["/api/playbook/activate"]["post"]["responses"]["200"]
    assert activate_ref["content"]["application/json"]["schema"]["$ref"].endswith("/ActivatedPlaybook")
    assert set(schemas["ActivePlaybook"]["properties"]) < set(schemas["ActivatedPlaybook"]["properties"])  # additive
    assert "next sweep" in schemas["ActivatedPlaybook"]["properties"]["hand_back"]["description"]
    assert set(schemas["HandBack"]["properties"]) == {"rep", "open_leads", "message"}

    sweep(app, app.clock(), deliver=False)  # the worker hands them back to routing
    again = client.post("/api/playbook/activate", json={"text": without}, headers=admin)
    assert again.status_code == 200 and again.json()["hand_back"] == []


def version_of(text: str) -> str:
    return parse_playbook(text, "x.yaml").version
