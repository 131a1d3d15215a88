"""The ops pages over HTTP: the playbook (versions, a diff between two, checking an edited one with FILE:LINE
errors, activating it), the outbox's dead and failing deliveries with retry, and rejected messages. Who may open
each, and that a bad form changes nothing."""

import re

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from leadrelay.activity.service import ingest
from leadrelay.entrypoints.server import create_app
from leadrelay.playbook import service as playbooks
from leadrelay.storage.outbox_tables import endpoints, outbox
from tests.api.conftest import bearer
from tests.api.test_handoff_api import outbox_row
from tests.api.test_web_pages import csrf_of, sign_in


@pytest.fixture
def web(app):
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield client


def edited(app, **changes) -> str:
    data = yaml.safe_load(app.playbook.text)
    data.update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def test_marketing_checks_an_edited_playbook_sees_its_errors_by_line_and_nothing_changes(app, web, tokens):
    sign_in(web, tokens.marketing)
    page = web.get("/ops/playbook")
    assert page.status_code == 200 and app.playbook.version in page.text
    assert "nobody activated one: the playbook file rules" in page.text
    broken = app.playbook.text.replace("name:", "nmae:", 1)
    line = broken.splitlines().index(next(x for x in broken.splitlines() if x.startswith("nmae:"))) + 1
    checked = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": broken, "filename": "edit.yaml"})
    assert checked.status_code == 422 and 'role="alert"' in checked.text
    assert re.search(rf"edit\.yaml:{line}: [^<]*nmae", checked.text), checked.text
    assert ">Activate version" not in checked.text and "nmae:" in checked.text  # the edit is kept in the form
    assert playbooks.activation(app.engine) is None


def test_a_valid_edit_shows_its_diff_and_is_activated_unless_another_was_meanwhile(app, web, client, tokens):
    sign_in(web, tokens.marketing)
    before = app.playbook.version
    page = web.get("/ops/playbook")
    text = edited(app, name="Stricter MQL bar")
    checked = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text, "filename": "edit.yaml"})
    assert checked.status_code == 200 and "Valid: it would be version" in checked.text
    assert '<span class="add">+name: Stricter MQL bar</span>' in checked.text
    version = re.search(r"Valid: it would be version <code>(\w+)</code>", checked.text).group(1)
    done = web.post("/ops/playbook/activate", data={"csrf": csrf_of(checked), "text": text, "filename": "edit.yaml",
                                                    "expected_active": before})
    assert done.status_code == 303 and f"version%20{version}%20is%20active" in done.headers["location"]
    assert client.get("/api/playbook", headers=bearer(tokens.marketing)).json()["version"] == version
    assert playbooks.activation(app.engine)["activated_by"].startswith("token:")

    # The page read before that activation is stale now: nothing changes, and it says why.
    again = web.post("/ops/playbook/activate", data={"csrf": csrf_of(checked), "text": edited(app, name="Other"),
                                                     "expected_active": before})
    assert again.status_code == 409 and f"version {version} is active, not {before}" in again.text
    assert playbooks.activation(app.engine)["version"] == version

    compared = web.get(f"/ops/playbook?diff={before}&against={version}")
    assert compared.status_code == 200 and '<span class="add">+name: Stricter MQL bar</span>' in compared.text
    assert web.get("/ops/playbook?diff=nosuchversion").status_code == 404


def test_the_page_says_which_dropped_reps_still_own_open_leads_before_and_after_activating(app, web, tokens,
                                                                                           people):
    from tests.api.conftest import add_lead

    for n in range(2):
        add_lead(app, f"kept{n}@corp.example", owner=people.rep, hand_raise=True)
    said = f"rep {people.rep} has 2 open leads: the worker hands them back to routing at its next sweep"
    sign_in(web, tokens.marketing)
    page = web.get("/ops/playbook")
    assert 'id="hand-back"' not in page.text  # the active playbook names every rep who owns a lead
    data = yaml.safe_load(app.playbook.text)
    data["reps"] = [rep for rep in data["reps"] if rep["id"] != people.rep]
    text = yaml.safe_dump(data, sort_keys=False)
    checked = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text})
    assert checked.status_code == 200 and 'id="candidate-hand-back"' in checked.text and said in checked.text
    done = web.post("/ops/playbook/activate", data={"csrf": csrf_of(checked), "text": text,
                                                    "expected_active": app.playbook.version})
    assert done.status_code == 303
    after = web.get(done.headers["location"])
    assert 'id="hand-back"' in after.text and said in after.text  # until the worker's next sweep


@pytest.mark.parametrize("path", ["/ops/playbook/check", "/ops/playbook/activate"])
def test_a_playbook_form_without_its_token_changes_nothing(app, web, tokens, path):
    sign_in(web, tokens.marketing)
    refused = web.post(path, data={"text": edited(app, name="Sneaky"), "expected_active": app.playbook.version})
    assert refused.status_code == 403 and "nothing was changed" in refused.text
    assert playbooks.activation(app.engine) is None


def test_an_empty_playbook_is_told_so(web, tokens):
    sign_in(web, tokens.admin)
    page = web.get("/ops/playbook")
    checked = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": "  \n"})
    assert checked.status_code == 422 and "the playbook is empty" in checked.text


