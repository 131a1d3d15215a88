"""The playbook's sales sections: built-in and custom frameworks, the SQL gate, PQL, deals, expansion."""

from datetime import date
from decimal import Decimal

import pytest

from leadrelay.core.errors import InvalidPlaybook
from leadrelay.playbook.loader import parse_playbook, starter_playbook
from leadrelay.sales.frameworks import is_met


def load(text: str):
    return parse_playbook(text, "pb.yaml").rules.sales


def errors(text: str) -> list[str]:
    with pytest.raises(InvalidPlaybook) as info:
        parse_playbook(text, "pb.yaml")
    return info.value.issues


def test_the_starter_uses_bant_with_a_gate_of_three_criteria_and_a_meeting():
    sales = starter_playbook().rules.sales
    assert sales.framework.name == "BANT"
    assert (sales.gate.min_met, sales.gate.must_meet, sales.gate.extras) == (3, (), ("meeting_booked",))
    deals = sales.deals
    assert [(s.id, int(s.probability), s.category) for s in deals.stages] == [
        ("discovery", 10, "pipeline"), ("solution", 25, "pipeline"), ("demo", 40, "best_case"),
        ("proposal", 60, "best_case"), ("negotiation", 80, "commit"), ("closed_won", 100, "closed"),
        ("closed_lost", 0, "omitted")]
    assert (deals.won_stage.id, deals.lost_stage.id, deals.default_currency) == ("closed_won", "closed_lost", "USD")
    assert "lost_to_competitor" in deals.lost_reasons and deals.lost_to_nurture
    assert [s.id for s in sales.pql_signals] == ["trial_started", "key_feature_used"]
    assert [s.id for s in sales.expansion_signals] == ["pricing_after_purchase", "upgrade_request"]


def test_a_playbook_without_sales_sections_still_loads_with_defaults():
    sales = load("name: old playbook\n")
    assert sales.framework.id == "bant" and sales.gate.min_met is None  # every criterion
    assert sales.deals.currencies == ("USD",) and sales.deals.open_stages[0].id == "discovery"
    assert not sales.watches_activities


@pytest.mark.parametrize("use,name,first", [("champ", "CHAMP", "challenges"), ("gpctba_ci", "GPCTBA/C&I", "goals")])
def test_a_built_in_framework_is_chosen_by_id(use, name, first):
    framework = load(f"name: x\nframeworks: {{use: {use}}}\n").framework
    assert (framework.name, framework.criteria[0].id) == (name, first)


def test_a_custom_framework_compiles_every_answer_type_and_what_counts_as_met():
    sales = load("""
name: x
frameworks:
  use: lite
  custom:
    - id: lite
      name: Lite
      criteria:
        - {id: debt_free, question: "No debt?", answer: yes_no, met: false}
        - {id: seats, question: "Seats?", answer: number, met: {min: 10, max: 500}}
        - {id: role, question: "Role?", answer: choice, choices: [signer, user], met: [signer]}
        - {id: go_live, question: "Go-live?", answer: date, met: {within_days: 90}}
        - {id: pains, question: "What hurts?", answer: text}
sql_gate: {min_met: 4, must_meet: [seats]}
""")
    fw = sales.framework
    assert (fw.id, fw.name, [c.answer for c in fw.criteria]) == ("lite", "Lite",
                                                                 ["yes_no", "number", "choice", "date", "text"])
    debt, seats, role, go_live, _ = fw.criteria
    today = date(2026, 10, 1)
    assert is_met(debt, "no", today) and not is_met(debt, "yes", today)
    assert (seats.met_min, seats.met_max) == (Decimal("10.0"), Decimal("500.0"))
    assert role.met_choices == {"signer"} and go_live.met_within_days == 90
    assert (sales.gate.min_met, sales.gate.must_meet) == (4, ("seats",))


def test_cross_section_mistakes_are_reported_with_file_and_line():
    assert errors("""name: x
frameworks:
  use: meddic
sql_gate:
  also_require: [product_qualified]
opportunities:
  currencies: [USD, EUR]
  default_currency: GBP
  won: closed_win
  stages:
    - {id: discovery, probability: 10, forecast: closed}
    - {id: closed_won, probability: 90, forecast: closed}
    - {id: closed_lost, probability: 0, forecast: pipeline}
""") == [
        "pb.yaml:3: frameworks.use: unknown framework 'meddic' (built in or defined: bant, champ, gpctba_ci)",
        "pb.yaml:5: sql_gate.also_require[0]: product_qualified needs `pql.signals` to mark leads product-qualified",
        "pb.yaml:8: opportunities.default_currency: 'GBP' is not one of `currencies` (USD, EUR)",
        "pb.yaml:9: opportunities.won: unknown deal stage 'closed_win' (stages: discovery, closed_won, closed_lost)",
        "pb.yaml:13: opportunities.stages[2].forecast: the lost stage 'closed_lost' must be in forecast category "
        "omitted",
        "pb.yaml:11: opportunities.stages[0].forecast: 'discovery' is an open stage: only the won stage is in "
        "category closed",
        "pb.yaml:12: opportunities.stages[1].forecast: 'closed_won' is an open stage: only the won stage is in "
        "category closed",
    ]


