"""Reading a playbook: YAML with line numbers → validated model → compiled rules, or every error at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from leadrelay.core.errors import InvalidPlaybook
from leadrelay.lead.rules import Rules
from leadrelay.playbook.compiler import compile_rules
from leadrelay.playbook.crosscheck import cross_check, duplicate_ids_in
from leadrelay.playbook.schema import PlaybookModel
from leadrelay.playbook.yamlsource import describe_validation_error, load_yaml

STARTER_NAME = "starter.yaml"


@dataclass(frozen=True)
class Playbook:
    """A loaded playbook: the validated model, its compiled rules and the version that names it."""

    model: PlaybookModel
    rules: Rules
    version: str  # content hash: the same file is the same version everywhere
    text: str
    source: str


def parse_playbook(text: str, filename: str) -> Playbook:
    """Validate and compile playbook text. Raises InvalidPlaybook listing every problem with file:line."""
    data, source_map = load_yaml(text, filename)
    try:
        model = PlaybookModel.model_validate(data)
    except ValidationError as exc:
        issues = describe_validation_error(exc, source_map)
        issues += [_located(source_map, path, message) for path, message in duplicate_ids_in(data)]
        issues.sort(key=_line)  # in the order of the file, the duplicates among the rest
        raise InvalidPlaybook(f"{filename}: {len(issues)} error(s) in playbook", issues) from None
    problems = cross_check(model)
    if problems:
        issues = [_located(source_map, path, message) for path, message in problems]
        raise InvalidPlaybook(f"{filename}: {len(issues)} error(s) in playbook", issues)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Playbook(model, compile_rules(model, version), version, text, filename)


def _line(issue: str) -> int:
    """The line an issue names (`FILE:LINE: ...`), 0 when it names none."""
    parts = issue.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def _located(source_map, path: tuple, message: str) -> str:
    line = source_map.line_of(path)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return f"{source_map.filename}:{line}: {where}: {message}" if line else f"{source_map.filename}: {where}: {message}"


def load_playbook(path: str | Path) -> Playbook:
    """Load a playbook file; see `parse_playbook`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidPlaybook(f"{path}: cannot read: {reason}") from None
    return parse_playbook(text, str(path))


def starter_text() -> str:
    """The commented starter playbook for a B2B SaaS company that `leadrelay init` writes."""
    return resources.files("leadrelay.playbook").joinpath(STARTER_NAME).read_text(encoding="utf-8")


def starter_playbook() -> Playbook:
    return parse_playbook(starter_text(), STARTER_NAME)
