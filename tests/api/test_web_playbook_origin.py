"""`/ops/playbook` names where a version came from honestly: text pasted in the page is "pasted in the web app by
WHO" (with the name typed for it, if any), never a playbook.yaml that does not exist; and activating there revokes
the tokens of people the new version leaves out, as the API does."""

import re

import pytest
import yaml
from fastapi.testclient import TestClient

from leadrelay.entrypoints.server import create_app
from leadrelay.entrypoints.web import ops
from leadrelay.playbook import service as playbooks
from leadrelay.playbook.loader import parse_playbook, starter_playbook
from tests.api.conftest import bearer
from tests.api.test_web_pages import csrf_of, sign_in


@pytest.fixture
def web(app):
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield client


def edited(app, **changes) -> str:
    data = yaml.safe_load(app.playbook.text)
    data.update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def activate_in_page(web, text: str, filename: str | None = None):
    page = web.get("/ops/playbook")
    form = {"csrf": csrf_of(page), "text": text, "expected_active": re.search(
        r'name="expected_active" value="(\w+)"', web.post("/ops/playbook/check", data={
            "csrf": csrf_of(page), "text": text}).text).group(1)}
    if filename is not None:
        form["filename"] = filename
    done = web.post("/ops/playbook/activate", data=form)
    assert done.status_code == 303, done.text
    return done


def from_row(page_text: str) -> str:
    return re.search(r"<dt>From</dt><dd>([^<]*)</dd>", page_text).group(1)


def test_a_pasted_playbook_is_named_as_pasted_not_as_a_file(app, web, client, tokens):
    sign_in(web, tokens.marketing)
    page = web.get("/ops/playbook")
    assert 'placeholder="playbook.yaml"' in page.text and 'name="filename" value=""' in page.text
    text = edited(app, name="Pasted")
    activate_in_page(web, text)
    version, actor = playbooks.active_version(app.engine), playbooks.activation(app.engine)["activated_by"]
    assert version == parse_playbook(text, "x").version and actor.startswith("token:")
    said = f"pasted in the web app by {actor}"
    assert playbooks.stored_source(app.engine, version) == said
    page = web.get("/ops/playbook")
    assert from_row(page.text) == said and f"<td>{said}</td>" in page.text
    assert client.get("/api/playbook", headers=bearer(tokens.marketing)).json()["source"] == said

    activate_in_page(web, edited(app, name="Named"), filename="kestrel_v3.yaml")  # a name typed is kept with it
    assert from_row(web.get("/ops/playbook").text) == f"kestrel_v3.yaml, pasted in the web app by {actor}"


def test_check_messages_still_name_the_default_file_when_no_name_is_typed(app, web, tokens):
    sign_in(web, tokens.marketing)
    page = web.get("/ops/playbook")
    checked = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": "nmae: x\n"})
    assert checked.status_code == 422 and "playbook.yaml:1: unknown key &#39;nmae&#39;" in checked.text
    assert playbooks.activation(app.engine) is None


def test_a_rep_left_out_by_a_version_activated_in_the_page_loses_their_token_for_good(app, web, client, tokens):
    """Before, only the API revoked them: a rollback in the page before the token was used again brought it back."""
    sign_in(web, tokens.admin)
    with_zoe = app.playbook.text
    without = yaml.safe_load(with_zoe)
    without["reps"] = [rep for rep in without["reps"] if rep["id"] != "zoe"]
    activate_in_page(web, yaml.safe_dump(without, sort_keys=False))
    activate_in_page(web, with_zoe)  # the rollback, before Zoe's token is used again
    refused = client.get("/api/me", headers=bearer(tokens.zoe))
    assert refused.status_code == 401 and refused.json()["message"] == "unknown or revoked token"


def test_the_built_in_starter_is_called_so():
    assert ops._origin(starter_playbook(), []) == "the built-in starter playbook (starter.yaml)"
    assert ops._origin(starter_playbook(), [{"version": starter_playbook().version, "source": "starter.yaml"}]) \
        == "the built-in starter playbook (starter.yaml)"
    named = parse_playbook(starter_playbook().text, "mine.yaml")
    assert ops._origin(named, []) == "mine.yaml"
    assert ops._origin(named, [{"version": named.version, "source": "pasted in the web app by token:1"}]) \
        == "pasted in the web app by token:1"


def test_a_diff_tells_a_yaml_document_marker_from_the_names_of_the_texts():
    lines = playbooks.diff_lines("---\nname: a\n", "name: a\n", "old", "new")
    assert ("del", "----") in lines and [kind for kind, _ in lines[:2]] == ["hunk", "hunk"]
