"""Meetings over HTTP and the CLI: a rep books and works meetings on their own leads, a manager on their team's;
bad requests are told with what and where, and change nothing."""

from datetime import timedelta

from tests.api.conftest import add_lead, bearer
from tests.e2e.cli import Cli


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_rep_books_a_meeting_and_a_manager_marks_the_no_show(client, app, tokens, people, clock):
    lead = add_lead(app, "meet@corp.example", owner=people.rep, hand_raise=True)
    rep, manager = bearer(tokens.rep), bearer(tokens.manager)
    starts = clock() + timedelta(days=1)
    made = client.post(f"/api/leads/{lead}/meetings", json={"starts_at": iso(starts), "external_id": "cal-9"},
                       headers=rep)
    assert made.status_code == 201, made.text
    meeting = made.json()
    assert (meeting["status"], meeting["host"], meeting["source"], meeting["starts_at"]) == (
        "booked", people.rep, "api", iso(starts))
    assert client.get(f"/api/leads/{lead}/qualification", headers=rep).json()["meeting_booked"] is True
    early = client.post(f"/api/meetings/{meeting['id']}/no-show", headers=manager)
    assert (early.status_code, early.json()["code"]) == (422, "invalid_input")
    assert "cannot be no-show" in early.json()["message"]
    clock.advance(days=1, minutes=15)
    missed = client.post(f"/api/meetings/{meeting['id']}/no-show", headers=manager)
    assert missed.status_code == 200, missed.text
    assert missed.json()["status"] == "no_show"
    assert client.get(f"/api/leads/{lead}/qualification", headers=rep).json()["meeting_booked"] is False
    listed = client.get(f"/api/leads/{lead}/meetings", headers=rep).json()
    assert [(m["id"], m["status"], m["external_id"]) for m in listed] == [(meeting["id"], "no_show", "cal-9")]
    again = client.post(f"/api/meetings/{meeting['id']}/held", headers=rep)
    assert (again.status_code, again.json()["code"]) == (422, "invalid_transition")


def test_a_rep_cannot_touch_another_reps_meetings_and_bad_bodies_are_told(client, app, tokens, people, clock):
    theirs = add_lead(app, "theirs-meet@corp.example", owner=people.teammate, hand_raise=True)
    mine = add_lead(app, "mine-meet@corp.example", owner=people.rep, hand_raise=True)
    rep = bearer(tokens.rep)
    assert client.post(f"/api/leads/{theirs}/meetings", json={}, headers=rep).status_code == 404
    booked = client.post(f"/api/leads/{theirs}/meetings", json={}, headers=bearer(tokens.manager)).json()
    assert client.post(f"/api/meetings/{booked['id']}/cancel", headers=rep).json() == {
        "code": "not_found", "message": f"no meeting {booked['id']}"}  # as if it did not exist
    assert client.post("/api/meetings/999999/cancel", headers=rep).json()["code"] == "not_found"
    no_time = client.post(f"/api/meetings/{booked['id']}/reschedule", json={}, headers=bearer(tokens.manager))
    assert no_time.status_code == 422 and "starts_at" in no_time.text
    unknown = client.post(f"/api/leads/{mine}/meetings", json={"host": "nobody"}, headers=rep)
    assert (unknown.status_code, unknown.json()["message"]) == (
        404, "no rep 'nobody' in the playbook (a rep's id or email)")
    extra = client.post(f"/api/leads/{mine}/meetings", json={"when": "now"}, headers=rep)
    assert extra.status_code == 422
    # a date alone was booked at midnight UTC, a number as seconds since 1970, a year 9999 taken (user trials)
    for moment in ("2026-12-09", "2026-12-09T15:00:00", 1765292400, "9999-12-31T23:59:59Z"):
        vague = client.post(f"/api/leads/{mine}/meetings", json={"starts_at": moment}, headers=rep)
        assert vague.status_code == 422 and "starts_at" in vague.text, vague.text
    first = client.post(f"/api/leads/{mine}/meetings", json={"external_id": "x1"}, headers=rep)
    dup = client.post(f"/api/leads/{mine}/meetings", json={"external_id": "x1"}, headers=rep)
    assert first.status_code == 201 and (dup.status_code, dup.json()["message"]) == (
        422, f"lead {mine} already has meeting 'x1'")
    assert len(client.get(f"/api/leads/{mine}/meetings", headers=rep).json()) == 1
    assert client.post(f"/api/leads/{mine}/meetings", json={}, headers=bearer(tokens.marketing)).status_code == 403


def test_the_cli_books_reschedules_and_holds_a_meeting(app, people, database_url, tmp_path, clock):
    lead = add_lead(app, "cli-meet@corp.example", owner=people.rep, hand_raise=True)
    cli = Cli(tmp_path, database_url)
    starts = clock() + timedelta(hours=2)
    booked = cli("meetings", "book", str(lead), "--rep", people.rep, "--starts", starts.isoformat(), "--json",
                 "--at", clock().isoformat())  # (the CLI's clock is the real one; the lead's is the test's)
    assert booked.code == 0, booked.err
    meeting = booked.json()["id"]
    moved = cli("meetings", "reschedule", str(meeting), "--starts", (starts + timedelta(hours=1)).isoformat(),
                "--by", "mgr")
    assert moved.code == 0 and "rescheduled: booked" in moved.out
    held = cli("meetings", "held", str(meeting), "--at", (starts + timedelta(hours=1, minutes=5)).isoformat())
    assert held.code == 0, held.err
    listed = cli("meetings", "list", str(lead))
    assert "held" in listed.out and "1x" in listed.out
    shown = cli("leads", "show", str(lead))
    assert "Meetings" in shown.out and "held" in shown.out
    bad = cli("meetings", "book", str(lead), "--starts", "tomorrow")
    assert bad.code == 2 and "not an ISO-8601 moment" in bad.err
    wrong = cli("meetings", "no-show", str(meeting))
    assert wrong.code == 1 and f"meeting {meeting} is held: cannot mark it a no-show" in wrong.err
