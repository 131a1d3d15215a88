"""YAML loading with a source map, and Pydantic errors rendered as file:line: path: message."""

from __future__ import annotations

from typing import Annotated, Literal, Union

import pytest
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from leadrelay.core.errors import InvalidPlaybook
from leadrelay.playbook.yamlsource import (
    SourceMap,
    describe_validation_error,
    load_yaml,
    load_yaml_file,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldTest(Strict):
    kind: Literal["field"]
    field: str
    op: Literal["eq", "ne"]


class EventTest(Strict):
    kind: Literal["event"]
    event: str
    within_days: int


class Rule(Strict):
    name: str
    points: int
    # The tag "field" is also a key of FieldTest: loc ('when', 'field', 'op') must not
    # be read as the path when.field.op.
    when: Annotated[Union[FieldTest, EventTest], Field(discriminator="kind")]


class Scoring(Strict):
    threshold: int
    rules: list[Rule]


class Playbook(Strict):
    version: int
    scoring: Scoring
    tags: list[str] = []


def issues_of(text: str, filename: str = "pb.yaml") -> list[str]:
    with pytest.raises(InvalidPlaybook) as caught:
        load_yaml(text, filename)
    return caught.value.issues


def described(text: str, model: type[BaseModel] = Playbook) -> list[str]:
    data, source = load_yaml(text, "pb.yaml")
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return describe_validation_error(caught.value, source)


GOOD = """\
version: 1
scoring:
  threshold: 50
  rules:
    - name: pricing
      points: 10
      when: {kind: field, field: path, op: eq}
"""


def test_loads_data_and_lines():
    data, source = load_yaml(GOOD, "pb.yaml")
    assert data == {
        "version": 1,
        "scoring": {
            "threshold": 50,
            "rules": [{"name": "pricing", "points": 10, "when": {"kind": "field", "field": "path", "op": "eq"}}],
        },
    }
    assert source.filename == "pb.yaml"
    assert source.line_of(()) == 1
    assert source.line_of(("scoring",)) == 2
    assert source.line_of(("scoring", "rules")) == 4
    assert source.line_of(("scoring", "rules", 0)) == 5
    assert source.line_of(("scoring", "rules", 0, "when", "op")) == 7
    Playbook.model_validate(data)


def test_line_of_skips_loc_items_missing_from_the_document():
    text = """\
scoring:
  engagement:
    rules:
      - {id: a}
      - {id: b}
      - {id: c}
      - id: d
        when:
          field: path
          op: eq
"""
    _, source = load_yaml(text, "pb.yaml")
    rule = ("scoring", "engagement", "rules", 3)
    assert source.line_of(rule + ("when", "FieldTest", "op")) == 10
    assert source.line_of(rule + ("when", "FieldTest", "nope")) == 8
    assert source.line_of(rule + ("when", "field", "op")) == 10
    assert source.line_of(("nowhere", "at", "all")) == 1
    assert SourceMap("empty.yaml").line_of(("scoring",)) is None


def test_syntax_error_names_the_problem_line():
    assert issues_of("version: 1\nscoring\nthreshold: 2\n") == [
        "pb.yaml:3: could not find expected ':' (while scanning a simple key at line 2)"
    ]
    assert issues_of("tags: [a, b\nversion: 1\n") == [
        "pb.yaml:2: expected ',' or ']', but got ':' (while parsing a flow sequence at line 1)"
    ]


def test_duplicate_keys_are_errors_at_every_depth():
    text = """\
version: 1
scoring:
  threshold: 10
  rules: []
  threshold: 20
version: 2
"""
    assert issues_of(text) == [
        "pb.yaml:5: duplicate key 'threshold' (first at line 3)",
        "pb.yaml:6: duplicate key 'version' (first at line 1)",
    ]


def test_merge_keys_may_be_overridden_without_a_duplicate():
    text = """\
base: &base
  threshold: 1
  rules: []
scoring:
  <<: *base
  threshold: 5
"""
    data, source = load_yaml(text, "pb.yaml")
    assert data["scoring"] == {"threshold": 5, "rules": []}
    assert source.line_of(("scoring", "threshold")) == 6
    assert source.line_of(("scoring", "rules")) == 3  # where the merged key was written


@pytest.mark.parametrize("text, line", [("", 1), ("# only a comment\n", 1), ("---\n", 1), ("\n~\n", 2)])
def test_empty_document(text, line):
    assert issues_of(text) == [f"pb.yaml:{line}: the playbook must be a mapping of sections"]


def test_top_level_list_or_scalar():
    assert issues_of("- version: 1\n- scoring: {}\n") == ["pb.yaml:1: the playbook must be a mapping of sections"]
    assert issues_of("\njust text\n") == ["pb.yaml:2: the playbook must be a mapping of sections"]


def test_several_documents_are_an_error():
    assert issues_of("version: 1\n---\nversion: 2\n") == [
        "pb.yaml:3: a playbook file must hold a single YAML document"
    ]


def test_only_safe_tags():
    assert issues_of("version: 1\nhook: !!python/object/apply:os.system [echo hi]\n") == [
        "pb.yaml:2: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"
    ]


def test_unreadable_values_are_reported_with_their_line():
    assert issues_of("version: 1\nscoring: \x07\n") == [
        "pb.yaml:2: unacceptable character #x0007: special characters are not allowed"
    ]
    assert issues_of("version: !!int one\nscoring: !custom x\n") == [
        "pb.yaml:1: cannot read 'tag:yaml.org,2002:int' value: invalid literal for int() with base 10: 'one'",
        "pb.yaml:2: could not determine a constructor for the tag '!custom'",
    ]
    assert issues_of("? [a, b]\n: 1\n") == ["pb.yaml:1: a mapping key must be a plain value, not a list or mapping"]


def test_recursive_alias_is_rejected():
    assert issues_of("tags: &t\n  - *t\n") == [
        "pb.yaml:1: an alias refers to a node containing it; recursive data is not allowed"
    ]


def test_unknown_key_names_parent_and_the_key_line():
    text = GOOD + "      colour: red\n  extra: 1\n"
    assert described(text) == [
        "pb.yaml:8: scoring.rules[0]: unknown key 'colour'",
        "pb.yaml:9: scoring: unknown key 'extra'",
    ]


def test_missing_key_points_at_the_parent():
    text = """\
version: 1
scoring:
  rules:
    - points: 3
      when:
        kind: field
        field: x
"""
    assert described(text) == [
        "pb.yaml:2: scoring: missing required key 'threshold'",
        "pb.yaml:4: scoring.rules[0]: missing required key 'name'",
        # The union tag "field" is also a key here; the parent is still `when`.
        "pb.yaml:5: scoring.rules[0].when: missing required key 'op'",
    ]
    assert described("scoring: {threshold: 1, rules: []}\n") == ["pb.yaml:1: missing required key 'version'"]


def test_wrong_types_deep_in_lists_and_union_tags_in_loc():
    text = GOOD + """\
    - name: demo
      points: lots
      when:
        kind: event
        event: Demo
        within_days: soon
    - name: webinar
      points: 5
      when:
        kind: field
        field: path
        op: like
    - name: t
      points: 1
      when: {kind: nope}
tags: [a, 3]
"""
    assert described(text) == [
        "pb.yaml:9: scoring.rules[1].points: Input should be a valid integer, unable to parse string as an integer",
        "pb.yaml:13: scoring.rules[1].when.within_days: "
        "Input should be a valid integer, unable to parse string as an integer",
        "pb.yaml:19: scoring.rules[2].when.op: Input should be 'eq' or 'ne'",
        "pb.yaml:22: scoring.rules[3].when: "
        "Input tag 'nope' found using 'kind' does not match any of the expected tags: 'field', 'event'",
        "pb.yaml:23: tags[1]: Input should be a valid string",
    ]


class AllOf(Strict):
    all: list[Condition]


class Compare(Strict):
    field: str
    op: str


def _kind(value: object) -> str:
    return "all" if isinstance(value, dict) and "all" in value else "compare"


Condition = Annotated[Union[Annotated[AllOf, Tag("all")], Annotated[Compare, Tag("compare")]], Discriminator(_kind)]
AllOf.model_rebuild()


class Gate(Strict):
    when: Condition
    smart: Union[FieldTest, EventTest, None] = None


def test_callable_discriminator_tags_and_model_names_in_loc():
    text = """\
when:
  all:
    - field: a
      op: eq
    - field: b
      opp: eq
smart:
  kind: event
  event: Demo
"""
    # loc ('when', 'all', 'all', 1, 'compare', 'op'): tag "all" and key "all" side by side.
    assert described(text, Gate) == [
        "pb.yaml:5: when.all[1]: missing required key 'op'",
        "pb.yaml:6: when.all[1]: unknown key 'opp'",
        # Plain union: loc carries the model name ('smart', 'FieldTest', 'kind').
        "pb.yaml:7: smart: missing required key 'field'",
        "pb.yaml:7: smart: missing required key 'op'",
        "pb.yaml:7: smart: missing required key 'within_days'",
        "pb.yaml:8: smart.kind: Input should be 'field'",
        "pb.yaml:9: smart: unknown key 'event'",
    ]


def test_value_error_prefix_is_dropped_and_duplicates_removed():
    class Bounded(Strict):
        low: int
        high: int

        def model_post_init(self, _context: object) -> None:
            if self.low > self.high:
                raise ValueError("low is above high")

    class Wrapper(Strict):
        bounds: Bounded

    data, source = load_yaml("bounds:\n  low: 5\n  high: 1\n", "pb.yaml")
    with pytest.raises(ValidationError) as caught:
        Wrapper.model_validate(data)
    assert describe_validation_error(caught.value, source) == ["pb.yaml:1: bounds: low is above high"]
    twice = ValidationError.from_exception_data(
        "Wrapper", [{"type": "missing", "loc": ("bounds", "x"), "input": {}}] * 2
    )
    assert describe_validation_error(twice, source) == ["pb.yaml:1: bounds: missing required key 'x'"]
    assert describe_validation_error(twice, SourceMap("other.yaml")) == ["other.yaml: missing required key 'x'"]


def test_load_yaml_file(tmp_path):
    path = tmp_path / "playbook.yaml"
    path.write_text(GOOD + "version: 2\n", encoding="utf-8")
    with pytest.raises(InvalidPlaybook) as caught:
        load_yaml_file(path)
    assert caught.value.issues == [f"{path}:8: duplicate key 'version' (first at line 1)"]
    path.write_text(GOOD, encoding="utf-8")
    data, source = load_yaml_file(path)
    assert data["version"] == 1 and source.filename == str(path)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(InvalidPlaybook) as caught:
        load_yaml_file(path)
    assert caught.value.issues == [f"{path}: cannot read: No such file or directory"]
    assert caught.value.code == "invalid_playbook"


def _alias_bomb(levels: int) -> str:
    """A few hundred bytes that expand to 10**(levels + 1) values."""
    lines = ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_a_playbook_that_expands_to_a_billion_values_through_aliases_is_refused_before_it_is_expanded():
    with pytest.raises(InvalidPlaybook) as info:
        load_yaml(_alias_bomb(8), "bomb.yaml")  # 530 bytes
    assert info.value.issues == ["bomb.yaml:1: the playbook expands to over 200,000 values through YAML aliases "
                                 "(&anchor / *alias): write the values out, or use fewer aliases"]


def test_a_playbook_that_shares_values_through_a_few_aliases_still_loads():
    data, _ = load_yaml(_alias_bomb(3) + "b: &b {k: v}\nc: [*b, *b]\n", "fine.yaml")  # 10,000 values
    assert len(data["a3"]) == 10 and data["c"] == [{"k": "v"}, {"k": "v"}]
