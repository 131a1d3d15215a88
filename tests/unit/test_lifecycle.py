from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.core.errors import InvalidTransition
from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import Outcome, process
from leadrelay.lead.lifecycle import move
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage, Transition, check_transition
from leadrelay.playbook.loader import parse_playbook

T0 = datetime(2026, 10, 1, tzinfo=UTC)

RULES = parse_playbook("""
name: lifecycle test
qualification:
  competitors: [rival.com]
  served_countries: [US, DE]
personas:
  - {id: buyer, titles: ['\\bvp\\b']}
scoring:
  fit:
    rules:
      - {id: buyer, when: {persona: buyer}, points: 50}
  engagement:
    half_life_days: 1
    rules:
      - {id: pricing, when: {path: /pricing}, points: 20}
stages:
  lead: {owner: marketing, entry: {engagement: {">=": 1}}}
  mql: {owner: marketing, entry: {all: [{fit: {">=": 50}}, {engagement: {">=": 30}}]}}
hand_raisers:
  - {id: demo, when: {event: Demo Requested}}
""", "lifecycle.yaml").rules

_n = iter(range(10_000))


def act(kind="page", *, hours=0.0, path=None, event=None, user="u1", **traits):
    return Activity(source="t", message_id=f"m{next(_n)}", type=kind, occurred_at=T0 + timedelta(hours=hours),
                    received_at=T0, user_id=user, anonymous_id="a1", email=traits.get("email"), name=event,
                    properties={"path": path} if path else {}, traits=traits)


def run(lead, *activities):
    outcome = Outcome()
    process(lead, list(activities), RULES, outcome)
    return [(c.from_stage and c.from_stage.value, c.to_stage.value, c.transition.value, c.actor)
            for c in outcome.stage_changes]


def known_lead(**traits):
    lead = Lead()
    run(lead, act("identify", **({"email": "ann@acme.io", "title": "VP Sales", "country": "US"} | traits)))
    return lead


def test_a_lead_enters_the_funnel_when_it_becomes_known():
    lead = Lead()
    assert run(lead, act(path="/x", user=None)) == [] and lead.stage is None  # anonymous: not in the funnel
    assert run(lead, act("identify", hours=1, email="ann@acme.io")) == [
        (None, "subscriber", "identify", "rule:identify")]


def test_entry_criteria_move_a_lead_to_the_furthest_stage_that_fired():
    lead = known_lead()
    assert run(lead, act(hours=1, path="/pricing"), act(hours=1.1, path="/pricing")) == [
        ("subscriber", "lead", "advance", "rule:stage.lead.entry"),
        ("lead", "mql", "advance", "rule:stage.mql.entry"),
    ]
    assert lead.furthest_stage is Stage.MQL


def test_a_recycled_lead_does_not_bounce_back_until_the_criteria_re_arm():
    lead = known_lead()
    run(lead, act(hours=1, path="/pricing"), act(hours=1.1, path="/pricing"))
    move(lead, Transition.RECYCLE, Stage.LEAD, at=T0 + timedelta(hours=2), actor="user:sam", reason="not_ready")
    assert lead.segment == "recycled"
    assert run(lead, act(hours=2.5, path="/pricing")) == []  # still above the bar: no re-fire
    # Two days of silence decay engagement below 30: the MQL criteria re-arm, then fire again.
    assert run(lead, act(hours=50, path="/x"), act(hours=51, path="/pricing"), act(hours=51.5, path="/pricing")) == [
        ("lead", "mql", "advance", "rule:stage.mql.entry")]


def test_a_hand_raiser_skips_straight_to_sal():
    lead = known_lead()
    assert run(lead, act("track", hours=1, event="Demo Requested")) == [
        ("subscriber", "sal", "hand_raise", "rule:hand_raiser.demo")]


def test_disqualifiers_hold_whatever_the_score_and_block_hand_raisers():
    lead = Lead()
    changes = run(lead, act("identify", email="bob@rival.com", title="VP"),
                  act("track", hours=1, event="Demo Requested"))
    assert changes[-1] == ("subscriber", "disqualified", "disqualify", "rule:qualification.competitor")
    assert lead.stage is Stage.DISQUALIFIED


def test_a_rule_disqualified_lead_reopens_where_it_was_once_the_rule_no_longer_holds():
    lead = known_lead()
    run(lead, act(hours=1, path="/pricing"))
    assert run(lead, act("identify", hours=2, country="Brazil"))[-1][1:3] == ("disqualified", "disqualify")
    assert run(lead, act("identify", hours=3, country="Germany")) == [
        ("disqualified", "lead", "reopen", "rule:qualification.auto_reopen")]


def test_unknown_countries_never_disqualify():
    lead = known_lead(country="Atlantis")
    assert lead.stage is Stage.SUBSCRIBER and lead.country is None


@pytest.mark.parametrize("kind,current,target,reason,message", [
    (Transition.RECYCLE, Stage.SAL, Stage.LEAD, None, "recycle needs a reason code"),
    (Transition.RECYCLE, Stage.SUBSCRIBER, Stage.LEAD, "not_ready", "cannot recycle a lead from subscriber to lead"),
    (Transition.ADVANCE, Stage.SQL, Stage.MQL, None, "cannot advance a lead from sql to mql"),
    (Transition.ADVANCE, Stage.DISQUALIFIED, Stage.SAL, None, "cannot advance a lead from disqualified to sal"),
    (Transition.REOPEN, Stage.LEAD, Stage.MQL, "new_information", "cannot reopen a lead from lead to mql"),
    (Transition.DISQUALIFY, Stage.DISQUALIFIED, Stage.DISQUALIFIED, "spam", "cannot disqualify"),
])
def test_the_transition_table_refuses_moves_it_does_not_list(kind, current, target, reason, message):
    with pytest.raises(InvalidTransition, match=message):
        check_transition(kind, current, target, reason)


def test_backward_moves_need_a_reason_and_are_recorded_with_actor_and_reason():
    lead = known_lead()
    run(lead, act("track", hours=1, event="Demo Requested"))
    change = move(lead, Transition.REJECT, Stage.LEAD, at=T0 + timedelta(hours=3), actor="user:sam", reason="bad_fit")
    assert (change.from_stage, change.to_stage, change.actor, change.reason) == (
        Stage.SAL, Stage.LEAD, "user:sam", "bad_fit")
    assert lead.stage is Stage.LEAD and lead.furthest_stage is Stage.SAL
