from datetime import UTC, datetime, timedelta

import pytest

from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import Outcome, process, reset_derived, sort_key
from leadrelay.lead.model import Lead
from leadrelay.lead.scoring import decay_factor, engagement_at
from leadrelay.playbook.loader import parse_playbook

T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAY = 86400

RULES = parse_playbook("""
name: scoring test
scoring:
  fit:
    max: 50
    rules:
      - {id: exec, when: {traits.title: {matches: '\\bvp\\b'}}, points: 30}
      - {id: big, when: {traits.employees: {">=": 100}}, points: 30}
  engagement:
    half_life_days: 10
    max: 40
    rules:
      - {id: pricing, when: {path: /pricing}, points: 10, cap: {per_day: 20, lifetime: 30}}
      - {id: careers, when: {path: /careers}, points: -5}
""", "scoring.yaml").rules


def activity(n, minutes=0.0, *, days=0.0, path=None, traits=None, kind=None):
    kind = kind or ("identify" if traits else "page")
    return Activity(source="t", message_id=f"m{n}", type=kind, occurred_at=T0 + timedelta(days=days, minutes=minutes),
                    received_at=T0, anonymous_id="a1", properties={"path": path} if path else {},
                    traits=traits or {})


def run(activities, lead=None):
    lead = lead or Lead()
    outcome = Outcome()
    process(lead, sorted(activities, key=sort_key), RULES, outcome, decide=False)
    return lead, outcome


def test_decay_halves_the_score_every_half_life():
    assert decay_factor(10 * DAY, 10 * DAY) == 0.5
    assert decay_factor(0, 10 * DAY) == 1.0
    assert decay_factor(5 * DAY, None) == 1.0


def test_engagement_decays_between_activities():
    lead, _ = run([activity(1, path="/pricing"), activity(2, days=10, path="/pricing")])
    assert lead.scoring.engagement == pytest.approx(15.0)  # 10 halved to 5, plus 10
    assert engagement_at(lead.scoring, (T0 + timedelta(days=20)).timestamp(), RULES.half_life_seconds) == \
        pytest.approx(7.5)


def test_per_day_cap_limits_points_in_one_utc_day_and_resets_the_next():
    lead, outcome = run([activity(i, minutes=i, path="/pricing") for i in range(5)] +
                        [activity(9, days=1, path="/pricing")])
    deltas = [c.delta for c in outcome.score_changes]
    assert deltas == [10, 10, 10]  # 2 on day one (per-day cap 20), then the lifetime cap of 30 ends it


def test_negative_rules_subtract_and_the_total_cap_clips_what_is_recorded():
    lead, outcome = run([activity(1, path="/careers")] + [activity(i, days=i, path="/pricing") for i in range(2, 6)])
    assert outcome.score_changes[0].delta == -5
    assert lead.scoring.engagement <= 40


def test_recorded_deltas_decayed_to_any_time_add_up_to_the_score():
    acts = [activity(i, days=i * 0.7, path="/pricing" if i % 3 else "/careers") for i in range(12)]
    lead, outcome = run(acts)
    later = (T0 + timedelta(days=30)).timestamp()
    total = sum(c.delta * decay_factor(later - c.at, RULES.half_life_seconds)
                for c in outcome.score_changes if c.kind == "engagement")
    assert total == pytest.approx(engagement_at(lead.scoring, later, RULES.half_life_seconds))


def test_fit_changes_are_recorded_per_rule_with_the_total_cap_as_its_own_row():
    lead, outcome = run([activity(1, traits={"title": "VP Sales", "employees": 500})])
    assert [(c.rule_id, c.delta) for c in outcome.score_changes] == [("exec", 30), ("big", 30), ("(total cap)", -10)]
    assert lead.scoring.fit == 50
    lead, outcome = run([activity(2, minutes=5, traits={"title": "Engineer"})], lead)
    assert [(c.rule_id, c.delta) for c in outcome.score_changes] == [("exec", -30), ("(total cap)", 10)]
    assert lead.scoring.fit == 30


def test_newer_traits_win_whatever_order_they_arrive_in():
    newer = activity(2, minutes=10, traits={"title": "VP Sales"})
    older = activity(1, minutes=0, traits={"title": "Intern", "employees": 20})
    lead = Lead()
    for act in (newer, older):  # late arrival of the older identify
        process(lead, [act], RULES, Outcome(), decide=False)
    assert lead.traits == {"title": "VP Sales", "employees": 20}


def test_replaying_in_any_order_gives_the_same_scores():
    acts = [activity(i, minutes=i * 37, path=["/pricing", "/careers", "/x"][i % 3]) for i in range(40)]
    acts.append(activity(99, minutes=5, traits={"title": "VP", "employees": 200}))
    reference, _ = run(acts)
    shuffled = list(reversed(acts))
    lead, _ = run(shuffled)
    assert lead.scoring == reference.scoring
    reset_derived(lead)
    lead, _ = run(acts, lead)
    assert lead.scoring == reference.scoring