def test_the_gate_must_name_criteria_of_the_framework_it_judges():
    assert errors("name: x\nsql_gate:\n  min_met: 5\n  must_meet: [budget, money]\n") == [
        "pb.yaml:3: sql_gate.min_met: 5 criteria can never be met: 'bant' has 4",
        "pb.yaml:4: sql_gate.must_meet[1]: no criterion 'money' in framework 'bant' (criteria: budget, authority, "
        "need, timeline)",
    ]


def test_malformed_sales_sections_are_refused_with_the_reason():
    issues = errors("""name: x
frameworks:
  custom:
    - id: bant
      criteria: [{id: a, question: "A?", answer: yes_no}]
    - id: mine
      criteria:
        - {id: role, question: "Role?", answer: choice, choices: [signer, user], met: [ceo]}
        - {id: seats, question: "Seats?", answer: number}
        - {id: notes, question: "Notes?", answer: text, met: true}
        - {id: size, question: "Size?", answer: colour}
opportunities:
  currencies: [USD, XYZ]
  stages:
    - {id: a, probability: 120, forecast: pipeline}
    - {id: b, probability: 10, forecast: maybe}
pql:
  signals: [{id: t, when: {fit: {">": 3}}}]
""")
    assert issues[0] == "pb.yaml:4: frameworks.custom[0].id: 'bant' is a built-in framework; give yours another id"
    assert issues[1].startswith("pb.yaml:8: frameworks.custom[1].criteria[0]: `met` names 'ceo', which is not "
                                "among `choices`")
    assert issues[2].startswith("pb.yaml:9: frameworks.custom[1].criteria[1]: a number criterion needs `met`")
    assert issues[3].startswith("pb.yaml:10: frameworks.custom[1].criteria[2]: a text criterion is met when answered")
    assert issues[4].startswith("pb.yaml:11: frameworks.custom[1].criteria[3].answer: Input should be 'yes_no'")
    assert issues[5] == ("pb.yaml:13: opportunities.currencies: 'XYZ' is not an ISO 4217 currency code "
                         "(like USD, EUR, GBP)")
    assert issues[6] == "pb.yaml:15: opportunities.stages[0].probability: Input should be less than or equal to 100"
    assert issues[7].startswith("pb.yaml:16: opportunities.stages[1].forecast: Input should be 'pipeline'")
    assert issues[8].startswith("pb.yaml:18: pql.signals[0].when: unknown field 'fit' in a signal")
    assert len(issues) == 9


def test_the_starters_commented_custom_framework_is_valid_once_uncommented():
    from leadrelay.playbook.loader import starter_text

    text = starter_text()
    before, rest = text.split("  use: bant\n  # custom:\n", 1)
    block, after = rest.split("  # use: our_bant\n", 1)
    uncommented = "".join(line.replace("  # ", "  ", 1) for line in block.splitlines(keepends=True))
    edited = before + "  use: our_bant\n  custom:\n" + uncommented + after
    framework = parse_playbook(edited, "starter-edited.yaml").rules.sales.framework
    assert (framework.name, [c.id for c in framework.criteria]) == (
        "Our BANT", ["budget", "authority", "seats", "timeline", "pains"])


def test_the_readmes_sales_example_is_a_valid_playbook():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Qualification, opportunities and forecasting", 1)[1].split("\n## ", 1)[0]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    sales = parse_playbook("name: readme\n" + example, "README.md").rules.sales
    assert (sales.framework.name, sales.gate.min_met, sales.deals.won_stage.id) == ("BANT", 3, "closed_won")
    assert [s.id for s in sales.expansion_signals] == ["upgrade_request"]
    lite = parse_playbook("name: readme\n" + example.replace("use: bant ", "use: lite "), "README.md")
    assert [c.answer for c in lite.rules.sales.framework.criteria] == ["yes_no", "choice", "number", "date", "text"]
