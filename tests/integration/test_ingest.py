"""The ingest service against a real database, on SQLite and PostgreSQL."""

import random

from sqlalchemy import func, select

from leadrelay.activity.service import ingest
from leadrelay.lead.queries import explain_lead
from leadrelay.storage import tables as t
from tests.messages import alias, at, group, identify, numbered, page, track


def lead_rows(app):
    with app.engine.connect() as conn:
        return conn.execute(select(t.leads).where(t.leads.c.merged_into.is_(None)).order_by(t.leads.c.id)).all()


def count(app, table):
    with app.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def test_ingesting_the_same_messages_twice_changes_nothing(app):
    messages = numbered([page("/pricing", anon="a1", when=at(0)), identify(anon="a1", user="u1", when=at(1),
                         email="ann@acme.io", title="VP Sales", employees=300, country="US"),
                         track("Demo Requested", user="u1", when=at(2))])
    first = ingest(app, messages)
    before = [tuple(r) for r in lead_rows(app)]
    second = ingest(app, messages)
    assert (first.accepted, second.accepted, second.duplicates) == (3, 0, 3)
    assert [tuple(r) for r in lead_rows(app)] == before
    assert count(app, t.activities) == 3
    assert count(app, t.stage_changes) == 3  # identify, then the hand-raiser (and lead entry)


def test_an_anonymous_visitors_earlier_activities_count_once_it_identifies(app):
    ingest(app, numbered([page("/pricing", anon="a1", when=at(0)), page("/case-studies/x", anon="a1", when=at(1))]))
    assert lead_rows(app)[0].stage is None  # anonymous: not in the funnel yet
    ingest(app, numbered([identify(anon="a1", user="u1", when=at(5), email=" Ann@ACME.io ", title="VP Sales")]))
    (lead,) = lead_rows(app)
    assert (lead.email, lead.company_domain, lead.stage) == ("ann@acme.io", "acme.io", "lead")
    explained = explain_lead(app, "ann@acme.io")
    assert {e["rule"] for e in explained["score_breakdown"]["engagement"]} == {"pricing_page", "case_study"}


def test_identities_in_separate_messages_merge_into_one_lead_keeping_both_histories(app, clock):
    clock.advance(days=2)  # received after the last message: more than a day ahead of receipt is refused
    ingest(app, numbered([page("/pricing", anon="laptop", when=at(0)),
                          identify(user="u1", when=at(1), email="ann@acme.io", title="VP Sales"),
                          page("/pricing", anon="phone", when=at(2, days=1))]))  # a day later: under the daily cap
    assert len(lead_rows(app)) == 3
    report = ingest(app, numbered([identify(anon="phone", user="u1", when=at(3, days=1)),
                                   alias("laptop", "u1", when=at(4, days=1))]))
    assert report.leads_merged == 2
    (lead,) = lead_rows(app)
    explained = explain_lead(app, lead.id)
    assert len(explained["merged_leads"]) == 2
    assert {i["value"] for i in explained["identities"]} == {"laptop", "phone", "u1", "ann@acme.io"}
    pricing = next(e for e in explained["score_breakdown"]["engagement"] if e["rule"] == "pricing_page")
    assert pricing["times"] == 2
    assert count(app, t.activities) == 5


def test_group_calls_attach_the_lead_to_an_account_with_its_traits(app):
    ingest(app, numbered([identify(user="u1", when=at(0), email="ann@acme.io", title="Manager"),
                          group("acct_acme", user="u1", when=at(1), name="Acme", website="https://www.acme.io",
                                employees=800, industry="Software"),
                          page("/pricing", user="u1", when=at(2), groupId="acct_acme")]))
    explained = explain_lead(app, "ann@acme.io")
    assert explained["account"]["name"] == "Acme" and explained["account"]["domain"] == "acme.io"
    assert {f["rule"] for f in explained["score_breakdown"]["fit"]} >= {"company_size_sweet_spot", "target_industry"}


def test_bad_messages_are_rejected_with_reasons_and_the_rest_kept(app):
    good = identify(user="u1", when=at(0), email="ann@acme.io")
    report = ingest(app, numbered([good, {"type": "track", "userId": "u1", "event": "x"},
                                   {"type": "shout", "messageId": "m2", "userId": "u1"},
                                   track("x", user="u1", when="yesterday")]))
    assert (report.accepted, report.rejected) == (1, 3)
    assert [r.reason for r in report.rejections] == [
        "missing messageId",
        "unknown type 'shout' (expected one of identify, track, page, screen, group, alias)",
        "timestamp: not an ISO-8601 date: 'yesterday'",
    ]
    assert count(app, t.rejections) == 3 and len(lead_rows(app)) == 1


