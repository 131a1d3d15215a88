"""The go-to-market dashboard over HTTP: who may open it, that each panel's table and CSV carry the numbers the API
gives for the same report and scope, and that bad filters are told on the page. The charts are checked in a real
browser in test_web_browser.py."""

import csv
import io
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from leadrelay.entrypoints.api.leads import REP_MOVES
from leadrelay.entrypoints.server import create_app
from leadrelay.reports.sources import import_spend
from tests.api.conftest import add_deal, add_lead, bearer
from tests.api.test_web_pages import sign_in

PANELS = ["funnel-cohorts", "funnel-sources", "conversion", "velocity", "mqls", "sources", "leakage", "forecast",
          "snapshots"]


@pytest.fixture
def web(app):
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield client


@pytest.fixture
def pipeline(app, people, tmp_path):
    """Leads from two sources in the manager's team and one in another team, a deal, and spend for one source."""
    leads = [add_lead(app, f"g{n}@corp.example", owner=people.rep, hand_raise=True, source="google")
             for n in range(3)]
    reject = next(move for kind, move in REP_MOVES.items() if kind.value == "reject")
    reject(app, leads[0], rep=people.rep, reason="bad_fit")
    add_lead(app, "l0@corp.example", owner=people.teammate, hand_raise=True, source="linkedin")
    add_lead(app, "other@corp.example", owner=people.stranger, hand_raise=True, source="linkedin")
    add_deal(app, "deal@corp.example", owner="erin", amount="12000", close_in_days=40)
    month = app.clock().strftime("%Y-%m")
    spend = tmp_path / "spend.csv"
    spend.write_text(f"month,source,amount,currency\n{month},google,900,USD\n{month},linkedin,400,USD\n",
                     encoding="utf-8")
    assert import_spend(app, spend).imported == 2


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_marketing_lands_on_the_dashboard_and_every_panel_has_its_table_and_csv(app, web, tokens, pipeline):
    sign_in(web, tokens.marketing)
    assert web.get("/").headers["location"] == "/dashboard"
    page = web.get("/dashboard")
    assert page.status_code == 200
    drawn = {panel for panel in PANELS if f'<script type="application/json" id="{panel}-data">' in page.text}
    assert drawn == set(PANELS) - {"conversion", "mqls", "snapshots"}  # hand-raisers skip MQL; no snapshot taken
    for panel in PANELS:
        assert f'<section class="panel" id="{panel}"' in page.text
        assert (f'href="/dashboard/{panel}.csv?' in page.text) == (panel in drawn)
        download = web.get(f"/dashboard/{panel}.csv")
        assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
        assert f'filename="leadrelay-{panel}.csv"' in download.headers["content-disposition"]


def test_the_funnel_csv_is_the_apis_funnel(web, client, tokens, pipeline):
    sign_in(web, tokens.marketing)
    api = client.get("/api/reports/funnel?by=source", headers=bearer(tokens.marketing)).json()
    rows = table(web.get("/dashboard/funnel-sources.csv").text)
    assert [row["source"] for row in rows] == [row["group"] for row in api["rows"]] == ["(none)", "google", "linkedin"]
    for mine, theirs in zip(rows, api["rows"], strict=True):
        assert int(mine["entered subscriber"]) == theirs["entered"]
        for stage in theirs["stages"]:
            reached, rate = int(mine[stage["stage"]]), float(mine[f"{stage['stage']} rate"])
            assert (reached, rate) == (stage["reached"], stage["rate"])


def test_sources_show_cost_per_lead_and_cpa_over_the_whole_range(web, client, tokens, pipeline):
    sign_in(web, tokens.marketing)
    api = client.get("/api/reports/sources?period=all", headers=bearer(tokens.marketing)).json()["rows"]
    rows = {row["source"]: row for row in table(web.get("/dashboard/sources.csv").text)}
    google = next(row for row in api if row["source"] == "google")
    assert google["month"] is None and (google["leads"], google["spend"]) == (3, "900.00")
    assert rows["google"]["spend"] == "900.00" and rows["google"]["cost per lead"] == "300.00" == \
        google["cost_per_lead"]
    assert Decimal(rows["linkedin"]["cost per lead"]) == Decimal("400.00") / 2  # two leads, both teams: marketing


