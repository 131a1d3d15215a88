"""Upgrading a store written before addresses had one canonical form (issue 13): e-mail identities, leads'
addresses and company domains are rewritten as ingest now writes them, so the next message finds its lead."""

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config, upgrade
from tests.messages import identify, numbered

WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
STORED = {  # lead id: (its e-mail identity as an older release stored it, its company domain)
    1: ("jose\u0301@acme.io", "acme.io"),  # NFD
    2: ("mailto:ann@m\u00fcller.de", "m\u00fcller.de"),
    3: ("bob@acme.io", "acme.io"),  # canonical already
    4: ("bo\u200bb@acme.io", "acme.io"),  # a zero-width space: its canonical form is lead 3's
    5: ("not an address", None),
}


def test_stored_addresses_and_domains_are_rewritten_canonically_and_the_next_message_finds_its_lead(
        empty_database_url):
    engine = connect(empty_database_url)
    naive = WHEN.replace(tzinfo=None)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0016")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO accounts (id, domain, traits, created_at, updated_at) "
                              "VALUES (1, 'M\u00fcller.de', '{}', :t, :t)"), {"t": naive})
            for lead_id, (address, domain) in STORED.items():
                conn.execute(text("INSERT INTO leads (id, email, company_domain, stage, segment, fit_score, "
                                  "engagement_score, version, traits, trait_times, engine_state, created_at, "
                                  "updated_at) VALUES (:id, :email, :domain, 'lead', 'new', 0, 0, 0, '{}', '{}', "
                                  "'{}', :t, :t)"), {"id": lead_id, "email": address, "domain": domain, "t": naive})
                conn.execute(text("INSERT INTO identities (kind, value, lead_id) VALUES ('email', :v, :id)"),
                             {"v": address, "id": lead_id})
        upgrade(engine)
        with engine.connect() as conn:
            identities = dict(conn.execute(select(t.identities.c.lead_id, t.identities.c.value)).tuples().all())
            leads = {row.id: (row.email, row.company_domain) for row in conn.execute(select(t.leads))}
            domain = conn.scalar(select(t.accounts.c.domain))
        assert identities == {1: "jos\u00e9@acme.io", 2: "ann@xn--mller-kva.de", 3: "bob@acme.io",
                              4: "bo\u200bb@acme.io",  # left: lead 3 holds the canonical form
                              5: "not an address"}
        assert leads == {1: ("jos\u00e9@acme.io", "acme.io"), 2: ("ann@xn--mller-kva.de", "xn--mller-kva.de"),
                         3: ("bob@acme.io", "acme.io"), 4: ("bo\u200bb@acme.io", "acme.io"),
                         5: ("not an address", None)}
        assert domain == "xn--mller-kva.de"
    finally:
        engine.dispose()

    app = bootstrap(Settings(database_url=empty_database_url))
    try:
        report = ingest(app, numbered([identify(user="u-jose", email="jose\u0301@ACME.io", when=WHEN),
                                       identify(user="u-ann", email="ann@xn--mller-kva.de", when=WHEN)]))
        assert report.leads_created == 0  # both found the lead stored before the upgrade
    finally:
        app.close()
