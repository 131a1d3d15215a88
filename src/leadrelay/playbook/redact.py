"""What a rep or a manager may read of the playbook: the rules, without where notices go or whom they reach.

The `notifications` section names webhook URLs (a Slack or CRM webhook URL is a credential
in itself) and the people's email addresses are personal data: sales needs neither to
understand how leads are scored, routed and timed. Admins and marketing, who write the
playbook, read it whole.
"""

from __future__ import annotations

import re

_TOP_LEVEL_KEY = re.compile(r"^[^\s#\-][^:]*:")
_EMAIL = re.compile(r"[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
HIDDEN_EMAIL = "hidden@redacted.invalid"
NOTE = "# Redacted for your role: the notifications section and email addresses are left out.\n"


def redacted(text: str) -> str:
    """`text` without its top-level `notifications:` section and with every email address replaced."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if _TOP_LEVEL_KEY.match(line):
            skipping = line.split(":", 1)[0].strip().strip("'\"") == "notifications"
        if not skipping:
            kept.append(line)
    return NOTE + _EMAIL.sub(HIDDEN_EMAIL, "".join(kept))
