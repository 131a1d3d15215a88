"""Secrets: rotating a webhook's signing secret, and no token or secret ever leaving where it belongs.

Signatures are checked with the official `standardwebhooks` library (a receiver's code, not
LeadRelay's). The leak test runs real operations — tokens made with the CLI and the API, bad
and revoked tokens, a 403 and 422s, Segment calls, a worker sending to failing receivers —
captures every log record (DEBUG, every logger), stdout and stderr, every answer and every
row of every table, and looks for each secret in all of it. A secret is allowed in exactly
one place: the answer that created it.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import timedelta

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from leadrelay.access.sessions import create_login_link
from leadrelay.access.tokens import create_token
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import InvalidPlaybook
from leadrelay.delivery.dispatcher import BACKOFF, deliver_due
from leadrelay.delivery.webhook import generate_secret
from leadrelay.entrypoints.server import create_app
from leadrelay.logs import JsonFormatter
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.playbook.notifications import Notifications
from leadrelay.settings import Settings
from leadrelay.storage.database import connect
from tests.conftest import Clock
from tests.e2e.cli import Cli
from tests.integration.test_delivery import (  # noqa: F401 - `engine` and `receiver` are fixtures
    SETTINGS,
    T0,
    breach,
    closed_port,
    engine,
    put,
    receiver,
    rows,
)
from tests.messages import identify, track

NEW, OLD = generate_secret(), generate_secret()


def rotating(receiver, path: str = "/crm") -> Notifications:
    return Notifications.model_validate({"webhooks": [
        {"id": "crm", "url": receiver.url(path), "secret_env": "HOOK_SECRET_NEW",
         "previous_secret_env": "HOOK_SECRET_OLD"}]})


def verified_by(secret: str, request) -> dict:
    """What a receiver holding `secret` does with the official library: the JSON, or WebhookVerificationError."""
    return Webhook(secret).verify(request.body, request.headers)


# --------------------------------------------------------------------------- the playbook


PLAYBOOK = """\
name: t
notifications:
  webhooks:
    - id: crm
      url: https://crm.example.com/hooks/leadrelay
      secret_env: LEADRELAY_WEBHOOK_SECRET_CRM_2027
      previous_secret_env: LEADRELAY_WEBHOOK_SECRET_CRM
