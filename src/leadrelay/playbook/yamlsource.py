"""Load a YAML playbook and remember where every key and list item came from.

Pydantic validates plain Python data and knows nothing of lines, so the loader builds a
`SourceMap` next to the data in the same pass. Validation errors can then say
``playbook.yaml:14: scoring.rules[2].points: ...`` instead of leaving the operator to hunt.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

from leadrelay.core.errors import InvalidPlaybook

NOT_A_MAPPING = "the playbook must be a mapping of sections"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_FAILED = object()


@dataclass
class SourceMap:
    """Where each part of a loaded document sits: paths of keys/indexes → 1-based lines."""

    filename: str
    lines: dict[tuple, int] = field(default_factory=dict, repr=False)
    mappings: set[tuple] = field(default_factory=set, repr=False)

    def line_of(self, path: Sequence) -> int | None:
        """Line of the deepest part of `path` present in the document (None if nothing is).

        Items that are not in the document (Pydantic's union tags and model names) are
        skipped, so a Pydantic `loc` can be passed as it is.
        """
        return self.resolve(tuple(path))[1]

    def resolve(self, loc: tuple, *, mapping: bool = False) -> tuple[tuple, int | None]:
        """The document path `loc` most plausibly names, and its line.

        With `mapping=True` only a mapping may be the answer (the parent of a missing key).
        """
        # A union tag can coincide with a real key (tag "all" of an `all:` condition, or a
        # Literal tag "field" next to a `field:` key), so greedy matching can lock onto the
        # wrong node. Try every in-order subsequence of `loc` that exists in the document
        # and prefer the one reaching furthest into `loc`, then the one matching most items.
        best: tuple[tuple[int, int], tuple] | None = None

        def visit(start: int, at: tuple, score: tuple[int, int]) -> None:
            nonlocal best
            if (not mapping or at in self.mappings) and (best is None or score > best[0]):
                best = (score, at)
            for index in range(start, len(loc)):
                step = at + (loc[index],)
                if step in self.lines:
                    visit(index + 1, step, (index, score[1] + 1))

        visit(0, (), (-1, 0))
        at = best[1] if best else ()
        return at, self.lines.get(at)


MAX_VALUES = 200_000  # a playbook is a few thousand values; aliases could expand a few KB into billions


def _children(node) -> list:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, SequenceNode) else []


def _expanded_size(root) -> int:
    """How many values the document holds once every alias is expanded, counted without expanding them
    (each node once, however many aliases point at it); at most `MAX_VALUES + 1`. An alias inside its own anchor
    counts once here: the builder refuses it with its own message."""
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            sizes[key] = min(MAX_VALUES + 1, 1 + sum(sizes.get(id(child), 1) for child in _children(node)))
            ancestors.discard(key)
            continue
        if key in sizes:
            continue
        if key in ancestors:
            continue  # an alias inside its own anchor
        ancestors.add(key)
        stack.append((node, True))
        stack += [(child, False) for child in _children(node) if id(child) not in sizes]
    return sizes[id(root)]


def load_yaml(text: str, filename: str) -> tuple[object, SourceMap]:
    """Parse one YAML document (safe tags only) into plain data plus its `SourceMap`.

    Raises `InvalidPlaybook` with ``"{filename}:{line}: {message}"`` issues for syntax
    errors, duplicate keys, several documents, and a top level that is not a mapping.
    """
    source = SourceMap(filename)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:  # non-printable characters are rejected up front
        raise _invalid(filename, [_yaml_issue(exc, filename, text)[1]]) from None
    try:
        root = loader.get_node() if loader.check_node() else None
        if root is not None and loader.check_node():
            line = _line(loader.get_node())
            raise _invalid(filename, [f"{filename}:{line}: a playbook file must hold a single YAML document"])
        if not isinstance(root, MappingNode):
            # An empty document still yields a null scalar, placed after any comments.
            line = _line(root) if root is not None and root.value != "" else 1
            raise _invalid(filename, [f"{filename}:{line}: {NOT_A_MAPPING}"])
        size = _expanded_size(root)
        if size > MAX_VALUES:
            raise _invalid(filename, [f"{filename}:1: the playbook expands to over {MAX_VALUES:,} values through "
                                      "YAML aliases (&anchor / *alias): write the values out, or use fewer aliases"])
        builder = _Builder(loader, source)
        data = builder.build(root, (), _line(root))
    except yaml.YAMLError as exc:
        raise _invalid(filename, [_yaml_issue(exc, filename, text)[1]]) from None
    finally:
        loader.dispose()
    if builder.issues:
        ordered = sorted(dict.fromkeys(builder.issues))  # the walk visits parents first
        raise _invalid(filename, [issue for _, issue in ordered])
    if not isinstance(data, dict):  # e.g. a top-level `!!set`
        raise _invalid(filename, [f"{filename}:{_line(root)}: {NOT_A_MAPPING}"])
    return data, source


def load_yaml_file(path: str | os.PathLike[str]) -> tuple[object, SourceMap]:
    """Read a UTF-8 playbook file and `load_yaml` it; unreadable files raise `InvalidPlaybook`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        issue = f"{path}: cannot read: {reason}"
        raise InvalidPlaybook(issue, [issue]) from None
    return load_yaml(text, str(path))


def describe_validation_error(err: ValidationError, source: SourceMap) -> list[str]:
    """One ``"{file}:{line}: {path}: {message}"`` line per Pydantic error, sorted by line."""
    found: list[tuple[int, str, str]] = []
    for error in err.errors(include_url=False, include_input=False):
        loc, kind = tuple(error["loc"]), error["type"]
        message = " ".join(str(error["msg"]).removeprefix("Value error, ").split())
        if kind == "extra_forbidden" and loc:
            at, line = source.resolve(loc)
            if at and at[-1] == loc[-1]:
                at = at[:-1]  # name the parent; the line stays on the unknown key itself
            else:
                at, line = source.resolve(loc[:-1])
            message = f"unknown key {_quoted(loc[-1])}"
        elif kind == "missing" and loc:
            at, line = source.resolve(loc[:-1], mapping=True)
            message = f"missing required key {_quoted(loc[-1])}"
        else:
            at, line = source.resolve(loc)
        dotted = _dotted(at)
        text = f"{source.filename}:{line}: " if line is not None else f"{source.filename}: "
        text += f"{dotted}: {message}" if dotted else message
        found.append((line or 0, dotted, text))
    found.sort(key=lambda item: item[:2])
    return list(dict.fromkeys(text for _, _, text in found))


class _Builder:
    """Constructs data from composed nodes while filling in the SourceMap."""

    def __init__(self, loader: yaml.SafeLoader, source: SourceMap):
        self.loader = loader
        self.source = source
        self.issues: list[tuple[int, str]] = []
        # Aliases share one node: build it once (as PyYAML does) so a "billion laughs"
        # document cannot make us walk exponentially many paths.
        self.built: dict[int, object] = {}
        self.active: set[int] = set()

    def build(self, node: Node, path: tuple, line: int) -> object:
        self.source.lines[path] = line
        if isinstance(node, MappingNode):
            self.source.mappings.add(path)
        key = id(node)
        if key in self.built:
            return self.built[key]
        if key in self.active:
            self._issue(line, "an alias refers to a node containing it; recursive data is not allowed")
            return None
        self.active.add(key)
        value: object
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                value = self._mapping(node, path)
            elif isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                value = [self.build(item, path + (i,), _line(item)) for i, item in enumerate(node.value)]
            else:
                value = self._construct(node)
                value = None if value is _FAILED else value
        finally:
            self.active.discard(key)
        self.built[key] = value
        return value

    def _mapping(self, node: MappingNode, path: tuple) -> dict:
        # Duplicates are checked on the mapping's own keys, before merging: a key that
        # overrides one brought in by `<<: *anchor` is intended, not a duplicate.
        first: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self._key(key_node)
            if key is _FAILED:
                continue
            if key in first:
                self._issue(_line(key_node), f"duplicate key {_quoted(key)} (first at line {first[key]})")
            else:
                first[key] = _line(key_node)
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            self.issues.append(_yaml_issue(exc, self.source.filename))
            return {}
        data: dict = {}
        for key_node, value_node in node.value:  # merged pairs first, so own keys win
            key = self._key(key_node)
            if key is not _FAILED:
                data[key] = self.build(value_node, path + (key,), _line(key_node))
        return data

    def _key(self, node: Node) -> object:
        key = self._construct(node)
        if key is _FAILED:
            return key
        try:
            hash(key)
        except TypeError:
            self._issue(_line(node), "a mapping key must be a plain value, not a list or mapping")
            return _FAILED
        return key

    def _construct(self, node: Node) -> object:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:  # e.g. `!!python/object`, unknown tags
            self.issues.append(_yaml_issue(exc, self.source.filename))
        except (ValueError, TypeError) as exc:  # e.g. `!!int abc` fails inside int()
            self._issue(_line(node), f"cannot read {node.tag!r} value: {exc}")
        return _FAILED

    def _issue(self, line: int, message: str) -> None:
        self.issues.append((line, f"{self.source.filename}:{line}: {message}"))


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _yaml_issue(exc: yaml.YAMLError, filename: str, text: str = "") -> tuple[int, str]:
    """PyYAML's error as (line, one-line issue); its own str() spans several lines."""
    line, message = 0, str(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
        line, message = (mark.line + 1 if mark else 0), exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context:
            at = f" at line {context.line + 1}" if context and context.line + 1 != line else ""
            message = f"{message} ({exc.context}{at})"
    elif isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        message = f"unacceptable character {char}: {exc.reason}"
    prefix = f"{filename}:{line}" if line else filename
    return line, f"{prefix}: {' '.join(message.split())}"


def _invalid(filename: str, issues: list[str]) -> InvalidPlaybook:
    return InvalidPlaybook(f"{filename} is not a valid playbook", issues)


def _quoted(item: object) -> str:
    return repr(item) if isinstance(item, str) else str(item)


def _dotted(path: tuple) -> str:
    text = ""
    for item in path:
        if isinstance(item, int) and not isinstance(item, bool):
            text += f"[{item}]"
        else:
            text += f".{item}" if text else str(item)
    return text