def test_who_opens_which_ops_page(web, tokens):
    expected = {"admin": (200, 200, 200), "marketing": (200, 404, 200), "manager": (404, 404, 404),
                "rep": (404, 404, 404)}
    for role, statuses in expected.items():
        web.cookies.clear()
        sign_in(web, tokens.of(role))
        assert tuple(web.get(path).status_code for path in ("/ops/playbook", "/ops/outbox", "/ops/rejections")) \
            == statuses, role


def test_an_admin_retries_dead_and_failing_deliveries_and_enables_an_endpoint(app, web, tokens, clock):
    rows = [outbox_row("msg_dead", "dead", attempts=9, last_error="HTTP 500"),
            outbox_row("msg_failing", "pending", minute=1, attempts=2, last_error="timed out"),
            outbox_row("msg_waiting", "pending", minute=2),
            outbox_row("msg_held", "disabled", target="old", minute=3, attempts=1, last_error="HTTP 410: gone")]
    with app.engine.begin() as conn:
        dead, failing, waiting, held = [conn.execute(insert(outbox).values(**row)).inserted_primary_key[0]
                                        for row in rows]
        conn.execute(insert(endpoints).values(id="old", kind="webhook", disabled_reason="HTTP 410: gone",
                                              disabled_at=clock()))
    sign_in(web, tokens.admin)
    page = web.get("/ops/outbox")
    assert f'value="{dead}"' in page.text and "HTTP 500" in page.text and f'value="{failing}"' not in page.text
    listed = web.get("/ops/outbox?view=failing")
    assert f'value="{failing}"' in listed.text and f'value="{waiting}"' not in listed.text  # no error yet: not failing
    assert "Enable old and requeue its messages" in page.text

    refused = web.post("/ops/outbox/retry", data={"id": str(dead)})
    assert refused.status_code == 403
    nothing = web.post("/ops/outbox/retry", data={"csrf": csrf_of(page)})
    assert nothing.status_code == 422 and "tick at least one message" in nothing.text
    bad = web.post("/ops/outbox/retry", data={"csrf": csrf_of(page), "id": "1; drop table outbox"})
    assert bad.status_code == 422 and "is not an outbox message id" in bad.text
    done = web.post("/ops/outbox/retry", data={"csrf": csrf_of(page), "id": [str(dead), str(waiting)],
                                               "view": "dead"})
    assert done.status_code == 303 and "1%20requeued%2C%201%20already%20pending" in done.headers["location"]
    enabled = web.post("/ops/outbox/retry", data={"csrf": csrf_of(page), "enable_endpoint": "old"})
    assert enabled.status_code == 303 and "endpoint%20old%20enabled" in enabled.headers["location"]
    with app.engine.connect() as conn:
        statuses = dict(conn.execute(select(outbox.c.id, outbox.c.status)).all())
    assert statuses == {dead: "pending", failing: "pending", waiting: "pending", held: "pending"}


def test_rejected_messages_are_listed_with_why_and_the_message_escaped(web, client, tokens):
    batch = {"batch": [{"type": "track", "userId": "u1", "event": "Signed Up", "messageId": "good-1"},
                       {"type": "track", "userId": "u2", "messageId": "<script>alert(1)</script>"}]}
    response = client.post("/v1/batch", json=batch, auth=(tokens.ingest, ""))
    assert response.status_code == 200, response.text
    sign_in(web, tokens.marketing)
    page = web.get("/ops/rejections")
    assert page.status_code == 200 and "track: missing event" in page.text and "batch[1]" in page.text
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "Signed Up" not in page.text  # the good message was kept, not rejected
    assert "track: missing event" in web.get("/ops/rejections?source=web").text
    assert "No rejected messages from nowhere" in web.get("/ops/rejections?source=nowhere").text
    paged = web.get("/ops/rejections?before=abc")
    assert paged.status_code == 422 and "&#39;abc&#39; is not a rejection&#39;s id (before=)" in paged.text


def test_marketing_backtests_an_edited_playbook_on_the_page_before_activating_it(app, web, tokens):
    from tests.api.test_backtest import candidate_text, reader

    for user, what in (("hot", ("pricing", "compare", "guide")), ("warm", ("pricing", "compare"))):
        ingest(app, reader(user, *what))
    sign_in(web, tokens.marketing)
    page = web.get("/ops/playbook")
    assert ">Check and backtest</button>" in page.text
    text = candidate_text(engagement=15)
    tried = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text, "filename": "lower.yaml",
                                                  "backtest": "1"})
    assert tried.status_code == 200 and "Backtest: the stored history through both playbooks" in tried.text
    assert "<tr><th scope=\"row\">MQLs</th><td>1</td><td>2</td></tr>" in tried.text
    assert "1 lead would end in another stage" in tried.text and "warm@corp.example" in tried.text
    assert ">Activate version" in tried.text and playbooks.activation(app.engine) is None  # nothing changed yet
    plain = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text, "filename": "lower.yaml"})
    assert "Backtest: the stored history" not in plain.text
    bad_day = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text, "filename": "lower.yaml",
                                                    "backtest": "1", "since": "last week"})
    assert bad_day.status_code == 422 and "since: not a date (YYYY-MM-DD)" in bad_day.text and "Backtest: the" not in \
        bad_day.text
    later = web.post("/ops/playbook/check", data={"csrf": csrf_of(page), "text": text, "filename": "lower.yaml",
                                                  "backtest": "1", "since": "2030-01-01"})
    assert "<tr><th scope=\"row\">MQLs</th><td>0</td><td>0</td></tr>" in later.text
