"""The Handoff aggregate and its SLA ladders, pure: no database, time passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.core.errors import InvalidPlaybook, InvalidTransition
from leadrelay.handoff.model import TRANSITIONS, Handoff, HandoffOutcome, HandoffStatus, Step
from leadrelay.playbook.loader import parse_playbook, starter_playbook, starter_text

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def handoff(**kw) -> Handoff:
    return Handoff(id=1, lead_id=7, kind="mql", from_function="marketing", to_function="sdr", opened_at=T0, **kw)


def test_a_handoff_goes_queued_assigned_accepted_working_closed():
    x = handoff()
    x.assign("ann", "sdr_a", T0)
    assert (x.status, x.owner, x.assigned_at) == (HandoffStatus.ASSIGNED, "ann", T0)
    x.accept(T0 + timedelta(minutes=5))
    assert x.status is HandoffStatus.ACCEPTED
    x.touch(T0 + timedelta(minutes=9))
    x.touch(T0 + timedelta(minutes=7))  # logged late: the first touch is the earliest
    assert (x.status, x.touches, x.first_touch_at, x.last_touch_at) == (
        HandoffStatus.WORKING, 2, T0 + timedelta(minutes=7), T0 + timedelta(minutes=9))
    x.close(HandoffOutcome.ADVANCED, None, T0 + timedelta(hours=1))
    assert (x.status, x.outcome) == (HandoffStatus.CLOSED, HandoffOutcome.ADVANCED)


def test_a_reassigned_handoff_keeps_what_was_done_on_it():
    x = handoff()
    x.assign("ann", "sdr_a", T0)
    x.accept(T0)
    x.assign("bob", "sdr_a", T0 + timedelta(hours=1))
    assert (x.status, x.owner, x.accepted_at) == (HandoffStatus.ACCEPTED, "bob", T0)


@pytest.mark.parametrize(("setup", "step", "message"), [
    (lambda x: None, lambda x: x.accept(T0), "handoff 1 is queued: cannot accept it"),
    (lambda x: None, lambda x: x.touch(T0), "handoff 1 is queued: cannot touch it"),
    (lambda x: x.assign("ann", None, T0), lambda x: (x.accept(T0), x.accept(T0)), "lead 7 was already accepted"),
    (lambda x: x.close(HandoffOutcome.REJECTED, "bad_fit", T0), lambda x: x.assign("ann", None, T0),
     "handoff 1 is closed: cannot assign it"),
    (lambda x: x.close(HandoffOutcome.REJECTED, "bad_fit", T0), lambda x: x.close(HandoffOutcome.RECYCLED, "x", T0),
     "handoff 1 is closed: cannot close it"),
])
def test_steps_the_transition_table_does_not_allow_are_refused(setup, step, message):
    x = handoff()
    setup(x)
    with pytest.raises(InvalidTransition, match=message):
        step(x)


def test_every_open_status_can_close_and_nothing_leaves_closed():
    for status in HandoffStatus:
        assert ((status, Step.CLOSE) in TRANSITIONS) == status.is_open
    assert not [key for key in TRANSITIONS if key[0] is HandoffStatus.CLOSED]


def test_a_rep_who_missed_the_deadline_is_excluded_once_and_loaded_history_is_quiet():
    x = handoff(quiet_until=T0)
    x.exclude("ann")
    x.exclude("ann")
    assert x.excluded == ("ann",)
    assert x.quiet_at(T0 - timedelta(days=3)) and not x.quiet_at(T0 + timedelta(seconds=1))


def test_the_starter_ladder_belongs_to_the_accept_clock_and_the_touches_clock_has_none():
    policy = starter_playbook().rules.handoff.policies["mql"]
    assert [r.action for r in policy.ladders["accept"]] == [
        "notify_rep", "notify_manager", "reassign", "return_to_marketing"]
    assert "touches" not in policy.ladders


def test_a_ladder_per_clock_is_compiled_as_written():
    text = starter_text().replace(
        "      escalation:\n        - {after: 0m, action: notify_rep}\n        - {after: 4h, action: notify_manager}\n"
        "        - {after: 8h, action: reassign}\n        - {after: 24h, action: return_to_marketing}",
        "      max_reassignments: 2\n      escalation:\n        accept:\n          - {after: 8h, action: reassign, "
        "restart_clock: true}\n          - {after: 24h, action: return_to_marketing}\n        touches:\n"
        "          - {after: 0m, action: notify_manager}")
    policy = parse_playbook(text, "p.yaml").rules.handoff.policies["mql"]
    assert [(r.action, r.restart_clock) for r in policy.ladders["accept"]] == [
        ("reassign", True), ("return_to_marketing", False)]
    assert [r.action for r in policy.ladders["touches"]] == ["notify_manager"]
    assert policy.max_reassignments == 2


LADDER = "        - {after: 0m, action: notify_rep}\n        - {after: 4h, action: notify_manager}\n" \
         "        - {after: 8h, action: reassign}\n        - {after: 24h, action: return_to_marketing}"


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(("ladder", "needle", "issue"), [
    (LADDER + "\n        - {after: 30h, action: notify_manager}", "{after: 30h",
     "sla.policies[1].escalation[4]: step 5 (notify_manager) can never run: the step before returns "
     "the lead to marketing, which ends the handoff"),
    (LADDER.replace("action: reassign}", "action: reassign, restart_clock: true}"), "restart_clock",
     "sla.policies[1].escalation[2]: this reassign restarts the clock, so policy 'mql_acceptance' would "
     "reassign the lead forever: set `max_reassignments` on the policy"),
    (LADDER.replace("action: notify_rep}", "action: notify_rep, restart_clock: true}"), "restart_clock",
     "sla.policies[1].escalation[0]: `restart_clock` applies to a reassign step, not notify_rep"),
])
def test_a_ladder_that_can_never_end_is_refused_with_its_line(ladder, needle, issue):
    text = starter_text().replace(LADDER, ladder)
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(text, "p.yaml")
    assert info.value.issues == [f"p.yaml:{line_of(text, needle)}: {issue}"]


@pytest.mark.parametrize(("change", "needle", "issue"), [
    (("      accept_within: 24h\n      follow_up_within: 8h\n      escalation:",
      "      touches: {count: 2, within: 1d}\n      escalation:  # a list"), "escalation:  # a list",
     "sla.policies[2].escalation: policy 'sql_acceptance' has no accept or first-touch deadline, and a list ladder "
     "runs on those clocks: write `escalation: {touches: [...]}`"),
    (("      warn_before: 2m", "      warn_before: 5m"), "warn_before: 5m",
     "sla.policies[0].warn_before: warn_before (5m) is not shorter than the first touch deadline, so no warning "
     "would be sent for it"),
])
def test_a_policy_that_could_never_work_as_written_is_refused_with_its_line(change, needle, issue):
    text = starter_text().replace(*change)
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(text, "p.yaml")
    first = needle.split("\n")[-1] if needle.startswith("\n") else needle.split("\n")[0]
    assert issue in [i.split(": ", 1)[1] for i in info.value.issues], info.value.issues
    assert any(i.startswith(f"p.yaml:{line_of(text, first)}: ") for i in info.value.issues), info.value.issues
