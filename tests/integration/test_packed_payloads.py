"""Activity payloads are stored packed (issue 14: storage per activity): zstd frames against a dictionary trained on
the store's own payloads. What was sent reads back exactly, whichever process packed it and with which dictionary,
and a store written before the packing is packed by its migration."""

import json
from datetime import UTC, datetime, timedelta

import zstandard
from alembic import command
from sqlalchemy import func, select, text

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.lead import store as repo
from leadrelay.playbook.loader import starter_playbook
from leadrelay.settings import Settings
from leadrelay.storage import tables as t
from leadrelay.storage.database import connect
from leadrelay.storage.migrate import _config, upgrade
from leadrelay.storage.packing import TRAIN_AFTER, as_json, unpack

WHEN = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
AGENTS = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Edg/129.0"]
PATHS = ["/pricing", "/product/funnels", "/case-studies/meridian", "/docs/warehouse-sync", "/blog/attribution"]


def visit(n: int) -> dict:
    """A page view as analytics.js sends it: the page's properties, again in context.page, the browser's context."""
    path = PATHS[n % len(PATHS)]
    properties = {"path": path, "referrer": "https://www.google.com/", "search": "", "title": f"Acme {path}",
                  "url": f"https://www.acme-analytics.com{path}"}
    return {"type": "page", "messageId": f"visit-{n}", "anonymousId": f"anon-{n % 300}",
            "timestamp": (WHEN + timedelta(minutes=n)).isoformat(), "properties": properties,
            "context": {"ip": f"203.0.113.{n % 250}", "userAgent": AGENTS[n % 2], "locale": "de-DE",
                        "page": properties, "campaign": {"source": "newsletter", "name": f"autumn-{n % 7}"},
                        "traits": {"note": "Grüße, José 🚀"}}}


def stored(app) -> list:
    with app.engine.connect() as conn:
        return conn.execute(select(t.activities.c.message_id, t.activities.c.payload)
                            .order_by(t.activities.c.id)).all()


def read_back(app) -> dict[str, dict]:
    """message id -> the payload as the store gives it to the engine (properties, context)."""
    with app.engine.connect() as conn:
        lead_ids = list(conn.scalars(select(t.leads.c.id)))
        found = repo.lead_activities(conn, lead_ids)
    return {a.message_id: {"properties": a.properties, "context": a.context} for acts in found.values() for a in acts}


def dictionaries(app) -> list[int]:
    with app.engine.connect() as conn:
        return list(conn.scalars(select(t.payload_dictionaries.c.id).order_by(t.payload_dictionaries.c.id)))


def frame_dictionary(blob: bytes) -> int:
    return zstandard.get_frame_parameters(blob).dict_id


def test_payloads_read_back_as_sent_before_and_after_the_store_trains_its_dictionary(database_url):
    app = bootstrap(Settings(database_url=database_url, batch_size=250), playbook=starter_playbook())
    try:
        sent = [visit(n) for n in range(TRAIN_AFTER + 500)]
        ingest(app, [(str(n), m) for n, m in enumerate(sent)], live=False)
        assert len(dictionaries(app)) == 1  # trained once the store held TRAIN_AFTER activities

        rows = stored(app)
        early, late = rows[:TRAIN_AFTER], rows[-400:]
        assert {frame_dictionary(blob) for _, blob in early[:250]} == {0}  # packed before there was a dictionary
        assert {frame_dictionary(blob) for _, blob in late} == set(dictionaries(app))
        sizes = [len(blob) / len(as_json({"properties": m["properties"], "context": m["context"]}))
                 for (_, blob), m in zip(late, sent[-400:], strict=True)]
        assert sum(sizes) / len(sizes) < 0.25  # a tenth, about, of the JSON on this stream

        back = read_back(app)
        assert len(back) == len(sent)
        for message in sent:
            assert back[message["messageId"]] == {"properties": message["properties"], "context": message["context"]}
    finally:
        app.close()


