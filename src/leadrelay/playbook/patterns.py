"""The regular expressions a playbook holds (persona titles, `matches` conditions), matched in linear time.

They run on RE2 (the `google-re2` package), not Python's backtracking `re`: a pattern such as `(a+)+$` —
harmless to read, easy to write — takes Python minutes on a 30-character job title and would hold the
server, and SQLite's write lock, for all of them. RE2 answers in time proportional to the text, whatever
the pattern. In return it has no backreferences (`\\1`) and no lookarounds (`(?=...)`, `(?<!...)`): a
playbook that uses them is refused with the reason, at its file and line. Matching ignores case.
"""

from __future__ import annotations

from typing import Any

import re2

_NOT_SUPPORTED = ("invalid perl operator", "invalid escape sequence", "invalid named capture group")


def compile_pattern(pattern: str) -> Any:
    """The pattern compiled for case-insensitive, linear-time search; ValueError (with why) if it cannot be."""
    options = re2.Options()
    options.log_errors = False  # the error comes back to the caller, with the file and line
    options.case_sensitive = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = " (backreferences and lookarounds are not supported: patterns run in linear time)" \
            if reason.startswith(_NOT_SUPPORTED) else ""
        raise ValueError(f"bad regular expression {pattern!r}: {reason}{hint}") from None