def test_late_and_shuffled_activities_give_the_same_scores_as_in_order(app, database_url, clock):
    clock.advance(days=24)  # received after the last message: more than a day ahead of receipt is refused
    rng = random.Random(3)
    stream = [identify(anon="a1", user="u1", when=at(0), email="ann@acme.io", title="VP Sales", employees=90)]
    stream += [page(rng.choice(["/pricing", "/careers", "/case-studies/x", "/product"]), user="u1",
                    when=at(days=i * 0.6)) for i in range(1, 40)]
    stream += [track("Webinar Attended", user="u1", when=at(days=5))]
    ingest(app, numbered(stream[:20]))
    ingest(app, numbered(stream[20:]))
    in_order = lead_rows(app)[0]

    from sqlalchemy import delete

    from leadrelay.bootstrap import bootstrap
    from leadrelay.settings import Settings
    from tests.conftest import Clock

    with app.engine.begin() as conn:  # same database, wiped: replay the stream shuffled, in small batches
        for table in reversed(t.metadata.sorted_tables):
            if table.name != "playbooks":
                conn.execute(delete(table))
    shuffled = stream[:]
    rng.shuffle(shuffled)
    other = bootstrap(Settings(database_url=database_url, batch_size=7), playbook=app.playbook,
                      clock=Clock(app.clock()))
    ingest(other, numbered(shuffled))
    out_of_order = lead_rows(other)[0]
    other.close()
    assert (out_of_order.fit_score, out_of_order.traits) == (in_order.fit_score, in_order.traits)
    assert abs(out_of_order.engagement_score - in_order.engagement_score) < 1e-9
    assert out_of_order.engagement_as_of == in_order.engagement_as_of
    assert out_of_order.engine_state["caps"] == in_order.engine_state["caps"]


def test_every_score_change_names_the_rule_and_the_activity_that_caused_it(app):
    ingest(app, numbered([identify(user="u1", when=at(0), email="ann@acme.io", title="VP Sales"),
                          page("/pricing", user="u1", when=at(1), message_id="pricing-view")]))
    with app.engine.connect() as conn:
        rows = conn.execute(select(t.score_changes.c.rule_id, t.score_changes.c.delta, t.activities.c.message_id,
                                   t.score_changes.c.playbook_version)
                            .join(t.activities, t.activities.c.id == t.score_changes.c.activity_id)
                            .order_by(t.score_changes.c.id)).all()
    version = app.playbook.version
    assert [tuple(r) for r in rows][-1] == ("pricing_page", 10.0, "pricing-view", version)
    assert ("economic_buyer", 30.0) in [(r[0], r[1]) for r in rows]


def test_two_writers_ingesting_the_same_stream_at_once_store_each_message_once(app, database_url, clock):
    from concurrent.futures import ThreadPoolExecutor

    from leadrelay.bootstrap import bootstrap
    from leadrelay.settings import Settings

    stream = []
    for n in range(40):
        stream += [page("/pricing", anon=f"a{n}", when=at(n)),
                   identify(anon=f"a{n}", user=f"u{n}", when=at(n, days=1), email=f"p{n}@acme.io")]
    clock.advance(days=2)  # received after the last message: more than a day ahead of receipt is refused
    writers = [bootstrap(Settings(database_url=database_url, batch_size=10), playbook=app.playbook, clock=app.clock)
               for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda w: ingest(w, numbered(stream)), writers))
    for w in writers:
        w.close()
    assert sum(r.accepted for r in reports) == len(stream)
    assert count(app, t.activities) == len(stream)
    assert len(lead_rows(app)) == 40
    assert count(app, t.identities) == 120


def test_two_new_visitors_merged_in_the_batch_that_creates_them_become_one_stored_lead(app):
    report = ingest(app, numbered([page("/pricing", anon="a1", when=at(0)), page("/pricing", anon="a2", when=at(1)),
                                   identify(anon="a2", user="u1", when=at(2), email="ann@acme.io"),
                                   alias("a1", "u1", when=at(3))]))
    assert (report.accepted, report.leads_created, report.leads_merged) == (4, 1, 0)
    (lead,) = lead_rows(app)
    assert {i["value"] for i in explain_lead(app, lead.id)["identities"]} == {"a1", "a2", "u1", "ann@acme.io"}


def test_json_columns_keep_integers_past_64_bits(app):  # the fast JSON encoder refuses them; the store must not
    report = ingest(app, numbered([identify(user="u1", email="big@corp.io", seats=2 ** 70, note="caf\u00e9")]))
    assert report.accepted == 1
    assert explain_lead(app, "big@corp.io")["traits"]["seats"] == 2 ** 70