"""


def test_a_webhook_names_the_new_secret_and_while_rotating_the_previous_one():
    [hook] = parse_playbook(PLAYBOOK, "pb.yaml").model.notifications.webhooks
    assert hook.secret_envs == ("LEADRELAY_WEBHOOK_SECRET_CRM_2027", "LEADRELAY_WEBHOOK_SECRET_CRM")
    assert hook.secrets({"LEADRELAY_WEBHOOK_SECRET_CRM_2027": NEW}) == [
        ("LEADRELAY_WEBHOOK_SECRET_CRM_2027", NEW), ("LEADRELAY_WEBHOOK_SECRET_CRM", None)]
    [done] = parse_playbook(PLAYBOOK.replace("      previous_secret_env: LEADRELAY_WEBHOOK_SECRET_CRM\n", ""),
                            "pb.yaml").model.notifications.webhooks
    assert done.secret_envs == ("LEADRELAY_WEBHOOK_SECRET_CRM_2027",)


PASTED = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a real-looking secret that fits the variable-name pattern


@pytest.mark.parametrize(("change", "told"), [
    ("previous_secret_env: LEADRELAY_WEBHOOK_SECRET_CRM_2027", "pb.yaml:7: notifications.webhooks[0]."
     "previous_secret_env: LEADRELAY_WEBHOOK_SECRET_CRM_2027 is also the secret_env: a rotation puts the new "
     "secret in a variable of its own"),
    ("previous_secret_env: " + PASTED, "pb.yaml:7: notifications.webhooks[0].previous_secret_env: this looks like a "
     "webhook secret (whsec_...), not the name of an environment variable"),
    ("previous_secret_env: [A, B]", "pb.yaml:7: notifications.webhooks[0].previous_secret_env: Input should be a "
     "valid string"),
    ("previous_secret_env: 2027-SECRET", "pb.yaml:7: notifications.webhooks[0].previous_secret_env: String should "
     "match pattern"),
], ids=["same variable", "a pasted secret", "a list", "not a variable name"])
def test_a_bad_previous_secret_is_refused_with_its_line(change, told):
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(PLAYBOOK.replace("previous_secret_env: LEADRELAY_WEBHOOK_SECRET_CRM", change), "pb.yaml")
    [issue] = info.value.issues
    assert issue.startswith(told), issue


def test_a_secret_pasted_as_the_variable_name_is_refused_and_not_repeated():
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(PLAYBOOK.replace("secret_env: LEADRELAY_WEBHOOK_SECRET_CRM_2027", "secret_env: " + PASTED),
                       "pb.yaml")
    assert info.value.issues == ["pb.yaml:6: notifications.webhooks[0].secret_env: this looks like a webhook secret "
                                 "(whsec_...), not the name of an environment variable: put the secret in the "
                                 "environment and name the variable here"]


# --------------------------------------------------------------------------- signatures, by the official library


def test_one_secret_gives_one_signature_the_official_library_verifies(engine, receiver):
    notifications = Notifications.model_validate(
        {"webhooks": [{"id": "crm", "url": receiver.url("/crm"), "secret_env": "HOOK_SECRET_NEW"}]})
    put(engine, [breach()], notifications)
    assert deliver_due(engine, SETTINGS, notifications, T0, environ={"HOOK_SECRET_NEW": NEW}).sent == 1
    [request] = receiver.got("/crm")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert verified_by(NEW, request) == rows(engine)[0].payload
    with pytest.raises(WebhookVerificationError):
        verified_by(OLD, request)


def test_during_a_rotation_receivers_with_the_old_or_the_new_secret_both_verify_the_same_delivery(engine, receiver):
    notifications = rotating(receiver)
    put(engine, [breach(1), breach(2)], notifications)
    report = deliver_due(engine, SETTINGS, notifications, T0,
                         environ={"HOOK_SECRET_NEW": NEW, "HOOK_SECRET_OLD": OLD})
    assert report.sent == 2
    for request in receiver.got("/crm"):
        assert [s.split(",")[0] for s in request.headers["webhook-signature"].split(" ")] == ["v1", "v1"]
        assert verified_by(OLD, request) == verified_by(NEW, request) == json.loads(request.body)
        with pytest.raises(WebhookVerificationError):
            verified_by(generate_secret(), request)


def test_a_retry_is_signed_by_the_secrets_of_its_attempt_not_of_its_first_try(engine, receiver):
    receiver.respond("/crm", 500, 200)
    before = Notifications.model_validate(
        {"webhooks": [{"id": "crm", "url": receiver.url("/crm"), "secret_env": "HOOK_SECRET_OLD"}]})
    environ = {"HOOK_SECRET_NEW": NEW, "HOOK_SECRET_OLD": OLD}
    put(engine, [breach()], before)
    deliver_due(engine, SETTINGS, before, T0, environ=environ)
    deliver_due(engine, SETTINGS, rotating(receiver), T0 + BACKOFF[1], environ=environ)  # rotation began meanwhile
    first, retried = receiver.got("/crm")
    verified_by(OLD, first)
    with pytest.raises(WebhookVerificationError):
        verified_by(NEW, first)
    assert verified_by(NEW, retried) == verified_by(OLD, retried)
    assert rows(engine)[0].status == "sent"


def test_a_rotation_half_done_fails_naming_the_variable_and_keeps_the_message(engine, receiver):
    notifications = rotating(receiver)
    put(engine, [breach()], notifications)
    deliver_due(engine, SETTINGS, notifications, T0, environ={"HOOK_SECRET_NEW": NEW})  # the old one already unset
    [row] = rows(engine)
    assert receiver.got("/crm") == []
    assert (row.status, row.last_error) == (
        "pending", "environment variable HOOK_SECRET_OLD (previous secret of webhook 'crm') is not set")
    garbled = {"HOOK_SECRET_NEW": NEW, "HOOK_SECRET_OLD": "whsec_" + OLD}  # the prefix twice
    deliver_due(engine, SETTINGS, notifications, T0 + BACKOFF[1], environ=garbled)
    assert rows(engine)[0].last_error == "HOOK_SECRET_OLD: the webhook secret is not whsec_ followed by base64"


# --------------------------------------------------------------------------- nothing leaks


class Leaks:
    """Everything said while the test runs, and every secret that must not be in it."""

    def __init__(self):
        self.secrets: dict[str, str] = {}  # what -> value
        self.said: list[tuple[str, str]] = []  # where -> text

    def secret(self, what: str, value: str) -> str:
        assert value and value not in self.secrets.values()
        self.secrets[what] = value
        return value

    def hear(self, where: str, *texts: object) -> None:
        self.said += [(where, text if isinstance(text, str) else repr(text)) for text in texts]

    def found(self) -> list[str]:
        """'<secret> in <where>' for every secret found anywhere, whole or in part: any 12 characters in a row of
        its random part (after lrk_, lrw_, whsec_) count."""
        out = []
        for what, value in self.secrets.items():
            random_part = value.split("_", 1)[-1]
            pieces = {random_part[i:i + 12] for i in range(len(random_part) - 11)}
            out += [f"{what} in {where}" for where, text in self.said if any(p in text for p in pieces)]
        return out


def created(run, leaks: Leaks, what: str) -> str:
    """The secret a `tokens create --json` printed: its one allowed appearance."""
    assert run.code == 0, run.err
    return leaks.secret(what, run.json()["secret"])


@pytest.fixture
def leaks(caplog):
    """Leaks, with every log record kept from DEBUG up. LeadRelay's logger gets the capturing handler itself
    (`leadrelay serve`'s logging configuration stops it from propagating), and each of its module loggers is set
    to DEBUG on its own, as `leadrelay worker` sets the parent to INFO while it runs."""
    ours = logging.getLogger("leadrelay")
    modules = [logging.getLogger(name) for name in ("leadrelay.worker", "leadrelay.delivery.dispatcher",
                                                    "leadrelay.playbook.follow", "leadrelay.entrypoints.api")]
    modules += [logger for name, logger in logging.root.manager.loggerDict.items()
                if name.startswith("leadrelay.") and isinstance(logger, logging.Logger) and logger not in modules]
    levels = [logger.level for logger in modules]
    ours.addHandler(caplog.handler)
    for logger in modules:
        logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="leadrelay"):
            yield Leaks()
    finally:
        ours.removeHandler(caplog.handler)
        for logger, level in zip(modules, levels, strict=True):
            logger.setLevel(level)


def test_no_token_or_webhook_secret_reaches_logs_errors_answers_or_the_database(
        tmp_path, database_url, receiver, leaks, caplog, capfd, monkeypatch):
    # A playbook with a webhook mid-rotation whose receiver fails, one that works, one that is down, one whose
    # secret is too short to use and one whose secret is not set.
    env = {"LEADRELAY_TEST_HOOK_NEW": leaks.secret("the new webhook secret", NEW),
           "LEADRELAY_TEST_HOOK_OLD": leaks.secret("the old webhook secret", OLD),
           "LEADRELAY_TEST_HOOK_SHORT": leaks.secret("a short webhook secret",
                                                     "whsec_" + base64.b64encode(secrets.token_bytes(16)).decode())}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rotation = {"secret_env": "LEADRELAY_TEST_HOOK_NEW", "previous_secret_env": "LEADRELAY_TEST_HOOK_OLD"}
    playbook = yaml.safe_load(starter_text())
    playbook["notifications"] = {"webhooks": [
        {"id": "crm", "url": receiver.url("/crm"), **rotation},
        {"id": "erp", "url": receiver.url("/erp"), **rotation},
        {"id": "down", "url": f"http://127.0.0.1:{closed_port()}/hooks", "secret_env": "LEADRELAY_TEST_HOOK_NEW"},
        {"id": "short", "url": receiver.url("/short"), "secret_env": "LEADRELAY_TEST_HOOK_SHORT"},
        {"id": "unset", "url": receiver.url("/unset"), "secret_env": "LEADRELAY_TEST_HOOK_UNSET"}]}
    (tmp_path / "playbook.yaml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    receiver.respond("/crm", 500)
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(
        (tmp_path / "playbook.yaml").read_text(), "playbook.yaml"), clock=Clock(T0))
    cli = Cli(tmp_path, database_url)
    cli.env.update(env)
    rep = playbook["reps"][0]["id"]

    def said(where: str, run):
        leaks.hear(where, run.out, run.err)
        return run

    try:
        with TestClient(create_app(app), follow_redirects=False) as client:
            def call(method: str, path: str, secret: str | None = None, **kw):
                headers = {"Authorization": f"Bearer {secret}"} if secret else {}
                answer = client.request(method, path, headers={**headers, **kw.pop("headers", {})}, **kw)
                leaks.hear(f"{method} {path}", answer.text, dict(answer.headers))
                return answer

            # Tokens from the CLI and the API; each secret is in its creation answer and nowhere else.
            admin = created(cli("tokens", "create", "--role", "admin", "--label", "ops", "--json"), leaks, "admin")
            plain = cli("tokens", "create", "--role", "ingest", "--source", "cli")
            assert plain.code == 0 and "shown once" in plain.err
            leaks.secret("a write key from the CLI", plain.out.strip())
            leaks.hear("tokens create (stderr)", plain.err)
            made = {}
            for what, body in {"marketing": {"role": "marketing"}, "rep": {"role": "rep", "rep_id": rep},
                               "write key": {"role": "ingest", "source": "web"}}.items():
                answer = client.post("/api/tokens", json=body, headers={"Authorization": f"Bearer {admin}"})
                assert answer.status_code == 201, answer.text
                made[what] = leaks.secret(what, answer.json()["secret"])
                leaks.hear("a creation answer without its secret", answer.text.replace(made[what], ""))

            # Live traffic with the write key: notices for every webhook.
            batch = {"batch": [identify(user="jane", email="jane@acme.io", title="VP Sales"),
                               track("Demo Requested", user="jane")]}
            assert call("POST", "/v1/batch", json={**batch, "writeKey": made["write key"]}).status_code == 200
            assert call("GET", f"/v1/next-fields?anonymousId=a1&writeKey={made['write key']}").status_code == 200

            # Refusals: 401 (unknown, near miss, revoked, bad write key), 403 and 422.
            assert call("GET", "/api/me", "lrk_" + secrets.token_urlsafe(32)).status_code == 401
            assert call("GET", "/api/me", admin[:-1]).status_code == 401
            assert call("GET", "/api/me", admin + "x").status_code == 401
            marketing_id = call("GET", "/api/me", made["marketing"]).json()["id"]
            said("tokens revoke", cli("tokens", "revoke", str(marketing_id)))
            revoked = call("GET", "/api/me", made["marketing"])
            assert revoked.status_code == 401 and revoked.json()["code"] == "unauthorized"
            bad_key = "lrw_" + secrets.token_urlsafe(32)
            assert call("POST", "/v1/batch", json={**batch, "writeKey": bad_key}).status_code == 401
            assert call("POST", "/v1/track", headers={"Authorization": "Basic " + base64.b64encode(
                f"{admin}:".encode()).decode()}, json=track("Pricing Viewed", user="jane")).status_code == 403
            assert call("GET", f"/v1/next-fields?anonymousId=a1&writeKey={bad_key}").status_code == 401
            assert call("GET", "/api/tokens", made["rep"]).status_code == 403
            assert call("GET", "/api/leads", made["write key"]).status_code == 403
            assert call("POST", "/api/tokens", admin, json={"role": "emperor", "secret": admin}).status_code == 422
            assert call("POST", "/api/tokens", admin, json={"role": "admin", "valid_for_days": 0}).status_code == 422
            web = call("POST", "/login", data={"token": admin + "x", "next": "/"})
            assert web.status_code == 401

            # The worker sends: one 500, one 200, one refused connection, one short secret, one unset secret.
            sweep = said("worker", cli("worker", "--once", "--now", (T0 + timedelta(minutes=1)).isoformat(), "--json"))
            assert sweep.code == 0, sweep.err
            for request in receiver.got("/erp"):
                assert verified_by(OLD, request) == verified_by(NEW, request)
            assert receiver.got("/erp") and receiver.got("/crm") and not receiver.got("/short")
            leaks.hear("what receivers got", *(f"{r.headers} {r.body!r}" for r in receiver.requests))

            # The exports: the outbox over the CLI and the API, tokens, rejections, the playbook.
            listed = said("outbox list", cli("outbox", "list", "--json")).json()
            errors = {m["target"]: m["last_error"] for m in listed if m["last_error"]}
            assert errors.keys() >= {"crm", "down", "short", "unset"}, errors
            assert errors["crm"] == "HTTP 500 Internal Server Error"
            assert errors["unset"] == ("environment variable LEADRELAY_TEST_HOOK_UNSET (secret of webhook 'unset') "
                                       "is not set")
            assert errors["short"] == ("LEADRELAY_TEST_HOOK_SHORT: the webhook secret decodes to 16 bytes; "
                                       "Standard Webhooks wants 24 to 64")
            said("outbox list (table)", cli("outbox", "list"))
            assert call("GET", "/api/outbox?payload=true", admin).status_code == 200
            said("tokens list", cli("tokens", "list", "--revoked", "--json"))
            assert call("GET", "/api/tokens?include_revoked=true", admin).status_code == 200
            said("rejections list", cli("rejections", "list", "--json"))
            said("playbook show", cli("playbook", "show"))
            assert call("GET", "/api/playbook", admin).status_code == 200

            # A secret pasted where the playbook wants a variable's name is refused without being repeated.
            pasted = leaks.secret("a pasted webhook secret", PASTED)
            (tmp_path / "pasted.yaml").write_text(PLAYBOOK.replace("LEADRELAY_WEBHOOK_SECRET_CRM_2027", pasted))
            assert said("playbook check", cli("playbook", "check", "pasted.yaml")).code != 0
            candidate = {"text": (tmp_path / "pasted.yaml").read_text()}
            checked = call("POST", "/api/playbook/validate", admin, json=candidate)
            assert checked.status_code == 200 and checked.json()["valid"] is False
    finally:
        app.close()

    # Every row of every table, every log record, stdout and stderr.
    engine = connect(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                leaks.hear(f"table {table.name}", *(str(tuple(row)) for row in conn.execute(select(table))))
    finally:
        engine.dispose()
    formatter = JsonFormatter()
    # Left out: the test client's own request lines (httpx logs the URLs it is asked for, query string included).
    leaks.hear("a log record", *(formatter.format(record) for record in caplog.records
                                 if not (record.name == "httpx" and "http://testserver/" in record.getMessage())))
    out, err = capfd.readouterr()
    leaks.hear("stdout", out)
    leaks.hear("stderr", err)
    assert any(where == "table outbox" for where, _ in leaks.said)
    assert any('"event": "request"' in text for where, text in leaks.said if where == "a log record")
    assert leaks.found() == []


def test_a_sign_in_link_s_code_is_not_logged(tmp_path, leaks, caplog):
    app = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'leadrelay.db'}"), clock=Clock(T0))
    try:
        token, _ = create_token(app.engine, "admin", now=T0)
        code = leaks.secret("a sign-in link's code", create_login_link(app.engine, token.id, now=T0))
        with TestClient(create_app(app), follow_redirects=False) as client:
            assert client.get(f"/login/{code}").status_code == 303
    finally:
        app.close()
    leaks.hear("a log record", *(JsonFormatter().format(record) for record in caplog.records
                                 if not (record.name == "httpx" and "http://testserver/" in record.getMessage())))
    assert leaks.found() == []
