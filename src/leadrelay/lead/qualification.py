"""Who is out whatever their score (disqualifiers) and who they are (personas)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from leadrelay.core.numbers import as_number
from leadrelay.lead.rules import Disqualifier, Persona, Rules


def match_persona(title: Any, personas: Iterable[Persona]) -> str | None:
    """The first persona whose title pattern matches the job title, or None."""
    if not isinstance(title, str) or not title.strip():
        return None
    for persona in personas:
        if any(p.search(title) for p in persona.titles):
            return persona.id
    return None


def first_disqualifier(fields: Mapping[str, Any], rules: Rules) -> Disqualifier | None:
    """The first disqualifier that holds for a lead's fit fields, or None."""
    for rule in rules.disqualifiers:
        if rule.test(fields):
            return rule
    return None


def builtin_disqualifiers(
    *,
    competitors: Iterable[str],
    served_countries: Iterable[str] | None,
    disqualify_webmail: bool,
    is_webmail: Callable[[str], bool],
    industries: Iterable[str] | None,
    size_min: int | None,
    size_max: int | None,
) -> list[Disqualifier]:
    """The ICP checks every playbook can switch on. Unknown data never disqualifies."""
    rules: list[Disqualifier] = []
    rivals = frozenset(d.lower() for d in competitors)
    if rivals:
        def competitor(f: Mapping[str, Any]) -> bool:
            domains = {f.get("email_domain"), f.get("company_domain"), _text(f.get("account", {}).get("domain"))}
            return not rivals.isdisjoint(domains)

        rules.append(Disqualifier("competitor", competitor, "works at a competitor",
                                  ("email_domain", "company_domain")))
    if disqualify_webmail:
        rules.append(Disqualifier(
            "webmail",
            lambda f: f.get("email_domain") is not None and is_webmail(f["email_domain"]),
            "signed up with a webmail address", ("email_domain",),
        ))
    if served_countries is not None:
        served = frozenset(served_countries)
        rules.append(Disqualifier(
            "unserved_country",
            lambda f: f.get("country") is not None and f["country"] not in served,
            "is in a country we do not serve", ("country",),
        ))
    if industries is not None:
        wanted = frozenset(i.casefold() for i in industries)

        def off_industry(f: Mapping[str, Any]) -> bool:
            industry = _text(f["traits"].get("industry")) or _text(f.get("account", {}).get("industry"))
            return industry is not None and industry.casefold() not in wanted

        rules.append(Disqualifier("industry", off_industry, "is in an industry outside our ICP",
                                  ("traits.industry", "account.industry")))
    if size_min is not None or size_max is not None:
        def off_size(f: Mapping[str, Any]) -> bool:
            size = company_size(f)
            if size is None:
                return False
            return (size_min is not None and size < size_min) or (size_max is not None and size > size_max)

        rules.append(Disqualifier("company_size", off_size, "company size is outside our ICP",
                                  ("traits.employees", "account.employees")))
    return rules


def company_size(fields: Mapping[str, Any]) -> float | None:
    """Employees from the lead's traits, else the account's."""
    for source in (fields.get("traits", {}), fields.get("account", {})):
        number = as_number(source.get("employees"))
        if number is not None:
            return number
    return None


def _text(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None
