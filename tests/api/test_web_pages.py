"""The web app's first pages over HTTP: signing in (token form, one-time link), the session cookie, CSRF on every
form, a rep's queue and lead page, Accept and Log touch. Every figure checked here is set up by the test."""

import re
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadrelay.access.sessions import create_login_link
from leadrelay.access.tokens import revoke_token
from leadrelay.entrypoints.server import create_app
from leadrelay.storage import handoff_tables as h
from tests.api.conftest import add_lead


@pytest.fixture
def web(app):
    with TestClient(create_app(app), follow_redirects=False) as client:
        yield client


def sign_in(web, secret):
    response = web.post("/login", data={"token": secret, "next": "/"})
    assert response.status_code == 303, response.text
    return response


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def test_a_rep_signs_in_with_a_token_and_sees_their_queue_and_not_another_reps_lead(app, web, tokens, people):
    mine = add_lead(app, "mine@corp.example", owner=people.rep, hand_raise=True)
    theirs = add_lead(app, "theirs@corp.example", owner=people.teammate, hand_raise=True)
    assert web.get("/").headers["location"].startswith("/login")  # not signed in yet
    response = sign_in(web, tokens.rep)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain HTTP here
    queue = web.get("/")
    assert queue.status_code == 200 and "mine@corp.example" in queue.text and "theirs@corp.example" not in queue.text
    assert web.get(f"/leads/{mine}").status_code == 200
    other = web.get(f"/leads/{theirs}")
    assert other.status_code == 404 and "theirs@corp.example" not in other.text
    typo = web.get("/leads/abc")  # a page that says so, not the API's JSON
    assert typo.status_code == 404 and "no lead &#39;abc&#39;" in typo.text and "<html" in typo.text


def test_accept_and_log_touch_from_the_lead_page_and_a_form_without_its_token_changes_nothing(app, web, tokens,
                                                                                              people):
    lead = add_lead(app, "work@corp.example", owner=people.rep, hand_raise=True)
    sign_in(web, tokens.rep)
    page = web.get(f"/leads/{lead}")
    assert ">Accept</button>" in page.text and ">Log touch</button>" in page.text
    refused = web.post(f"/leads/{lead}/accept", data={})
    assert refused.status_code == 403 and "nothing was changed" in refused.text
    with app.engine.connect() as conn:
        assert conn.scalar(select(h.handoffs.c.accepted_at).where(h.handoffs.c.lead_id == lead)) is None
    done = web.post(f"/leads/{lead}/accept", data={"csrf": csrf_of(page)})
    assert (done.status_code, done.headers["location"]) == (303, f"/leads/{lead}?done=accepted")
    page = web.get(done.headers["location"])
    assert "Done: accepted." in page.text and ">Accept</button>" not in page.text
    touched = web.post(f"/leads/{lead}/touches", data={"csrf": csrf_of(page), "kind": "call", "outcome": "connected",
                                                      "note": "asked for pricing"})
    assert touched.status_code == 303
    with app.engine.connect() as conn:
        assert conn.scalar(select(h.touches.c.note).where(h.touches.c.lead_id == lead)) == "asked for pricing"
    assert "<blockquote>asked for pricing</blockquote>" in web.get(f"/leads/{lead}").text  # read back on the page
    bad = web.post(f"/leads/{lead}/touches", data={"csrf": csrf_of(page), "kind": "fax", "outcome": "sent"})
    assert bad.status_code == 422 and "unknown touch kind &#39;fax&#39;" in bad.text  # said on the page


@pytest.mark.parametrize("secret", ["lrk_not-a-real-token", ""])
def test_a_wrong_token_is_told_so_on_the_sign_in_page(web, secret):
    response = web.post("/login", data={"token": secret})
    assert response.status_code == 401 and 'role="alert"' in response.text and "set-cookie" not in response.headers


def test_a_write_key_cannot_sign_in(web, tokens):
    response = web.post("/login", data={"token": tokens.ingest})
    assert response.status_code == 401 and "write key cannot sign in" in response.text


def test_revoking_the_token_ends_its_sessions_and_a_tampered_cookie_is_no_session(app, web, tokens, people):
    from leadrelay.access.tokens import list_tokens

    sign_in(web, tokens.rep)
    assert web.get("/").status_code == 200
    rep_token = next(t for t in list_tokens(app.engine) if t.rep_id == people.rep)
    revoke_token(app.engine, rep_token.id, now=app.clock())
    assert web.get("/").headers["location"].startswith("/login")
    web.cookies.set("leadrelay_session", "forged")
    assert web.get("/").headers["location"].startswith("/login")


