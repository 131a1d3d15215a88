"""One person is one lead however their address is written, and a value that is not an address is refused by name:
on SQLite and PostgreSQL, through the service, HTTP and the CLI.

Issue 13: normalisation was ASCII-only, so the same address in NFC and NFD, with a zero-width character inside, with
its domain in Unicode and in punycode, behind `mailto:` or in angle brackets made separate leads; and an identify
whose `traits.email` was no address at all was accepted with the address silently dropped."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.lead.queries import explain_lead
from leadrelay.storage import tables as t
from tests.e2e.cli import Cli
from tests.messages import group, identify, numbered, track

JOSE = [
    "jos\u00e9@acme.io",  # NFC
    "jose\u0301@acme.io",  # NFD
    "Jos\u00e9@ACME.io",
    "jo\u200bs\u00e9@acme.io",  # zero-width space
    "jo\u200ds\u00e9@acme.io",  # zero-width joiner
    "\ufeffjos\u00e9@acme.io",  # byte-order mark
    "mailto:jos\u00e9@acme.io",
    " <jos\u00e9@acme.io> ",
]
ANN = ["ann@m\u00fcller.de", "ann@xn--mller-kva.de", "Ann@M\u00dcLLER.DE"]


def lead_emails(app) -> list[str | None]:
    with app.engine.connect() as conn:
        return list(conn.execute(select(t.leads.c.email).where(t.leads.c.merged_into.is_(None))
                                 .order_by(t.leads.c.email)).scalars())


def test_one_address_written_every_way_is_one_lead(app):
    report = ingest(app, numbered([identify(email=email) for email in JOSE + ANN]))

    assert (report.accepted, report.rejected) == (len(JOSE + ANN), 0), report.rejections
    assert lead_emails(app) == ["ann@xn--mller-kva.de", "jos\u00e9@acme.io"]


def test_a_later_batch_with_the_address_written_another_way_finds_the_stored_lead(app):
    ingest(app, numbered([identify(user="u-1", email="jose\u0301@acme.io")]))

    ingest(app, numbered([identify(anon="a-9", email="MAILTO:Jos\u00e9@acme.io\u200b")]))

    assert lead_emails(app) == ["jos\u00e9@acme.io"]
    assert explain_lead(app, "<jose\u0301@ACME.io>")["email"] == "jos\u00e9@acme.io"


def test_a_company_domain_in_unicode_is_stored_as_its_email_domain_is(app):
    """Regression: group traits kept `müller.de` while the address `ann@müller.de` gave `xn--mller-kva.de`."""
    ingest(app, numbered([identify(user="u-ann", email=ANN[0]),
                          group("g-mueller", user="u-ann", domain="M\u00fcller.de", name="M\u00fcller GmbH"),
                          group("g-web", user="u-bob", website="https://www.m\u00fcller.de/kontakt")]))

    with app.engine.connect() as conn:
        domains = sorted(conn.execute(select(t.accounts.c.domain)).scalars())
        company = conn.scalar(select(t.leads.c.company_domain).where(t.leads.c.email == "ann@xn--mller-kva.de"))
    assert domains == ["xn--mller-kva.de", "xn--mller-kva.de"]
    assert company == "xn--mller-kva.de"


def test_plus_addressing_keeps_its_own_lead(app):
    ingest(app, numbered([identify(email="ann@acme.io"), identify(email="ann+news@acme.io")]))

    assert lead_emails(app) == ["ann+news@acme.io", "ann@acme.io"]


def test_an_invalid_email_is_refused_by_name_and_the_rest_of_the_batch_kept(app):
    report = ingest(app, numbered([identify(user="u-1", email="ann@acme.io"),
                                   identify(user="u-2", email="ann at acme"),
                                   track("Demo Requested", user="u-1")]))

    assert (report.accepted, report.rejected) == (2, 1)
    [rejection] = report.rejections
    assert (rejection.position, rejection.reason) == (
        "test message 2", "traits.email: not an e-mail address (no @): 'ann at acme'")
    assert lead_emails(app) == ["ann@acme.io"]
    with app.engine.connect() as conn:
        assert conn.execute(select(t.rejections.c.reason)).scalars().all() == [rejection.reason]


def test_the_segment_endpoint_refuses_an_invalid_email_and_keeps_the_rest(app):
    from leadrelay.access.tokens import create_token
    from leadrelay.entrypoints.api.app import create_app
    from tests.api.test_ingest_segment import basic

    _, secret = create_token(app.engine, "ingest", source="sdk", now=app.clock())
    batch = [identify(user="u-1", email="jose\u0301@acme.io"),
             identify(user="u-2", email="ann@@acme.io"),
             identify(user="u-1", email="<jos\u00e9@acme.io>")]
    with TestClient(create_app(app)) as client:
        response = client.post("/v1/batch", content=json.dumps({"batch": batch}),
                               headers={**basic(secret), "Content-Type": "application/json"})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert [r["reason"] for r in answer["rejections"]] == [
        "traits.email: not an e-mail address (more than one @): 'ann@@acme.io'"]
    assert lead_emails(app) == ["jos\u00e9@acme.io"]


def test_the_cli_refuses_an_invalid_email_and_keeps_the_rest(tmp_path, database_url):
    lines = [identify(anon="a-1", email="\ufeffJos\u00e9@acme.io"),
             identify(anon="a-2", email="ann@acme"),
             track("Demo Requested", anon="a-1", context={"traits": {"email": "mailto:jose\u0301@acme.io"}})]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    cli = Cli(tmp_path, database_url)

    run = cli("ingest", str(path), "--json")

    assert run.code == 3, run.err  # done, some input rejected
    report = run.json()
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert [(r["position"], r["reason"]) for r in report["rejections"]] == [
        ("events.jsonl line 2", "traits.email: not an e-mail address (the domain has no dot): 'ann@acme'")]
    shown = cli("leads", "show", "jose\u0301@acme.io", "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["email"] == "jos\u00e9@acme.io"
