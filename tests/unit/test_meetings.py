"""The meeting model (which step may follow which, when a meeting may be held or missed), round-robin credit
rules, reading a scheduler's tracks, and the playbook's `meetings:` and follow-up clock checked with file:line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.core.errors import InvalidInput, InvalidTransition
from leadrelay.handoff.meeting_service import read_track
from leadrelay.handoff.meetings import Credit, Meeting, MeetingRules, MeetingStatus, MeetingStep
from leadrelay.handoff.model import Handoff
from leadrelay.handoff.sla import FOLLOW_UP, Policy, plan, restart
from leadrelay.lead.activities import Activity
from leadrelay.playbook.loader import parse_playbook

T = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def meeting(starts: datetime | None = T + timedelta(days=1)) -> Meeting:
    return Meeting(1, 7, "alice", booked_at=T, starts_at=starts)


@pytest.mark.parametrize("step", [MeetingStep.HELD, MeetingStep.NO_SHOW, MeetingStep.CANCEL])
def test_a_meeting_ends_once(step):
    m = meeting()
    m.end(step, T + timedelta(days=1, minutes=30))
    for again in (MeetingStep.HELD, MeetingStep.NO_SHOW, MeetingStep.CANCEL):
        with pytest.raises(InvalidTransition, match=f"is {m.status.value.replace('_', '-')}: cannot"):
            m.end(again, T + timedelta(days=2))
    if step is MeetingStep.NO_SHOW:  # the lead books the missed meeting again
        m.reschedule(T + timedelta(days=3), T + timedelta(days=2))
        assert (m.status, m.ended_at, m.reschedules) == (MeetingStatus.BOOKED, None, 1)
    else:
        with pytest.raises(InvalidTransition, match="cannot reschedule it"):
            m.reschedule(T + timedelta(days=3), T + timedelta(days=3))


def test_nothing_happens_to_a_meeting_before_it_was_booked():
    with pytest.raises(InvalidInput, match="was booked at 2026-10-01T09:00:00Z: cannot cancel it at "):
        meeting().end(MeetingStep.CANCEL, T - timedelta(hours=1))


def test_a_rescheduled_meeting_is_still_booked_at_its_new_time():
    m = meeting()
    m.reschedule(T + timedelta(days=4), T + timedelta(hours=1))
    m.reschedule(T + timedelta(days=5), T + timedelta(hours=2))
    assert (m.status, m.starts_at, m.reschedules) == (MeetingStatus.BOOKED, T + timedelta(days=5), 2)


def test_a_meeting_is_held_or_missed_only_from_its_start_but_canceled_any_time():
    for step in (MeetingStep.HELD, MeetingStep.NO_SHOW):
        with pytest.raises(InvalidInput, match="starts at 2026-10-02T09:00:00Z"):
            meeting().end(step, T + timedelta(hours=23))
    m = meeting()
    m.end(MeetingStep.CANCEL, T + timedelta(hours=1))
    assert m.status is MeetingStatus.CANCELED
    untimed = meeting(starts=None)  # a rep's "meeting booked" touch: no time to check against
    untimed.end(MeetingStep.NO_SHOW, T)
    assert not untimed.status.counts_as_booked


def test_only_booked_and_held_meetings_count_for_the_gate():
    assert {s for s in MeetingStatus if s.counts_as_booked} == {MeetingStatus.BOOKED, MeetingStatus.HELD}


def test_credit_is_taken_back_as_the_playbook_says():
    assert Credit(1).refunds(MeetingStep.NO_SHOW) and Credit(1).refunds(MeetingStep.CANCEL)
    keep = Credit(1, no_show="keep", canceled="keep")
    assert not keep.refunds(MeetingStep.NO_SHOW) and not keep.refunds(MeetingStep.CANCEL)
    assert not Credit(1).refunds(MeetingStep.HELD)


def test_the_follow_up_clock_starts_at_a_no_show_and_a_later_touch_meets_it():
    policy = Policy("p", "hand_raise", business=False, first_touch=timedelta(minutes=5), follow_up=timedelta(days=1),
                    ladders={})
    due, timers = plan(policy, T, None)
    assert set(due) == {"first_touch"}  # not planned when the handoff opens
    follow_due, follow_timers = restart(policy, FOLLOW_UP, T + timedelta(hours=2), None)
    assert follow_due == T + timedelta(days=1, hours=2) and [t.step for t in follow_timers] == ["breach"]
    handoff = Handoff(1, 7, "hand_raise", "marketing", "sdr", T)
    assert not handoff.follow_up_done(T)  # nothing owed
    handoff.open_follow_up(T + timedelta(hours=2))
    assert not handoff.follow_up_done(T + timedelta(hours=1))  # a touch before the no-show is not a follow-up
    assert handoff.met_at(FOLLOW_UP) is None
    assert handoff.follow_up_done(T + timedelta(hours=3))
    assert handoff.met_at(FOLLOW_UP) == T + timedelta(hours=3)
    assert not handoff.follow_up_done(T + timedelta(hours=4))  # once


def track(event: str, **properties) -> Activity:
    return Activity("test", "m1", "track", T, T, user_id="u1", name=event, properties=properties)


def test_a_schedulers_tracks_are_read_with_their_meeting_id_time_and_host():
    rules = MeetingRules()
    found = read_track(rules, track("meeting booked", meetingId=42, startTime="2026-10-02t15:00:00z",
                                    hostEmail="Alice@acme.example"))
    assert (found.step, found.external_id, found.starts_at, found.host) == (
        MeetingStep.BOOK, "42", datetime(2026, 10, 2, 15, tzinfo=UTC), "Alice@acme.example")
    assert read_track(rules, track("Meeting No-Show")).step is MeetingStep.NO_SHOW
    assert read_track(rules, track("Demo Requested")) is None


@pytest.mark.parametrize(("event", "properties", "message"), [
    ("Meeting Booked", {"startTime": "soon"}, "properties.startTime: not an ISO-8601 date and time: 'soon'"),
    ("Meeting Booked", {"start_time": 1700000000}, "properties.start_time: not an ISO-8601 date and time"),
    ("Meeting Booked", {"meetingId": {"a": 1}}, "properties.meetingId: expected the scheduler's meeting id"),
    ("Meeting Booked", {"meeting_id": True}, "properties.meeting_id: expected the scheduler's meeting id"),
    ("Meeting Rescheduled", {"meetingId": "x"}, "needs the new time (properties.startTime)"),
])
def test_a_malformed_meeting_track_says_which_property(event, properties, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_track(MeetingRules(), track(event, **properties))


def test_the_playbook_names_its_own_meeting_events_and_credit():
    playbook = parse_playbook("name: x\nmeetings:\n  events: {booked: [Call Scheduled], no_show: [Call Missed]}\n"
                              "  credit: {booked: 2, no_show: keep, reassigned: keep}\n", "x.yaml")
    rules = playbook.rules.handoff.meetings
    assert rules.step_of("call scheduled") is MeetingStep.BOOK and rules.step_of("Meeting Booked") is None
    assert rules.step_of("Meeting Held") is MeetingStep.HELD  # a step not named keeps its defaults
    assert rules.credit == Credit(2, "keep", "refund", "keep")


@pytest.mark.parametrize(("text", "message"), [
    ("meetings: {events: {booked: [Met], held: [met]}}", "'met' is both a booked and a held event"),
    ("meetings: {events: {booked: ['']}}", "booked: an event name cannot be empty"),
    ("meetings: {credit: {booked: -1}}", "greater than or equal to 0"),
    ("meetings: {credit: {no_show: forgive}}", "'keep' or 'refund'"),
    ("meetings: {held: [x]}", "unknown key 'held'"),
    ("sla: {policies: [{id: p, handoff: mql, follow_up_within: 1m, warn_before: 2m}]}",
     "warn_before (2m) is not shorter than the follow up deadline"),
])
def test_a_bad_meetings_section_is_refused_with_its_line(text, message):
    from leadrelay.playbook.service import validate

    issues = validate(f"name: bad\n{text}\n", "bad.yaml")
    assert any(issue.startswith("bad.yaml:2: ") and message in issue for issue in issues), issues


def test_a_follow_up_ladder_needs_the_follow_up_clock():
    from leadrelay.playbook.service import validate

    text = """name: bad
teams: [{id: t, function: sdr}]
reps: [{id: a, name: A, email: a@x.example, team: t}]
sla:
  policies:
    - id: p
      handoff: mql
      accept_within: 1h
      escalation:
        follow_up:
          - {after: 0m, action: notify_manager}
"""
    issues = validate(text, "bad.yaml")
    assert any(issue.startswith("bad.yaml:10: ") and "no follow_up deadline" in issue for issue in issues), issues
    fixed = validate(text.replace("accept_within: 1h", "follow_up_within: 1d"), "ok.yaml")
    assert not any("follow_up" in issue for issue in fixed), fixed


def test_the_readmes_meetings_example_is_a_valid_playbook():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Meetings: booked, rescheduled, held, no-show, canceled", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    rules = parse_playbook("name: readme\n" + example, "README.md").rules
    policy = rules.handoff.policies["hand_raise"]
    assert policy.follow_up == timedelta(days=1) and [r.action for r in policy.ladders["follow_up"]] == [
        "notify_manager"]
    assert rules.handoff.meetings.step_of("call scheduled") is MeetingStep.BOOK
    assert rules.handoff.meetings.credit == Credit(1, "refund", "refund", "move")
