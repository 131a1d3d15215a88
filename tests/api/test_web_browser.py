"""The web app in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) against the app on
uvicorn. Under CI (`.ci/run` installs Chromium) these run; elsewhere they are skipped when no Chromium is found."""

import os
import re
import shutil

import pytest

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
    assert page.get_by_role("heading", name=re.compile("My queue")).is_visible()
    assert page.get_by_role("link", name="browser@corp.example").is_visible()
    assert page.get_by_text("not-mine@corp.example").count() == 0
    page.get_by_role("link", name="browser@corp.example").click()
    page.get_by_role("button", name="Accept").click()
    assert page.get_by_role("status").inner_text() == "Done: accepted."
    page.get_by_role("textbox", name="Outcome").fill("connected")
    page.get_by_role("textbox", name="Note").fill("wants a call back on Friday")
    page.get_by_role("button", name="Log touch").click()
    assert page.get_by_role("status").inner_text() == "Done: touch logged."
    assert page.get_by_text("wants a call back on Friday").is_visible()
    response = page.goto(f"{site}/leads/{theirs}")
    assert response.status == 404 and page.get_by_role("heading", name="Not found").is_visible()
    assert lead != theirs


def test_a_form_without_its_token_is_refused_in_the_browser_too(app, site, page, tokens, people):
    lead = add_lead(app, "csrf@corp.example", owner=people.rep, hand_raise=True)
    sign_in(page, site, tokens.rep)
    page.goto(f"{site}/leads/{lead}")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name="Accept").click()
    assert page.get_by_role("heading", name="Form refused").is_visible()


def test_a_manager_sees_a_breach_and_reassigns_it(app, site, page, tokens, people, clock):
    lead = add_lead(app, "breach@corp.example", owner=people.rep, hand_raise=True)
    clock.advance(days=3)
    sign_in(page, site, tokens.manager)
    page.get_by_role("link", name="Board").click()
    row = page.locator("tr", has_text="breach@corp.example")
    assert row.get_attribute("class") == "breached"
    row.get_by_label(re.compile("Give .* to")).select_option(people.teammate)
    row.get_by_role("button", name="Reassign").click()
    assert page.get_by_role("status").inner_text() == f"Done: lead {lead} reassigned."
    assert page.locator("tr", has_text="breach@corp.example").locator("td").nth(1).inner_text() == people.teammate
