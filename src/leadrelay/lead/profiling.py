"""Progressive profiling: the fields to ask a lead for next, and why.

A form should not ask for everything at once. The fields worth asking are those the
playbook reads and the lead has not told us: what its fit rules and disqualifiers read
(and, for the SQL gate, the qualification criteria not yet answered). They are ranked by
how much knowing them could change the lead's stage:

1. fields a disqualifier reads: the answer could take the lead out (competitor, webmail,
   country, industry, company size);
2. fields whose fit points could alone make the lead meet the next stage's entry criteria
   (its fit at best, everything else as it is now);
3. the rest, by the fit points at stake (the sum of the sizes of the points of the rules
   that read it);
4. last, the SQL gate's unanswered criteria (a rep asks them; a form may too).

A field path maps to the form field that supplies it: `traits.employees` and
`account.employees` to `employees`, `persona` to `title` (personas match the title),
`country` to `country`, and the email's parts to `email`. Fields that are not the lead's
to tell (scores, stage, activity fields) are never asked.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadrelay.core.numbers import as_number
from leadrelay.lead.model import Lead
from leadrelay.lead.rules import Rules
from leadrelay.lead.scoring import clamp
from leadrelay.lead.stages import Stage

_DIRECT = {"persona": "title", "country": "country", "email": "email", "email_domain": "email",
           "company_domain": "email"}


def form_field(path: str) -> str | None:
    """The form field that supplies a field path, or None when it is not the lead's to tell."""
    head, _, rest = path.partition(".")
    if head in ("traits", "account") and rest:
        return rest.split(".")[0]
    return _DIRECT.get(path)


def is_known(lead: Lead, name: str) -> bool:
    """Whether the lead has told us `name` (in its traits, or its account's)."""
    if name == "email":
        return lead.email is not None
    return any(source.get(name) not in (None, "") for source in (lead.traits, lead.account or {}))


@dataclass
class Ask:
    """A field worth asking for: what could follow from knowing it, and the rules that read it."""

    field: str
    could: str | None = None  # "disqualify", "reach mql", "pass the SQL gate"
    points: float = 0.0  # fit points at stake
    gain: float = 0.0  # the most fit points it could add
    why: list[str] = dataclasses.field(default_factory=list)  # `field` here is the attribute above

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "could": self.could, "points": round(self.points, 2), "why": self.why}


def next_fields(lead: Lead, rules: Rules, engagement: float, *,
                gate: Sequence[tuple[str, str]] = ()) -> list[Ask]:
    """The fields to ask `lead` for, most telling first (see the module docstring). `engagement`: decayed to now;
    `gate`: the SQL gate's unanswered criteria as (criterion, framework)."""
    asks: dict[str, Ask] = {}
    unusable = {path for path, _ in _not_numbers(lead, rules)}

    def ask(path: str) -> Ask | None:
        name = form_field(path)
        if name is None or (is_known(lead, name) and path not in unusable):  # "about 300" employees: ask again
            return None
        return asks.setdefault(name, Ask(name))

    disqualified = lead.stage is Stage.DISQUALIFIED
    for rule in rules.disqualifiers:
        for found in {id(a): a for a in (ask(path) for path in rule.reads) if a is not None}.values():
            found.why.append(f"disqualifier {rule.id}: {rule.reason}")
            if not disqualified:
                found.could = "disqualify"
    for fit_rule in rules.fit_rules:
        for found in {id(a): a for a in (ask(path) for path in fit_rule.reads) if a is not None}.values():
            found.points += abs(fit_rule.points)
            found.gain += max(fit_rule.points, 0.0)
            found.why.append(f"fit rule {fit_rule.id} ({fit_rule.points:+g})")
    if not disqualified and lead.stage is not None:
        now = lead.lead_fields(engagement)
        ahead = [entry for entry in rules.stage_entries if entry.stage.rank > lead.stage.rank]
        for found in asks.values():
            if found.could is not None or found.gain <= 0:
                continue
            best = clamp(lead.scoring.fit + found.gain, rules.fit_min, rules.fit_max)
            reached = next((entry.stage for entry in ahead if not entry.when(now)
                            and entry.when(now | {"fit": best})), None)
            if reached is not None:
                found.could = f"reach {reached.value}"
    ranked = sorted(asks.values(), key=lambda a: (a.could != "disqualify", a.could is None, -a.points, a.field))
    gated = [Ask(criterion, "pass the SQL gate", why=[f"the SQL gate reads it ({framework})"])
             for criterion, framework in gate if criterion not in asks]
    return ranked + gated



def unreadable(lead: Lead, rules: Rules) -> list[str]:
    """What the lead told us that the playbook reads but cannot use, each with why and what reads it: a
    country that is not one (`Deutschland` is, `Germania` is not), a number rules compare that is not a
    number (`employees: "about 300"`). Such a value counts as unknown: those rules do not hold for it."""
    out = []
    country = lead.traits.get("country")
    if country not in (None, "") and rules.normalise_country(country) is None:
        out.append(f"country {_shown(country)} is not a country LeadRelay knows (an ISO code or a name): the "
                   "served countries and rules on country cannot use it")
    for path, readers in _not_numbers(lead, rules):
        out.append(f"{path} {_shown(_value_at(lead, path))} is not a number: {', '.join(readers)} cannot use it")
    return out


def _not_numbers(lead: Lead, rules: Rules) -> list[tuple[str, list[str]]]:
    """(path, the rules that compare it) for each value the lead has at a path rules compare as a number, that
    is not one."""
    readers: dict[str, list[str]] = {}
    for path, rule in rules.numeric_reads:
        readers.setdefault(path, []).append(rule)
    return [(path, who) for path, who in readers.items()
            if (value := _value_at(lead, path)) not in (None, "") and as_number(value) is None]


def _value_at(lead: Lead, path: str) -> Any:
    head, _, rest = path.partition(".")
    value: Any = {"traits": lead.traits, "account": lead.account or {}}.get(head) if rest else None
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
