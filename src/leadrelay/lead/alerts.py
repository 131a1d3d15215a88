"""Alerts: tell sales (or marketing) at once when a lead does something that matters, without moving its stage.

An alert rule is a condition over what the lead just did and who it is now (the activity's
fields and the lead's: scores, stage, traits), the people and channels to tell, and when it
may fire again (`rearm`):

- `once`: the first time the condition holds, never again for that lead;
- `crossing`: each time it becomes true after having been false (an engagement bar crossed
  again after it decayed below it, with or without activity in between; for a condition on
  the activity alone, every matching activity after one that did not match);
- a duration (`7d`): whenever it holds, at most once per that long.

Alerts fire only for activities being decided now (never when history is replayed, as by
`rescore`), for known leads, and they keep their state per lead, so a restart changes
nothing. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leadrelay.core.numbers import score_text, shown
from leadrelay.lead.model import Lead
from leadrelay.lead.rules import AlertRule


@dataclass(frozen=True, slots=True)
class AlertFired:
    """An alert rule held for a lead: who to tell and why, in words."""

    lead: Lead
    rule: AlertRule
    at: datetime
    why: str
    activity: Any = None


def check_alerts(lead: Lead, rules: tuple[AlertRule, ...], fields: Mapping[str, Any], at: datetime,
                 activity: Any, out: list[AlertFired], before: Mapping[str, Any] | None = None) -> None:
    """Fire the rules that hold now and may fire again; remember what fired (in `lead.alerts`).

    `before`: the fields with the lead's scores decayed to this moment, before the activity counted; a crossing
    rule that did not hold there is armed again (its score decayed below the bar since it last held)."""
    ts = at.timestamp()
    for rule in rules:
        last, armed = lead.alerts.get(rule.id, (None, True))
        holds = rule.when(fields)
        if rule.rearm == "crossing":
            armed = armed or (before is not None and not rule.when(before))
            fire = holds and armed
            armed = not holds
        elif rule.rearm == "once":
            fire = holds and last is None
        else:  # at most once per `every_seconds`
            fire = holds and (last is None or ts - last >= rule.every_seconds)
        if fire:
            last = ts
            out.append(AlertFired(lead, rule, at, _why(rule, fields), activity))
        if fire or (last, armed) != tuple(lead.alerts.get(rule.id, (None, True))):
            lead.alerts[rule.id] = [last, armed]


def _why(rule: AlertRule, fields: Mapping[str, Any]) -> str:
    """`key_page: read a case study (page /case-studies/acme; fit 55, engagement 42.5)`."""
    did = fields.get("event") or (f"page {fields['path']}" if fields.get("path") else fields.get("type"))
    scores = f"fit {score_text(fields.get('fit', 0))}, engagement {shown(float(fields.get('engagement') or 0)):.1f}"
    return f"{rule.id}: {rule.description or 'its condition held'} ({did}; {scores})"


def last_fired(lead: Lead) -> dict[str, str]:
    """When each alert last fired for the lead (ISO-8601 UTC), for `leads show`."""
    return {rule_id: datetime.fromtimestamp(state[0], UTC).isoformat().replace("+00:00", "Z")
            for rule_id, state in sorted(lead.alerts.items()) if state[0] is not None}
