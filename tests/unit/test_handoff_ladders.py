"""The handoff's escalation ladders, to the second, on a fake unit of work (no database).

The same desk, SLA clockwork, `move_lead` and worker sweep as in production run on stores
kept in memory (`tests/fakes.py`), so each behaviour is checked at the exact moments the
playbook sets. `tests/integration/test_handoff_model.py` holds the same bugs end to end on
SQLite and PostgreSQL.
"""

from datetime import timedelta

import pytest

from leadrelay.handoff.model import HandoffOutcome, HandoffStatus
from leadrelay.lead.stages import Stage, Transition
from tests.conftest import T0
from tests.fakes import World

PLAYBOOK = """
name: ladders
qualification: {webmail: {disqualify: false}}
scoring:
  fit: {rules: [{id: known, when: {email: {exists: true}}, points: 60}]}
stages:
  mql: {owner: sdr, entry: {fit: {">=": 50}}}
hand_raisers: [{id: demo, when: {event: Demo Requested}}]
calendars: {utc: {timezone: UTC, hours: {mon-sun: "00:00-24:00"}}}
teams:
  - {id: sdr_a, function: sdr, calendar: utc, manager: {name: Mia, email: mia@x.io}}
reps:
  - {id: ann, name: Ann, email: ann@x.io, team: sdr_a}
  - {id: bob, name: Bob, email: bob@x.io, team: sdr_a, active: %(bob)s}
  - {id: cat, name: Cat, email: cat@x.io, team: sdr_a, active: %(cat)s}
routing:
  rules: [{id: rest, team: sdr_a}]
sla:
  policies:
    - id: demo
      handoff: hand_raise
      clock: wall
%(clocks)s
%(ladder)s
"""

FIRST_TOUCH_5M = "      first_touch_within: 5m"
LADDER = """      escalation:
        - {after: 0m, action: notify_rep}
        - {after: 10m, action: reassign}
        - {after: 30m, action: return_to_marketing}"""


def world(*, bob: bool = True, cat: bool = False, clocks: str = FIRST_TOUCH_5M, ladder: str = LADDER) -> World:
    return World(PLAYBOOK % {"bob": str(bob).lower(), "cat": str(cat).lower(), "clocks": clocks, "ladder": ladder})


def demo_request(w: World, *, quiet: bool = False) -> int:
    """A known lead raises a hand at T0: the handoff opens and ann (first in the round robin) gets it."""
    lead = w.lead("pat@corp.io")
    w.move(lead.id, Transition.HAND_RAISE, Stage.SAL, T0, quiet=quiet, actor="rule:hand_raiser.demo",
           reason="hand-raiser 'demo'")
    return lead.id


def at(minutes: int, seconds: int = 0):
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def steps(w: World) -> list[tuple]:
    """Every breach and escalation, with the moment it happened."""
    return [(e["at"], e["type"], e["data"].get("action") or e["data"]["clock"], e["data"].get("result"))
            for e in w.events("SlaBreached", "Escalated")]


def test_a_ladder_runs_to_its_end_each_step_at_the_moment_the_playbook_sets():
    w = world()
    lead_id = demo_request(w)
    for minute in range(0, 41):  # a worker sweeping every minute
        w.sweep(at(minute))
    assert steps(w) == [
        (at(5), "SlaBreached", "first_touch", None),
        (at(5), "Escalated", "notify_rep", "notified the owner"),
        (at(15), "Escalated", "reassign", "reassigned to bob"),
        (at(35), "Escalated", "return_to_marketing", "returned to marketing"),
    ]
    assert [(e["at"], e["data"]["owner"]) for e in w.events("LeadAssigned")] == [(T0, "ann"), (at(15), "bob")]
    [handoff, returned] = w.handoffs(lead_id)
    assert ((handoff.status, handoff.outcome, handoff.closed_at)
            == (HandoffStatus.CLOSED, HandoffOutcome.REJECTED, at(35)))
    assert (returned.to_function, returned.outcome) == ("marketing", HandoffOutcome.RETURNED)
    lead = w.db.leads[lead_id]
    assert (lead.stage, lead.owner) == (Stage.LEAD, None)


def test_a_worker_catching_up_applies_each_step_at_its_own_time_and_tells_nobody_what_a_later_step_undid():
    w = world()
    demo_request(w)
    sent_before = len(w.db.outbox)
    report = w.sweep(at(120))  # down through the whole ladder
    assert [(when, action) for when, _, action, _ in steps(w)] == [
        (at(5), "first_touch"), (at(5), "notify_rep"), (at(15), "reassign"), (at(35), "return_to_marketing")]
    # Only the return to marketing is news: marketing hears the lead is back, and why.
    assert [n.type for n in w.db.outbox[sent_before:]] == ["lead.returned", "sla.escalated"]  # not a rep's rejection
    assert w.db.outbox[-1].data["escalated_to"] == "marketing"
    # bob never heard the lead was his: what became of it goes to his manager, not to him
    assert [sorted(n.recipients) for n in w.db.outbox[sent_before:]] == [["manager"], ["manager"]]
    assert report.silenced == 4  # the breach, the notify, bob's assignment and the reassign notice
    assert [e["quiet"] for e in w.events("LeadAssigned")] == [False, True]  # it happened; bob was not told