def test_a_one_time_link_signs_in_once(app, web, tokens, people):
    from leadrelay.access.tokens import list_tokens

    manager = next(t for t in list_tokens(app.engine) if t.role.value == "manager")
    code = create_login_link(app.engine, manager.id, now=app.clock())
    first = web.get(f"/login/{code}")
    assert first.status_code == 303 and web.get("/").status_code == 200  # a manager sees the team's queues
    again = web.get(f"/login/{code}")
    assert again.status_code == 401 and "used, expired or unknown" in again.text


def test_signing_out_ends_the_session_for_good(web, tokens):
    sign_in(web, tokens.rep)
    page = web.get("/")
    old = web.cookies.get("leadrelay_session")
    out = web.post("/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303 and "signed%20out" in out.headers["location"]
    web.cookies.set("leadrelay_session", old)  # the old cookie, kept by someone
    assert web.get("/").headers["location"].startswith("/login")


def test_the_cli_prints_a_one_time_link_and_refuses_a_write_key(app, web, tokens, database_url, tmp_path):
    from leadrelay.access.tokens import list_tokens
    from tests.e2e.cli import Cli

    cli = Cli(tmp_path, database_url)
    found = {t.role.value: t.id for t in list_tokens(app.engine)}
    run = cli("tokens", "login-link", str(found["marketing"]), "--base-url", "https://crm.example/", "--json")
    assert run.code == 0, run.err
    link = run.json()["link"]
    assert link.startswith("https://crm.example/login/") and run.json()["expires_in_s"] == 900
    assert web.get(link.removeprefix("https://crm.example")).status_code == 303
    refused = cli("tokens", "login-link", str(found["ingest"]))
    assert refused.code != 0 and "is a write key: it cannot sign in" in refused.err
    unknown = cli("tokens", "login-link", "999")
    assert unknown.code != 0 and "no live token 999" in unknown.err


def test_a_recycle_with_a_playbook_reason_lands_on_the_queue_and_a_made_up_reason_changes_nothing(app, web, tokens,
                                                                                              people):
    from leadrelay.lead.stages import Transition

    lead = add_lead(app, "back@corp.example", owner=people.rep, hand_raise=True)
    sign_in(web, tokens.rep)
    page = web.get(f"/leads/{lead}")
    reason = sorted(app.playbook.rules.reasons[Transition.RECYCLE])[0]
    assert f"<option>{reason}</option>" in page.text and ">Disqualify</button>" in page.text
    made_up = web.post(f"/leads/{lead}/recycle", data={"csrf": csrf_of(page), "reason": "felt like it"})
    assert made_up.status_code in (400, 422) and 'role="alert"' in made_up.text
    assert "<dt>Stage</dt><dd>sal</dd>" in web.get(f"/leads/{lead}").text  # still where it was
    done = web.post(f"/leads/{lead}/recycle", data={"csrf": csrf_of(page), "reason": reason})
    # Back to the queue, which says so: the lead is back with marketing, no longer the rep's to open.
    assert (done.status_code, done.headers["location"]) == (
        303, f"/?done=lead%20{lead}%20%28back%40corp.example%29%20recycled")
    assert "Done: lead %d (back@corp.example) recycled." % lead in web.get(done.headers["location"]).text
    assert web.get(f"/leads/{lead}").status_code == 404


def test_a_manager_sees_a_breach_on_the_board_and_reassigns_it_and_a_rep_has_no_board(app, web, tokens, people,
                                                                                        clock):
    lead = add_lead(app, "late@corp.example", owner=people.rep, hand_raise=True)
    clock.advance(days=3)  # long past the accept deadline: a breach whether or not the worker ran
    sign_in(web, tokens.manager)
    board = web.get("/board")
    assert board.status_code == 200
    row = re.search(r'<tr class="(\w+)">\s*<td><a href="/leads/%d">late@corp.example' % lead, board.text)
    assert row and row.group(1) == "breached"
    moved = web.post(f"/leads/{lead}/reassign", data={"csrf": csrf_of(board), "to": people.teammate})
    assert moved.status_code == 303, moved.text
    with app.engine.connect() as conn:
        owner = conn.scalar(select(h.handoffs.c.owner).where(h.handoffs.c.lead_id == lead,
                                                             h.handoffs.c.status != "closed"))
    assert owner == people.teammate
    stranger = web.post(f"/leads/{lead}/reassign", data={"csrf": csrf_of(board), "to": people.stranger})
    assert stranger.status_code in (403, 404) and 'role="alert"' in stranger.text  # not their team's rep
    web.cookies.clear()
    sign_in(web, tokens.rep)
    assert web.get("/board").status_code == 404


def test_the_board_counts_no_breach_against_a_rep_who_rejected_a_lead_before_its_deadline(app, web, tokens, people,
                                                                                           clock):
    from leadrelay.handoff import service as rep_actions

    lead = add_lead(app, "early@corp.example", owner=people.rep, hand_raise=True)
    rep_actions.reject(app, lead, rep=people.rep, reason="not_a_buyer")  # long before the first touch was due
    clock.advance(days=3)
    sign_in(web, tokens.manager)
    speed = web.get("/board").text.split('id="speed"')[1]  # per rep: speed to lead, persistence, SLA compliance
    row = re.search(r"<tr><td>%s</td>(.*?)</tr>" % people.rep, speed, re.S)
    assert row, speed
    assert re.findall(r"<td>([^<]*)</td>", row.group(1))[-1] == "–"  # SLA compliance: nothing met or breached


def test_a_rep_marks_their_own_days_away_and_a_backwards_range_is_refused(app, web, tokens, people):
    sign_in(web, tokens.rep)
    page = web.get("/")
    done = web.post("/away", data={"csrf": csrf_of(page), "from": "2026-12-21", "to": "2026-12-24"})
    assert done.status_code == 303
    assert "2026-12-21 to 2026-12-24" in web.get("/").text
    backwards = web.post("/away", data={"csrf": csrf_of(page), "from": "2026-12-24", "to": "2026-12-21"})
    assert backwards.status_code == 422 and "before 2026-12-24" in backwards.text
    garbled = web.post("/away", data={"csrf": csrf_of(page), "from": "next week", "to": "2026-12-21"})
    assert garbled.status_code == 422 and "from: &#39;next week&#39; is not a date" in garbled.text


def test_the_api_docs_load_nothing_from_a_cdn(web):
    page = web.get("/docs")
    assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text
    assert not re.search(r"https?://", re.sub(r"https?://(www\.)?w3\.org[^\"']*", "", page.text))
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert web.get(f"/docs-assets/{asset}").status_code == 200
    assert web.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served


def test_what_people_typed_is_shown_as_text_never_as_markup(app, web, tokens, people):
    lead = add_lead(app, "xss@corp.example", owner=people.rep, hand_raise=True, title="<b>CEO</b>")
    sign_in(web, tokens.rep)
    page = web.get(f"/leads/{lead}")
    web.post(f"/leads/{lead}/touches", data={"csrf": csrf_of(page), "kind": "call", "outcome": "connected",
                                            "note": "<script>alert(1)</script>"})
    text = web.get(f"/leads/{lead}").text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<b>CEO</b>" not in text and "&lt;b&gt;CEO&lt;/b&gt;" in text


def test_a_form_sent_twice_or_after_the_lead_went_to_someone_else_changes_nothing_and_says_why(app, web, tokens,
                                                                                                people):
    from leadrelay.handoff import service as rep_actions

    lead = add_lead(app, "twice@corp.example", owner=people.rep, hand_raise=True)
    sign_in(web, tokens.rep)
    page = web.get(f"/leads/{lead}")
    form = {"csrf": csrf_of(page), "version": re.search(r'name="version" value="(\d+)"', page.text).group(1)}
    assert web.post(f"/leads/{lead}/accept", data=form).status_code == 303
    again = web.post(f"/leads/{lead}/accept", data=form)  # the same form, sent again (a double click)
    assert again.status_code in (400, 409) and 'role="alert"' in again.text
    rep_actions.reassign(app, lead, actor="user:manager", to=people.teammate)  # taken in the meantime
    late = web.post(f"/leads/{lead}/touches", data={"csrf": form["csrf"], "kind": "call", "outcome": "connected"})
    assert late.status_code == 404 and f"no lead {lead}" in late.text
    with app.engine.connect() as conn:
        assert conn.scalar(select(h.touches.c.id).where(h.touches.c.lead_id == lead)) is None


def test_the_queue_shows_engagement_decayed_to_now_as_the_lead_page_does(app, client, tokens, people, clock):
    from leadrelay.activity.service import ingest
    from leadrelay.lead.queries import explain_lead
    from tests.messages import numbered, page

    lead = add_lead(app, "decay@corp.example", owner=people.rep, hand_raise=True)
    ingest(app, numbered([page("/pricing", user="decay@corp.example", when=clock())]))
    stored = explain_lead(app, lead)["engagement_score"]
    clock.advance(days=21)  # the starter playbook's half-life
    now = explain_lead(app, lead)["engagement_score"]
    assert stored > 0 and now == pytest.approx(stored / 2, abs=0.01)
    [item] = client.get("/api/queue", headers={"Authorization": f"Bearer {tokens.rep}"}).json()["handoffs"]
    assert item["engagement_score"] == now


def test_a_session_ends_after_twelve_hours_and_says_so(web, tokens, clock):
    sign_in(web, tokens.rep)
    clock.advance(hours=11, minutes=59)
    assert web.get("/").status_code == 200
    clock.advance(minutes=2)
    expired = web.get("/")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")
    assert "your session has ended: sign in again" in web.get(expired.headers["location"]).text


def test_a_rep_books_a_meeting_in_their_own_time_zone_and_marks_it_a_no_show_from_the_lead_page(
        app, web, tokens, people, clock):
    lead = add_lead(app, "meeting@corp.example", owner=people.rep, hand_raise=True)
    sign_in(web, tokens.rep)
    page = web.get(f"/leads/{lead}")
    zone = app.playbook.rules.handoff.directory.reps[people.rep].calendar.timezone
    assert f"Meeting starts ({zone})" in page.text and ">Book meeting</button>" in page.text
    bad = web.post(f"/leads/{lead}/meetings", data={"csrf": csrf_of(page), "starts": "next week"})
    assert bad.status_code == 422 and "starts: not a date and time" in bad.text
    from zoneinfo import ZoneInfo

    local = (clock() + timedelta(hours=2)).astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
    booked = web.post(f"/leads/{lead}/meetings", data={"csrf": csrf_of(page),
                                                       "starts": local.strftime("%Y-%m-%dT%H:%M")})
    assert booked.headers["location"] == f"/leads/{lead}?done=meeting%20booked"
    with app.engine.connect() as conn:
        meeting_id, starts = conn.execute(select(h.meetings.c.id, h.meetings.c.starts_at)
                                          .where(h.meetings.c.lead_id == lead)).one()
    assert starts == local.astimezone(UTC)  # read in the rep's zone, stored in UTC
    page = web.get(booked.headers["location"])
    assert ">No-show</button>" in page.text
    clock.advance(hours=2, minutes=30)  # (a session lasts twelve hours)
    missed = web.post(f"/leads/{lead}/meetings/{meeting_id}/no_show", data={"csrf": csrf_of(page)})
    assert missed.headers["location"] == f"/leads/{lead}?done=meeting%20marked%20a%20no-show"
    page = web.get(missed.headers["location"])
    assert "no-show" in page.text and "due " in page.text and ">No-show</button>" not in page.text
    other = web.post(f"/leads/{lead}/meetings/999999/held", data={"csrf": csrf_of(page)})
    assert other.status_code == 404 and f"lead {lead} has no meeting 999999" in other.text


def test_a_reps_deadlines_are_shown_in_their_own_time_zone_on_the_queue_and_the_lead_page(app, web, tokens, people):
    """Found trying the product: a rep in Chicago read "accept: due 18:00 UTC" on the queue, beside a meeting
    field labelled in Chicago time, and the lead page showed no deadline at all nor the lead's name."""
    lead = add_lead(app, "wes@corp.example", owner=people.rep, hand_raise=True, first_name="Wes", last_name="Ng")
    zone = ZoneInfo(app.playbook.rules.handoff.directory.reps[people.rep].calendar.timezone)
    with app.engine.connect() as conn:
        due = conn.scalar(select(h.handoffs.c.first_touch_due_at).where(h.handoffs.c.lead_id == lead))
    local = due.astimezone(zone)
    shown = local.strftime("%Y-%m-%d %H:%M ") + local.tzname()
    sign_in(web, tokens.rep)
    assert f"first touch: due {shown}" in web.get("/").text
    page = web.get(f"/leads/{lead}").text
    assert f"first touch: due {shown}" in page
    assert "<h1>Wes Ng <small>wes@corp.example</small></h1>" in page
