"""Data protection, with the real engine on both databases: erase, export, the tombstone at intake, retention."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select

from leadrelay.activity.rescore import rescore
from leadrelay.activity.service import ingest
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.handoff import service as rep_actions
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.privacy.erase import erase
from leadrelay.privacy.export import export_person
from leadrelay.privacy.retention import apply_retention
from leadrelay.reports.catalog import report_request, run_report
from leadrelay.settings import Settings
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox
from leadrelay.storage.packing import unpack
from leadrelay.worker import run, sweep
from tests.messages import alias, identify, numbered, page, track

EMAIL = "jane.doe@acme-corp.com"
NAMES = ("Jane", "Doekowski")
PERSONAL = (EMAIL, "Doekowski", "anon-jane-cookie", "crm-user-8841")


@pytest.fixture
def playbook():
    data = yaml.safe_load(starter_text())
    data["notifications"] = {"webhooks": [{"id": "crm", "url": "http://127.0.0.1:9/hook",
                                           "secret_env": "LEADRELAY_TEST_HOOK"}]}
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "privacy.yaml")


def jane(app, clock):
    """Jane: browses anonymously, identifies, asks for a demo (a handoff and a webhook), gets a call with a note,
    and once sent a message that was rejected. Her anonymous browsing was its own lead until an alias merged it."""
    now = clock()
    ingest(app, numbered([page("/pricing", anon="anon-jane-cookie", when=now - timedelta(minutes=30),
                               ip="203.0.113.9", userAgent="Mozilla/5.0 (Jane's laptop)")]))
    ingest(app, numbered([
        identify(user="crm-user-8841", when=now - timedelta(minutes=20), email=EMAIL, first_name="Jane",
                 last_name="Doekowski", title="VP Sales", employees=300, country="US", phone="+1 555 0100")]))
    ingest(app, numbered([
        alias("anon-jane-cookie", "crm-user-8841", when=now - timedelta(minutes=15)),
        track("Demo Requested", user="crm-user-8841", when=now - timedelta(minutes=10),
              properties={"message": "Jane Doekowski here, call me"}),
        {"type": "identify", "userId": "crm-user-8841", "messageId": "bad-1", "timestamp": "not a time",
         "traits": {"email": EMAIL, "last_name": "Doekowski"}},
    ]))
    owner = explain_lead(app, EMAIL)["owner"]
    rep_actions.accept(app, EMAIL, rep=owner)
    rep_actions.log_touch(app, EMAIL, rep=owner, kind="call", outcome="connected",
                          note="Jane Doekowski wants pricing for 40 seats")
    return owner


def every_stored_text(app) -> str:
    """Every row of every table as text (the playbook texts aside: they are rules, not people)."""
    parts = []
    with app.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            if table.name in ("playbooks", "active_playbook"):
                continue
            for row in conn.execute(select(table)):
                parts.append(json.dumps([str(value) for value in row], ensure_ascii=False))
    return "\n".join(parts)


def reports(app):
    return {name: run_report(app, report_request(name))["rows"] for name in ("funnel", "speed_to_lead", "sla")}


def test_an_erased_person_leaves_no_trace_and_the_reports_count_the_same(app, clock):
    jane(app, clock)
    stored = every_stored_text(app)
    assert all(value in stored for value in PERSONAL), "the setup stores what the test then looks for"
    with app.engine.connect() as conn:
        assert conn.scalar(select(outbox.c.id).limit(1)) is not None, "a webhook notice about her was written"
        assert conn.scalar(select(t.rejections.c.id).limit(1)) is not None
        assert len(conn.execute(select(t.leads)).all()) == 2  # the anonymous lead, merged into her
    before = reports(app)

    erasure = erase(app, EMAIL, reason="GDPR art. 17 request #12", by="dpo@acme-analytics.example")

    text = every_stored_text(app)
    leftovers = [value for value in (*PERSONAL, *NAMES) if value.lower() in text.lower()]
    assert leftovers == [], f"still stored: {leftovers}"
    assert reports(app) == before
    assert (len(erasure["leads"]), erasure["already_erased"], erasure["erased_by"]) == (
        2, False, "dpo@acme-analytics.example")
    assert erasure["identities"] >= 3  # email, user id, anonymous id
    with app.engine.connect() as conn:
        stub = conn.execute(select(outbox.c.payload, outbox.c.status)).first()
        activities = conn.execute(select(t.activities.c.type, t.activities.c.name).order_by(t.activities.c.id)).all()
    assert stub.payload["data"]["erased"] is True
    assert [tuple(a) for a in activities] == [("page", None), ("identify", None), ("alias", None),
                                              ("track", "Demo Requested")]


def test_a_later_message_about_them_is_refused_without_personal_data_until_they_opt_in(app, clock):
    jane(app, clock)
    erased = erase(app, EMAIL, reason="asked by email", by="dpo")
    with app.engine.connect() as conn:
        leads_before = len(conn.execute(select(t.leads)).all())

    clock.advance(days=1)
    later = ingest(app, numbered([identify(email=f"  {EMAIL.upper()} ", when=clock()),
                                  page("/blog", anon="anon-jane-cookie", when=clock()),
                                  track("Webinar Joined", user="crm-user-8841", when=clock())]))

    assert (later.accepted, later.rejected, later.leads_created) == (0, 3, 0)
    assert all(r.reason.startswith("about a person erased on request (erasure 1)") for r in later.rejections)
    with app.engine.connect() as conn:
        assert len(conn.execute(select(t.leads)).all()) == leads_before
        stored = conn.execute(select(t.rejections).where(t.rejections.c.message_id.like("msg-%"))
                              .order_by(t.rejections.c.id)).all()
    assert [(r.payload, "doekowski" in r.reason.lower() or EMAIL in r.reason) for r in stored][-3:] == \
        [(None, False)] * 3
    assert EMAIL not in every_stored_text(app)

    clock.advance(minutes=1)
    back = ingest(app, numbered([identify(email=EMAIL, when=clock(), consent=True, first_name="Jane"),
                                 track("Webinar Joined", user=None, when=clock() + timedelta(seconds=1),
                                       traits={"email": EMAIL})]))
    assert (back.accepted, back.rejected, back.leads_created) == (2, 0, 1)
    assert explain_lead(app, EMAIL)["id"] not in erased["leads"]  # a new lead: the old history stays erased
    with app.engine.connect() as conn:
        lifted = conn.execute(select(pt.erased_identities).where(pt.erased_identities.c.kind == "email")
                              .order_by(pt.erased_identities.c.id)).first()
    assert lifted.lifted_by is not None  # the opt-in is on record, with its message id


def test_erasing_twice_is_harmless_and_an_unknown_person_is_not_found(app, clock):
    jane(app, clock)
    first = erase(app, EMAIL, reason="request", by="dpo")
    again = erase(app, EMAIL, reason="request, sent twice", by="dpo")
    by_id = erase(app, str(first["lead_id"]), reason="request", by="dpo")
    assert again == by_id == {**first, "already_erased": True}
    with pytest.raises(NotFound, match="no lead nobody@nowhere.example"):
        erase(app, "nobody@nowhere.example", reason="request", by="dpo")
    with pytest.raises(InvalidInput, match="reason"):
        erase(app, first["lead_id"], reason="  ", by="dpo")
    assert export_person(app, EMAIL)["erasures"][0]["reason"] == "request"


def test_the_export_holds_what_was_ingested_about_them(app, clock):
    owner = jane(app, clock)
    document = export_person(app, EMAIL)
    assert json.loads(json.dumps(document)) == document  # one JSON document
    assert (document["lead"]["email"], document["lead"]["traits"]["last_name"]) == (EMAIL, "Doekowski")
    assert len(document["merged_leads"]) == 1
    assert {(i["kind"], i["value"]) for i in document["identities"]} >= {
        ("email", EMAIL), ("user", "crm-user-8841"), ("anonymous", "anon-jane-cookie")}
    assert [a["type"] for a in document["activities"]] == ["page", "identify", "alias", "track"]
    assert document["activities"][0]["payload"]["context"]["ip"] == "203.0.113.9"
    assert document["score_changes"] and document["stage_changes"]
    assert [h["owner"] for h in document["handoffs"]] == [owner]
    assert document["routing_decisions"] and document["sla_timers"]
    assert [t_["note"] for t_ in document["touches"]] == ["Jane Doekowski wants pricing for 40 seats"]
    assert document["outbox"] and all(m["lead_id"] == document["lead_id"] for m in document["outbox"])
    assert [r["message_id"] for r in document["rejections"]] == ["bad-1"]
    for section in ("deals", "meetings", "predictions", "qualification_answers", "erasures"):
        assert document[section] == []
    with pytest.raises(NotFound):
        export_person(app, "nobody@nowhere.example")


def test_retention_trims_raw_context_and_drops_rejections_older_than_the_settings_only(app, clock, database_url):
    jane(app, clock)
    scores_before = explain_lead(app, EMAIL)
    clock.advance(days=20)
    ingest(app, numbered([page("/docs", user="crm-user-8841", when=clock(), ip="198.51.100.7",
                               campaign={"source": "newsletter", "name": "autumn"}),
                          {"type": "track", "messageId": "bad-2", "timestamp": "never"}]))
    app.settings = Settings(database_url=database_url, retain_raw_days=10, retain_rejections_days=10)

    assert apply_retention(app, clock()) == {"activities_trimmed": 1, "rejections_deleted": 1}
    assert apply_retention(app, clock()) == {"activities_trimmed": 0, "rejections_deleted": 0}

    with app.engine.connect() as conn:
        payloads = [unpack(conn, r.payload) for r in conn.execute(select(t.activities).order_by(t.activities.c.id))]
        rejected = [r.message_id for r in conn.execute(select(t.rejections))]
    assert "context" not in payloads[0] and payloads[1]["traits"]["last_name"] == "Doekowski"
    assert payloads[-1]["context"] == {"ip": "198.51.100.7", "campaign": {"source": "newsletter", "name": "autumn"}}
    assert rejected == ["bad-2"]
    rescore(app)  # replay reads properties and traits, which retention keeps: the same numbers
    after = explain_lead(app, EMAIL)
    assert (after["fit_score"], after["stage"]) == (scores_before["fit_score"], scores_before["stage"])

    clock.advance(days=11)
    run(app, once=True, clock=clock)  # the worker's periodic pass applies it
    with app.engine.connect() as conn:
        newest = unpack(conn, conn.scalar(select(t.activities.c.payload).order_by(t.activities.c.id.desc())))
    assert newest["context"] == {"campaign": {"source": "newsletter", "name": "autumn"}}


def test_without_retention_settings_nothing_is_trimmed(app, clock):
    jane(app, clock)
    clock.advance(days=3650)
    assert apply_retention(app, clock()) == {}
    run(app, once=True, clock=clock)
    assert export_person(app, EMAIL)["activities"][0]["payload"]["context"]["ip"] == "203.0.113.9"


def test_nobody_goes_on_working_an_erased_person(app, clock):
    """Her handoff stayed open after the erasure: SLA timers fired and her rep kept a seat for a lead with nothing
    left to reach."""
    jane(app, clock)
    erase(app, EMAIL, reason="asked by email", by="dpo")
    with app.engine.connect() as conn:
        handoffs = conn.execute(select(h.handoffs.c.status, h.handoffs.c.outcome)).all()
        pending = conn.scalar(select(func.count()).select_from(h.sla_timers).where(
            h.sla_timers.c.fired_at.is_(None), h.sla_timers.c.cancelled_at.is_(None)))
    assert [tuple(row) for row in handoffs] == [("closed", "erased")]
    assert pending == 0
    clock.advance(days=3)
    report = sweep(app, clock(), deliver=False)
    assert dict(report.timers) == {} and report.stale == 0


def test_rescore_leaves_an_erased_lead_as_it_was(app, clock):
    jane(app, clock)
    lead_id = explain_lead(app, EMAIL)["id"]
    erase(app, EMAIL, reason="asked by email", by="dpo")
    before = explain_lead(app, lead_id)
    report = rescore(app)
    after = explain_lead(app, lead_id)
    assert report.leads == 0  # the anonymous lead merged into her, she was erased: nobody left to judge
    assert (after["fit_score"], after["engagement_score"], after["stage"]) == (
        before["fit_score"], before["engagement_score"], before["stage"])


def test_the_export_holds_a_rejected_message_that_named_them_as_a_previous_id_as_erasure_finds_it(app):
    """Regression: export looked for a short id only as userId or anonymousId, erasure also as previousId, so an
    export could leave out a rejected message that an erasure would scrub."""
    ingest(app, numbered([identify(user="jd1", email="jd1@acme.example")]))
    report = ingest(app, [("line 2", {"type": "alias", "previousId": "jd1", "messageId": "bad-alias",
                                      "timestamp": "2026-10-01T09:00:00Z"})])
    assert report.rejected == 1
    document = export_person(app, "jd1@acme.example")
    assert [r["message_id"] for r in document["rejections"]] == ["bad-alias"]