def test_a_reassign_with_nobody_else_free_queues_the_lead_and_the_ladder_still_ends():
    w = world(bob=False)
    lead_id = demo_request(w)
    w.sweep(at(15))
    [handoff] = w.handoffs(lead_id)
    assert (handoff.status, handoff.owner, handoff.excluded) == (HandoffStatus.QUEUED, None, ("ann",))
    assert steps(w)[-1] == (at(15), "Escalated", "reassign", "queued for sdr_a: nobody else can take it")
    assert len(w.sent("lead.assigned")) == 1  # ann's first assignment only: no churn
    w.sweep(at(35))
    assert w.db.leads[lead_id].stage is Stage.LEAD


def test_a_reassign_step_that_allows_it_gives_the_lead_back_to_the_same_rep_and_says_so():
    w = world(bob=False, ladder=LADDER.replace("action: reassign}", "action: reassign, to_same_rep: true}"))
    lead_id = demo_request(w)
    w.sweep(at(15))
    assert w.db.leads[lead_id].owner == "ann"
    assert steps(w)[-1] == (at(15), "Escalated", "reassign", "reassigned to ann")
    assert w.events("LeadAssigned")[-1]["data"]["previous_owner"] == "ann"


def test_restarting_reassigns_give_each_new_owner_a_fresh_clock_until_the_cap_then_the_ladder_goes_on():
    w = world(cat=True, clocks="      accept_within: 10m\n      max_reassignments: 2", ladder="""      escalation:
        - {after: 0m, action: reassign, restart_clock: true}
        - {after: 1h, action: return_to_marketing}""")
    lead_id = demo_request(w)
    for minute in range(0, 95):
        w.sweep(at(minute))
    assert [(when, result) for when, kind, _, result in steps(w) if kind == "Escalated"] == [
        (at(10), "reassigned to bob"),  # ann's 10 minutes
        (at(20), "reassigned to cat"),  # bob's fresh 10 minutes
        (at(30), "skipped: reassignment cap reached (2 of 2)"),  # cat's: the cap holds, the ladder goes on
        (at(90), "returned to marketing"),  # an hour after cat's miss
    ]
    assert w.db.leads[lead_id].stage is Stage.LEAD


def test_one_missed_response_runs_a_shared_ladder_once_not_once_per_clock():
    w = world(clocks="      accept_within: 5m\n" + FIRST_TOUCH_5M)
    lead_id = demo_request(w)
    for minute in (6, 16, 26):
        w.sweep(at(minute))
    assert steps(w) == [
        (at(5), "SlaBreached", "accept", None),
        (at(5), "SlaBreached", "first_touch", None),
        (at(5), "Escalated", "notify_rep", "notified the owner"),
        (at(15), "Escalated", "reassign", "reassigned to bob"),
    ]
    assert w.db.leads[lead_id].owner == "bob"


def test_a_breach_due_at_the_same_moment_as_a_reassign_is_still_announced():
    w = world(clocks=FIRST_TOUCH_5M + "\n      accept_within: 15m")
    demo_request(w)
    for moment in (at(5, 1), at(15, 1)):  # a worker on time: the accept breach and the reassign both fall at 09:15
        w.sweep(moment)
    assert sorted(n.data["sla"]["deadline"] for n in w.sent("sla.breached")) == ["accept", "first_touch"]


def test_loaded_history_records_past_breaches_quietly_and_runs_the_steps_after_the_load_live():
    w = world()
    w.clock.now = at(7)  # the file was loaded 7 minutes after the demo request
    lead_id = demo_request(w, quiet=True)
    assert w.db.outbox == []
    w.sweep(at(20))
    assert [(e["at"], e["quiet"]) for e in w.events("SlaBreached")] == [(at(5), True)]
    assert [t["outcome"] for t in w.db.timers if t["action"] == "notify_rep"] == [
        "skipped: loaded history, not escalated"]
    assert w.db.leads[lead_id].owner == "bob"  # the reassign at 09:15 came after the load: it ran, live
    assert [n.type for n in w.db.outbox] == ["lead.assigned", "sla.escalated"]


def test_a_refused_unit_of_work_leaves_the_fake_store_as_it_was():
    w = world()
    lead = w.lead("pat@corp.io")
    with pytest.raises(RuntimeError), w.unit_of_work(now=T0) as uow:
        from leadrelay.lead.service import move_lead

        move_lead(uow, lead, Transition.HAND_RAISE, Stage.SAL, actor="test", reason="x", now=T0)
        assert w.db.handoffs  # written inside the transaction...
        raise RuntimeError("refused")
    assert (w.db.handoffs, w.db.timers, w.db.leads[lead.id].stage) == ({}, [], Stage.LEAD)  # ...and gone


def test_a_restarting_reassign_that_finds_nobody_leaves_the_rest_of_the_ladder_running():
    w = world(clocks="      accept_within: 10m\n      max_reassignments: 2", ladder="""      escalation:
        - {after: 0m, action: reassign, restart_clock: true}
        - {after: 1h, action: return_to_marketing}""")  # ann and bob only: after both miss, nobody is left
    lead_id = demo_request(w)
    for minute in range(0, 95):
        w.sweep(at(minute))
    assert [(when, result) for when, kind, _, result in steps(w) if kind == "Escalated"] == [
        (at(10), "reassigned to bob"),
        (at(20), "queued for sdr_a: nobody else can take it"),  # the clock waits for whoever takes it...
        (at(80), "returned to marketing"),  # ...and the ladder still ends, an hour after bob's miss
    ]
    assert (w.db.leads[lead_id].stage, w.db.leads[lead_id].owner) == (Stage.LEAD, None)
