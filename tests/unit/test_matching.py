"""Engagement rules remembered by the values their conditions read (`leadrelay.lead.matching`) match what judging
every rule matches, for every kind of value an activity may carry."""

from dataclasses import replace

from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import activity_fields
from leadrelay.lead.matching import engagement_matches
from leadrelay.playbook.loader import parse_playbook

PLAYBOOK = """
name: matching test
scoring:
  engagement:
    rules:
      - {id: pricing, when: {all: [{type: page}, {path: {starts with: /pricing}}]}, points: 10}
      - {id: seats, when: {all: [{event: Trial Started}, {properties.seats: {">=": 1}}]}, points: 5}
      - {id: no_plan, when: {all: [{event: Trial Started}, {properties.plan: null}]}, points: 3}
      - {id: beta, when: {all: [{event: Trial Started}, {properties.tags: {contains: beta}}]}, points: 2}
      - {id: any_trial, when: {event: Trial Started}, points: 1}
"""
RULES = parse_playbook(PLAYBOOK, "matching.yaml").rules


def fields(kind="track", event="Trial Started", **properties):
    return activity_fields(Activity(source="t", message_id="m", type=kind, occurred_at=None, received_at=None,
                                    name=event, properties=properties))


def matched(rules, f) -> list[str]:
    return [rule.id for rule in engagement_matches(rules, f)]


def judged(f) -> list[str]:
    return [rule.id for rule in RULES.engagement_rules if rule.may_match(f["type"], f["event"]) and rule.when(f)]


def test_remembered_matches_are_those_of_judging_every_rule_for_every_kind_of_value():
    rules = parse_playbook(PLAYBOOK, "matching.yaml").rules  # its own memory
    cases = [fields("page", "Pricing", path="/pricing/teams"), fields("page", "Blog", path="/blog"),
             fields("page", "Pricing", path="/pricing/teams"), fields(seats=3), fields(seats="3"), fields(seats=0),
             fields(seats=3.0), fields(seats=None), fields(), fields(plan=None), fields(plan="pro"),
             fields(tags=["alpha", "beta"]), fields(tags=["alpha"]), fields(tags="beta"), fields(seats={"n": 1}),
             fields(seats=True), fields(seats=1), fields(seats=True)]
    for f in cases + cases:  # the second time from memory
        assert matched(rules, f) == judged(f), f["properties"]


def test_a_bool_is_not_taken_for_the_number_it_equals():
    """`True == 1` in a dictionary, but a numeric comparison does not read a bool as a number: what was found for
    `seats: 1` must not be what `seats: true` gets."""
    rules = parse_playbook(PLAYBOOK, "matching.yaml").rules
    assert matched(rules, fields(seats=1)) == ["seats", "any_trial"]
    assert matched(rules, fields(seats=True)) == ["any_trial"]
    assert matched(rules, fields(seats=1.0)) == ["seats", "any_trial"]


def test_a_missing_value_is_not_taken_for_a_null_one():
    rules = parse_playbook(PLAYBOOK, "matching.yaml").rules
    assert matched(rules, fields(plan=None)) == ["no_plan", "any_trial"]
    assert matched(rules, fields()) == ["any_trial"]
    assert matched(rules, fields(plan=None)) == ["no_plan", "any_trial"]


def test_a_rule_whose_reads_are_unknown_is_judged_every_time():
    rules = parse_playbook(PLAYBOOK, "matching.yaml").rules
    rules = replace(rules, engagement_rules=tuple(replace(r, reads=None) for r in rules.engagement_rules),
                    _candidates={}, _matchers={})
    assert matched(rules, fields(seats=2)) == ["seats", "any_trial"]
    assert matched(rules, fields(seats=0)) == ["any_trial"]
    assert rules._matchers[("track", "Trial Started")].seen == {}