def test_a_process_reads_and_writes_with_a_dictionary_another_process_trained(database_url):
    """Two engines on one store (two server processes, a CLI import and the worker): the one that did not train
    loads the dictionary when it first meets a frame naming it, and packs with it from its next batch."""
    first = bootstrap(Settings(database_url=database_url, batch_size=250), playbook=starter_playbook())
    second = bootstrap(Settings(database_url=database_url), playbook=starter_playbook())
    try:
        ingest(second, [("0", visit(0))], live=False)  # looked for a dictionary: none yet
        ingest(first, [(str(n), visit(n)) for n in range(1, TRAIN_AFTER + 100)], live=False)
        trained = dictionaries(first)
        assert len(trained) == 1

        back = read_back(second)
        assert len(back) == TRAIN_AFTER + 100
        for n in (0, 1, TRAIN_AFTER + 99):  # packed without a dictionary, and with the one `first` trained
            message = visit(n)
            assert back[f"visit-{n}"] == {"properties": message["properties"], "context": message["context"]}

        third = bootstrap(Settings(database_url=database_url), playbook=starter_playbook())
        try:  # a process started after the training packs with the stored dictionary at once
            ingest(third, [("x", visit(5000))], live=False)
        finally:
            third.close()
        newest = stored(first)[-1]
        assert newest.message_id == "visit-5000" and frame_dictionary(newest.payload) == trained[0]
    finally:
        first.close()
        second.close()


def test_an_erased_activity_and_an_empty_payload_are_stored_and_read(database_url):
    app = bootstrap(Settings(database_url=database_url), playbook=starter_playbook())
    try:
        bare = {"type": "track", "messageId": "bare", "userId": "u1", "event": "Signed Up",
                "timestamp": WHEN.isoformat()}
        ingest(app, [("0", bare)], live=False)
        (row,) = stored(app)
        with app.engine.connect() as conn:
            assert unpack(conn, row.payload) == {}
        assert read_back(app) == {"bare": {"properties": {}, "context": {}}}
    finally:
        app.close()


def test_the_migration_packs_payloads_stored_as_json_and_trains_a_dictionary_on_them(empty_database_url):
    engine = connect(empty_database_url)
    naive = WHEN.replace(tzinfo=None)
    sent = {f"visit-{n}": {"properties": m["properties"], "context": m["context"]}
            for n, m in ((n, visit(n)) for n in range(TRAIN_AFTER + 200))}
    sent["empty"] = {}
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0017")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO leads (id, stage, segment, fit_score, engagement_score, version, traits, "
                              "trait_times, engine_state, created_at, updated_at) VALUES (1, 'lead', 'new', 0, 0, 0, "
                              "'{}', '{}', '{}', :t, :t)"), {"t": naive})
            conn.execute(text("INSERT INTO activities (source, message_id, lead_id, type, occurred_at, received_at, "
                              "anonymous_id, payload) VALUES ('web', :m, 1, 'page', :t, :t, 'anon-1', :p)"),
                         [{"m": m, "t": naive, "p": json.dumps(payload)} for m, payload in sent.items()])
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(select(t.activities.c.message_id, t.activities.c.payload)).all()
            assert {m: unpack(conn, blob) for m, blob in rows} == sent
            (dictionary,) = conn.scalars(select(t.payload_dictionaries.c.id))
            assert {frame_dictionary(blob) for m, blob in rows if blob} == {dictionary}
            assert conn.scalar(select(func.count()).select_from(t.activities).where(
                t.activities.c.payload == b"")) == 1  # the empty payload
    finally:
        engine.dispose()

    app = bootstrap(Settings(database_url=empty_database_url), playbook=starter_playbook())
    try:  # the store works on: a message already stored is a duplicate, a new one is packed with the dictionary
        report = ingest(app, [("0", visit(0)), ("1", visit(10_000))], source="web", live=False)
        assert (report.duplicates, report.accepted) == (1, 1)
        assert read_back(app)["visit-10000"]["context"]["campaign"] == {"source": "newsletter", "name": "autumn-4"}
    finally:
        app.close()


def test_a_store_too_small_for_a_dictionary_is_migrated_without_one(empty_database_url):
    engine = connect(empty_database_url)
    try:
        with engine.begin() as conn:
            command.upgrade(_config(conn), "0017")
            conn.execute(text("INSERT INTO leads (id, stage, segment, fit_score, engagement_score, version, traits, "
                              "trait_times, engine_state, created_at, updated_at) VALUES (1, 'lead', 'new', 0, 0, 0, "
                              "'{}', '{}', '{}', :t, :t)"), {"t": WHEN.replace(tzinfo=None)})
            conn.execute(text("INSERT INTO activities (source, message_id, lead_id, type, occurred_at, received_at, "
                              "payload) VALUES ('web', 'one', 1, 'track', :t, :t, :p)"),
                {"t": WHEN.replace(tzinfo=None), "p": json.dumps({"properties": {"plan": "pro"}})})
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(t.payload_dictionaries)) == 0
            assert unpack(conn, conn.scalar(select(t.activities.c.payload))) == {"properties": {"plan": "pro"}}
    finally:
        engine.dispose()
