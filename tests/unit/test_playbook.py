import pytest

from leadrelay.core.errors import InvalidPlaybook
from leadrelay.lead.stages import Stage
from leadrelay.playbook.loader import load_playbook, parse_playbook, starter_playbook, starter_text


def errors(text: str) -> list[str]:
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(text, "pb.yaml")
    return info.value.issues


def test_the_starter_playbook_loads_and_says_what_the_issue_asks_for():
    rules = starter_playbook().rules
    assert {d.id for d in rules.disqualifiers} >= {"competitor", "webmail", "unserved_country"}
    engagement = {r.id: r.points for r in rules.engagement_rules}
    assert engagement["pricing_page"] > 0 and engagement["careers_page"] < 0
    assert {"case_study", "webinar_attended", "comparison_guide", "email_clicked"} <= set(engagement)
    assert [(h.id, h.to) for h in rules.hand_raisers][0] == ("demo_request", Stage.SAL)
    assert [e.stage for e in rules.stage_entries] == [Stage.LEAD, Stage.MQL]


def test_the_version_is_the_content_hash():
    assert starter_playbook().version == parse_playbook(starter_text(), "other-name.yaml").version
    assert parse_playbook(starter_text() + "\n# changed\n", "x.yaml").version != starter_playbook().version


def test_every_error_is_reported_with_file_line_and_path_and_nothing_half_loads():
    text = """\
name: broken
qualification:
  served_countries: [US, Narnia]
  webmail: {disqualify: maybe}
scoring:
  fit:
    rules:
      - {id: a, when: {engagement: {">": 1}}, points: 5}
      - {id: a, when: {persona: x}, points: 5}
  engagement:
    half_life_days: -3
    rules:
      - id: b
        when: {path: {starts with: /x}}
        points: 1
        colour: red
stages:
  sql: {owner: ae, entry: {fit: {">": 1}}}
  mql: {owner: nobody}
"""
    assert errors(text) == [
        "pb.yaml:3: qualification.served_countries: not a country: 'Narnia' (use ISO codes like US, DE, or names)",
        "pb.yaml:4: qualification.webmail.disqualify: Input should be a valid boolean, unable to interpret input",
        "pb.yaml:8: scoring.fit.rules[0].when: unknown field 'engagement' in a fit rule (known: account.*, "
        "company_domain, country, email, email_domain, persona, traits.*)",
        "pb.yaml:9: scoring.fit.rules[1].id: rule id 'a' is used twice (first at scoring.fit.rules[0])",
        "pb.yaml:11: scoring.engagement.half_life_days: Input should be greater than 0",
        "pb.yaml:16: scoring.engagement.rules[0]: unknown key 'colour'",
        "pb.yaml:18: stages.sql.entry: only lead, mql, sal have entry criteria; this stage is reached by an action",
        "pb.yaml:19: stages.mql.owner: Input should be 'marketing', 'sdr', 'ae' or 'customer_success'",
    ]


def test_a_duplicate_rule_id_is_told_at_its_second_use():
    assert errors("name: x\npersonas:\n  - {id: a, titles: [x]}\n  - {id: a, titles: [y]}\n") == [
        "pb.yaml:4: personas[1].id: rule id 'a' is used twice (first at personas[0])"]


def test_a_condition_on_a_stage_segment_or_persona_that_cannot_be_is_told_with_its_line():
    text = ("name: x\npersonas: [{id: buyer, titles: [vp]}]\nstages:\n"
            "  mql: {owner: sdr, entry: {all: [{stage: {in: [lead, leed]}}, {segment: recyled}]}}\n"
            "alerts:\n  - {id: a, when: {not: {persona: buyr}}}\n  - {id: b, when: {persona: BUYER}}\n")
    assert errors(text) == [
        "pb.yaml:4: stages.mql.entry.all[0].stage: no stage 'leed' (one of customer, disqualified, lead, mql, "
        "opportunity, sal, sql, subscriber)",
        "pb.yaml:4: stages.mql.entry.all[1].segment: no segment 'recyled' (one of new, recycled)",
        "pb.yaml:6: alerts[0].when.not.persona: no persona 'buyr' (one of buyer)"]


def test_unknown_stage_names_and_the_disqualified_stage_are_refused():
    assert errors("name: x\nstages:\n  won: {owner: ae}\n") == ["pb.yaml:3: stages: unknown key 'won'"]
    assert (errors("name: x\nstages:\n  disqualified: {owner: ae}\n")
            == ["pb.yaml:3: stages: unknown key 'disqualified'"])


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(InvalidPlaybook) as info:
        load_playbook(tmp_path / "nope.yaml")
    assert info.value.issues == [f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"]


def test_a_catastrophic_pattern_in_a_persona_or_condition_matches_in_linear_time():
    """`(a+)+$` against a long title backtracked for minutes in Python's re and froze the server; run in a
    separate process so a regression fails on its timeout instead of hanging the suite."""
    import subprocess
    import sys

    code = (
        "from leadrelay.playbook.loader import parse_playbook\n"
        "from leadrelay.lead.qualification import match_persona\n"
        "p = parse_playbook('name: x\\npersonas: [{id: slow, titles: [\"(a+)+$\"]}]\\n"
        "alerts: [{id: a, when: {traits.title: {matches: \"(x+x+)+y\"}}}]\\n', 'x.yaml')\n"
        "title = 'a' * 20000 + '!'\n"
        "assert match_persona(title, p.rules.personas) is None\n"
        "assert not p.rules.alerts[0].when({'traits': {'title': 'x' * 20000}})\n"
        "print('linear')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "linear", done.stderr


def test_a_pattern_with_a_backreference_or_a_lookaround_is_refused_with_why():
    problems = errors("name: x\npersonas:\n  - {id: p, titles: ['(?<!x)vp']}\n")
    assert problems == ["pb.yaml:3: personas[0].titles: bad regular expression '(?<!x)vp': invalid perl operator: "
                        "(?<! (backreferences and lookarounds are not supported: patterns run in linear time)"]