def test_a_manager_sees_their_teams_numbers_without_marketings_spend_and_a_rep_no_dashboard(web, client, tokens,
                                                                                          pipeline, people):
    sign_in(web, tokens.manager)
    rows = {row["source"]: row for row in table(web.get("/dashboard/funnel-sources.csv").text)}
    api = client.get("/api/reports/funnel?by=source", headers=bearer(tokens.manager)).json()["rows"]
    # Not the other team's lead, nor the one rejected back to marketing.
    assert {row["group"]: row["entered"] for row in api} == {"google": 2, "linkedin": 1}
    assert {source: int(row["entered subscriber"]) for source, row in rows.items()} == {"google": 2, "linkedin": 1}
    assert "team " + people.team in web.get("/dashboard").text
    mqls = table(web.get("/dashboard/mqls.csv").text)  # marketing's MQLs count every lead, whoever looks
    api_mqls = client.get("/api/reports/sla", headers=bearer(tokens.manager)).json()["marketing"]
    assert [(row["month"], int(row["MQLs"])) for row in mqls] == [(row["month"], row["mqls"]) for row in api_mqls]
    # Spend is marketing's, for every lead: set against the team's leads it would mean nothing, so none is shown.
    sources = table(web.get("/dashboard/sources.csv").text)
    assert sources and all(row["spend"] == row["cost per lead"] == row["CPA (per customer)"] == "" for row in sources)
    api_sources = client.get("/api/reports/sources?period=all", headers=bearer(tokens.manager)).json()["rows"]
    assert {row["source"]: (row["leads"], row["spend"]) for row in api_sources} == {
        "google": (2, None), "linkedin": (1, None)}

    web.cookies.clear()
    sign_in(web, tokens.rep)
    assert web.get("/dashboard").status_code == 404
    assert web.get("/dashboard/sources.csv").status_code == 404


def test_the_forecast_panel_is_the_apis_forecast_by_month(web, client, tokens, pipeline):
    sign_in(web, tokens.admin)
    api = client.get("/api/forecast?by=month", headers=bearer(tokens.admin)).json()["rows"]
    rows = table(web.get("/dashboard/forecast.csv").text)
    assert [(row["close month"], float(row["weighted"]), float(row["open pipeline"])) for row in rows] == \
        [(row["group"], row["weighted_pipeline"], row["open_pipeline"]) for row in api]
    assert rows[0]["open pipeline"] == "12000.00"  # money with two decimals, as in every other CSV


@pytest.mark.parametrize(("query", "message"), [
    ("from=yesterday", "from: &#39;yesterday&#39; is not a date (YYYY-MM-DD)"),
    ("from=2026-10-05&to=2026-10-01", "from: 2026-10-05 is after to: 2026-10-01"),
    ("from_stage=sql&to_stage=mql", "to-stage: mql does not come after sql in the funnel"),
    ("period=fortnight", "period: no period &#39;fortnight&#39;"),
])
def test_bad_filters_are_told_on_the_page(web, tokens, query, message):
    sign_in(web, tokens.marketing)
    page = web.get(f"/dashboard?{query}")
    assert page.status_code == 422 and 'role="alert"' in page.text and message in page.text
    assert web.get(f"/dashboard/funnel-cohorts.csv?{query}").status_code == 422


def test_an_unknown_panel_is_not_found(web, tokens):
    sign_in(web, tokens.marketing)
    missing = web.get("/dashboard/pipeline.csv")
    assert missing.status_code == 404 and "no dashboard panel &#39;pipeline&#39;" in missing.text


def test_signed_out_the_dashboard_sends_to_sign_in(web):
    assert web.get("/dashboard").headers["location"].startswith("/login")
    assert web.get("/dashboard/funnel-cohorts.csv").headers["location"].startswith("/login")
