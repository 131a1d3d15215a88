"""The web app in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) against the app on
uvicorn. Under CI (`.ci/run` installs Chromium) these run; elsewhere they are skipped when no Chromium is found."""

import os
import re
import shutil

import pytest
from playwright.sync_api import expect

from leadrelay.entrypoints.server import create_app
from tests.api.conftest import RunningServer, add_lead

CHROMIUM = os.environ.get("LEADRELAY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium must be installed under CI (.ci/run installs Debian's chromium)")
        pytest.skip("no Chromium here: apt-get install chromium (or set LEADRELAY_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site(app):
    with RunningServer(create_app(app)) as running:
        yield running.url


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


def sign_in(page, site, secret):
    page.goto(f"{site}/")
    page.get_by_label("Your API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_a_rep_signs_in_accepts_a_lead_and_logs_a_touch_with_a_note(app, site, page, tokens, people):
    lead = add_lead(app, "browser@corp.example", owner=people.rep, hand_raise=True)
    theirs = add_lead(app, "not-mine@corp.example", owner=people.teammate, hand_raise=True)
    sign_in(page, site, tokens.rep)
    expect(page.get_by_role("heading", name=re.compile("My queue"))).to_be_visible()
    expect(page.get_by_role("link", name="browser@corp.example")).to_be_visible()
    expect(page.get_by_text("not-mine@corp.example")).to_have_count(0)
    page.get_by_role("link", name="browser@corp.example").click()
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("status")).to_have_text("Done: accepted.")
    page.get_by_role("textbox", name="Outcome").fill("connected")
    page.get_by_role("textbox", name="Note").fill("wants a call back on Friday")
    page.get_by_role("button", name="Log touch").click()
    expect(page.get_by_role("status")).to_have_text("Done: touch logged.")
    expect(page.get_by_text("wants a call back on Friday")).to_be_visible()
    response = page.goto(f"{site}/leads/{theirs}")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    for managers_page in ("/board", "/dashboard", "/ops/playbook"):
        assert page.goto(f"{site}{managers_page}").status == 404
    assert lead != theirs


def test_a_form_without_its_token_is_refused_in_the_browser_too(app, site, page, tokens, people):
    lead = add_lead(app, "csrf@corp.example", owner=people.rep, hand_raise=True)
    sign_in(page, site, tokens.rep)
    page.goto(f"{site}/leads/{lead}")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()


def test_a_manager_sees_a_breach_and_reassigns_it(app, site, page, tokens, people, clock):
    lead = add_lead(app, "breach@corp.example", owner=people.rep, hand_raise=True)
    clock.advance(days=3)
    sign_in(page, site, tokens.manager)
    page.get_by_role("link", name="Board", exact=True).click()
    row = page.locator("tr", has_text="breach@corp.example")
    expect(row).to_have_class("breached")
    row.get_by_label(re.compile("Give .* to")).select_option(people.teammate)
    row.get_by_role("button", name="Reassign").click()
    expect(page.get_by_role("status")).to_have_text(
        f"Done: lead {lead} (breach@corp.example) given to {people.teammate}.")
    expect(page.locator("tr", has_text="breach@corp.example").locator("td").nth(1)).to_have_text(people.teammate)


CHARTS_DRAWN = """() => typeof Chart !== "undefined"
  && [...document.querySelectorAll("canvas[data-chart]")].every(canvas => Chart.getChart(canvas))"""
CHART_DATA = """canvas => { const chart = Chart.getChart(canvas); if (!chart) return null;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0; for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  const data = Object.fromEntries(chart.data.datasets.map(d => [d.label, d.data]));
  return {painted, labels: chart.data.labels, data};
}"""


def test_the_dashboard_draws_every_chart_with_the_numbers_the_api_gives(app, site, page, tokens, people, client,
                                                                       tmp_path):
    from tests.api.conftest import add_deal, bearer
    from tests.api.test_web_dashboard import PANELS, import_spend

    for n in range(2):
        add_lead(app, f"chart{n}@corp.example", owner=people.rep, hand_raise=True, source="google")
    add_deal(app, "chart-deal@corp.example", owner="erin", amount="5000", close_in_days=30)
    spend = tmp_path / "spend.csv"
    spend.write_text(f"month,source,amount,currency\n{app.clock():%Y-%m},google,300,USD\n", encoding="utf-8")
    import_spend(app, spend)
    sign_in(page, site, tokens.marketing)
    expect(page.get_by_role("heading", name="The go-to-market dashboard")).to_be_visible()  # marketing lands here
    page.wait_for_function(CHARTS_DRAWN)  # the heading can be there before the deferred Chart.js has run
    charts = {panel: page.locator(f"#{panel} canvas").evaluate(CHART_DATA)
              for panel in PANELS if page.locator(f"#{panel} canvas").count()}
    assert set(charts) >= {"funnel-cohorts", "funnel-sources", "velocity", "sources", "forecast"}
    assert all(chart is not None and chart["painted"] > 1000 for chart in charts.values())  # drawn, not blank

    api = lambda path: client.get(path, headers=bearer(tokens.marketing)).json()  # noqa: E731
    funnel = api("/api/reports/funnel?period=month")["rows"]
    assert charts["funnel-cohorts"]["labels"] == ["subscriber"] + [s["stage"] for s in funnel[0]["stages"]]
    assert charts["funnel-cohorts"]["data"] == {
        row["period"]: [row["entered"]] + [s["reached"] for s in row["stages"]] for row in funnel}
    by_source = api("/api/reports/funnel?by=source")["rows"]
    assert charts["funnel-sources"]["labels"] == [row["group"] for row in by_source]
    assert charts["funnel-sources"]["data"]["reached sal"] == [
        next(s["rate"] for s in row["stages"] if s["stage"] == "sal") for row in by_source]
    [google] = [row for row in api("/api/reports/sources?period=all")["rows"] if row["spend"]]
    assert charts["sources"]["labels"] == ["google (USD)"]
    assert charts["sources"]["data"]["cost per lead"] == [float(google["cost_per_lead"])] == [150.0]
    forecast = api("/api/forecast?by=month")["rows"]
    assert charts["forecast"]["labels"] == [row["group"] for row in forecast]
    assert charts["forecast"]["data"]["weighted"] == [row["weighted_pipeline"] for row in forecast]

    with page.expect_download() as download:
        page.locator("#sources").get_by_role("link", name=re.compile("Download CSV")).click()
    assert "google,USD,300.00,2," in open(download.value.path(), encoding="utf-8").read()
