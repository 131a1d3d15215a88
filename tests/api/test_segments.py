"""Segments for the email tool, over HTTP and the CLI: recycled leads with why they went back, filters, the
suppression each lead has on a channel, CSV and JSON, and who may export."""

import csv
import io

from leadrelay.entrypoints.api.leads import REP_MOVES
from tests.api.conftest import add_lead, bearer
from tests.e2e.cli import Cli


def recycle(app, lead, rep, reason):
    move = next(move for kind, move in REP_MOVES.items() if kind.value == "recycle")
    move(app, lead, rep=rep, reason=reason)


def test_marketing_exports_recycled_leads_with_why_and_their_suppression(client, app, tokens, people):
    back = add_lead(app, "back@corp.example", owner=people.rep, hand_raise=True)
    recycle(app, back, people.rep, "not_ready")
    owned = add_lead(app, "owned@corp.example", owner=people.rep, hand_raise=True)  # sales has it: suppressed
    fresh = add_lead(app, "fresh@corp.example", owner=None)
    marketing = bearer(tokens.marketing)
    every = client.get("/api/segments/export", headers=marketing).json()
    assert {row["id"]: (row["segment"], row["suppressed"]) for row in every} == {
        back: ("recycled", False), owned: ("new", True), fresh: ("new", False)}
    [row] = client.get("/api/segments/export", params={"segment": "recycled"}, headers=marketing).json()
    assert (row["email"], row["went_back"], row["reason"], row["stage"]) == (
        "back@corp.example", "recycle", "not_ready", "lead")
    assert row["went_back_at"] is not None and row["title"] == "VP Sales"
    suppressed = client.get("/api/segments/export", params={"suppressed": "true"}, headers=marketing).json()
    assert [(r["id"], r["suppressed_because"] is not None) for r in suppressed] == [(owned, True)]
    assert client.get("/api/segments/export", params={"reason": "no_budget_now"}, headers=marketing).json() == []
    text = client.get("/api/segments/export", params={"format": "csv", "segment": "recycled"}, headers=marketing)
    assert text.headers["content-type"].startswith("text/csv")
    [line] = list(csv.DictReader(io.StringIO(text.text)))
    assert (line["id"], line["reason"], line["suppressed"]) == (str(back), "not_ready", "false")


def test_a_bad_filter_is_told_and_only_marketing_and_admin_export(client, tokens):
    bad = client.get("/api/segments/export", params={"segment": "old", "stage": "hot"},
                     headers=bearer(tokens.marketing))
    assert bad.status_code == 422
    assert bad.json()["message"] == ("stage: no stage 'hot' (one of subscriber, lead, mql, sal, sql, opportunity, "
                                     "customer, disqualified); segment: no segment 'old' (one of new, recycled)")
    for role in ("manager", "rep"):
        assert client.get("/api/segments/export", headers=bearer(tokens.of(role))).status_code == 403


def test_the_cli_exports_a_segment_and_leads_list_filters_by_it(app, people, database_url, tmp_path):
    back = add_lead(app, "cli-back@corp.example", owner=people.rep, hand_raise=True)
    recycle(app, back, people.rep, "no_response")
    add_lead(app, "cli-new@corp.example", owner=None)
    cli = Cli(tmp_path, database_url)
    out = cli("segment", "export", "--segment", "recycled", "--not-suppressed")
    assert out.code == 0, out.err
    [line] = list(csv.DictReader(io.StringIO(out.out)))
    assert (line["email"], line["reason"]) == ("cli-back@corp.example", "no_response")
    listed = cli("leads", "list", "--segment", "recycled", "--json").json()
    assert [lead["id"] for lead in listed] == [back]
    wrong = cli("segment", "export", "--segment", "old")
    assert wrong.code == 2 and "no segment 'old'" in wrong.err


def test_an_unknown_reason_or_persona_is_told_not_an_empty_export(client, tokens):
    """Regression: a typo in --reason or --persona gave an empty export that looked like no such leads."""
    bad = client.get("/api/segments/export", params={"reason": "not_redy", "persona": "economic_buyr"},
                     headers=bearer(tokens.marketing))
    assert bad.status_code == 422
    assert "reason: no recycle or reject reason 'not_redy' (one of " in bad.json()["message"]
    assert "persona: no persona 'economic_buyr' (one of " in bad.json()["message"]


def test_an_exported_engagement_is_cut_as_everywhere_a_score_is_shown(app, people):
    """24.996 was exported as 25.0 beside an MQL bar of 25 it does not meet (found by a user trial: `leads list` and
    the rest of the product cut scores)."""
    from sqlalchemy import update

    from leadrelay.handoff.segments import segment_export
    from leadrelay.storage import tables as t

    lead = add_lead(app, "close@corp.example", owner=None)
    with app.engine.begin() as conn:
        conn.execute(update(t.leads).where(t.leads.c.id == lead).values(engagement_score=24.996,
                                                                         engagement_as_of=app.clock().timestamp()))
    [row] = [row for row in segment_export(app) if row["id"] == lead]
    assert row["engagement_score"] == 24.99
