import pytest
from pydantic import TypeAdapter, ValidationError

from leadrelay.playbook.conditions import Condition, check_fields, compile_condition

parse = TypeAdapter(Condition).validate_python


def holds(condition, **fields) -> bool:
    return compile_condition(parse(condition))(fields)


def test_a_scalar_is_shorthand_for_equals_and_ignores_case():
    assert holds({"event": "Demo Requested"}, event="demo requested")
    assert not holds({"event": "Demo Requested"}, event="Webinar Attended")


@pytest.mark.parametrize("op,value,field,expected", [
    ("==", 3, 3, True), ("!=", 3, 4, True), ("<", 10, 9.5, True), ("<=", 10, 10, True),
    (">", 10, 10, False), (">=", 10, 10, True), ("in", ["US", "CA"], "us", True),
    ("not in", ["US", "CA"], "DE", True), ("contains", "price", "/Pricing-page", False),
    ("contains", "pric", "/Pricing-page", True), ("starts with", "/pricing", "/PRICING/teams", True),
    ("matches", r"^vp\b", "VP Marketing", True), ("exists", True, "x", True), ("exists", False, "x", False),
])
def test_every_operator_compares_as_documented(op, value, field, expected):
    assert holds({"f": {op: value}}, f=field) is expected


def test_numbers_compare_with_plain_numeric_text_and_never_with_other_text_or_booleans():
    assert holds({"f": {">": 1}}, f="5") and holds({"f": {">=": 1000}}, f="1,200") and holds({"f": {"<": 0}}, f=" -2 ")
    assert not holds({"f": {">": 1}}, f="about 300") and not holds({"f": {">": 1}}, f="1e3")
    assert not holds({"f": {">": 0}}, f=True) and not holds({"f": {">": 0}}, f="nan")


def test_a_missing_field_fails_every_comparison_but_negations():
    assert not holds({"f": "x"})
    assert not holds({"f": {">=": 0}})
    assert holds({"f": {"!=": "x"}})
    assert holds({"f": {"not in": ["x"]}})
    assert holds({"f": {"exists": False}})


def test_contains_looks_inside_lists():
    assert holds({"tags": {"contains": "vip"}}, tags=["VIP", "beta"])


def test_dotted_paths_read_nested_fields_and_fail_softly_on_non_mappings():
    assert holds({"properties.plan": "pro"}, properties={"plan": "Pro"})
    assert not holds({"properties.plan": "pro"}, properties="not a mapping")


def test_all_any_and_not_combine():
    cond = {"all": [{"type": "page"}, {"any": [{"path": {"starts with": "/pricing"}}, {"path": "/plans"}]},
                    {"not": {"path": {"contains": "careers"}}}]}
    assert holds(cond, type="page", path="/plans")
    assert not holds(cond, type="page", path="/careers")
    assert not holds(cond, type="track", path="/pricing")


def test_the_long_form_field_op_value_is_accepted():
    assert holds({"field": "fit", "op": ">=", "value": 40}, fit=41)


@pytest.mark.parametrize("condition,message", [
    ({"fit": {">=": "high"}}, "'fit >=' needs a number, got 'high'"),
    ({"f": {"in": "US"}}, "'f in' needs a list, got 'US'"),
    ({"f": {"exists": "yes"}}, "'f exists' needs true or false, got 'yes'"),
    ({"f": {"matches": "("}}, "'f matches': bad regular expression '('"),
    ({"f": {"like": "x"}}, "'f': unknown operator 'like'"),
    ({"a": 1, "b": 2}, "a comparison names exactly one field"),
    ({"f": {">": 1, "<": 3}}, "'f': give exactly one operator"),
    ({"all": []}, "at least 1 item"),
])
def test_bad_conditions_are_refused_with_a_reason(condition, message):
    with pytest.raises(ValidationError) as info:
        parse(condition)
    assert message in str(info.value)


def test_fields_are_checked_against_what_the_rule_may_read():
    check_fields(parse({"traits.title": "x"}), frozenset({"traits."}), "a fit rule")
    with pytest.raises(ValueError, match="unknown field 'engagement' in a fit rule"):
        check_fields(parse({"engagement": {">": 1}}), frozenset({"traits.", "persona"}), "a fit rule")
