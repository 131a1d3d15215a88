"""Identity resolution: anonymous ids, user ids and emails resolve to one lead.

When one message names identities that belong to two leads (an anonymous visitor
identifying as a known person, or an `alias` call), the leads merge: the survivor keeps
both histories. This module decides; storage applies the decisions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from leadrelay.lead.activities import Activity
from leadrelay.lead.model import Lead

IdentityKey = tuple[str, str]  # (kind, value): kind is anonymous | user | email
KINDS = ("anonymous", "user", "email")
MAX_EMAIL_LENGTH = 254  # RFC 5321's path limit, less its angle brackets
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321
MAX_DOMAIN_LENGTH = 253  # the longest name DNS allows
# The local part: anything a mailbox may be called, but no whitespace or control character, and none of the
# characters that mean a display name or a list of addresses was pasted (`Ann <ann@x.io>`, `a@x.io, b@y.io`).
_LOCAL_PART = re.compile(r"[^\s@<>,;\x00-\x1f\x7f]+")
# The domain, once IDNA has made it ASCII: host-name labels (letters, digits, inner hyphens) of at most 63
# characters, at least two of them, and a top-level label that starts with a letter (no bare IP addresses).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+[a-z](?:[a-z0-9-]{{0,61}}[a-z0-9])?")


def canonical_email(value: str) -> str:
    """Return the one form an e-mail address is stored and matched in, or raise ValueError saying why it is not one.

    The same person must be one lead however a form, a CRM or a tracking library wrote the address, so the
    canonical form drops what is not part of the address: surrounding whitespace, `<...>` and a `mailto:` prefix
    (any case); invisible format characters (Unicode category Cf: zero-width space and joiners, the byte-order
    mark, direction marks), which copy and paste carry in. The rest is put in Unicode NFC (an `é` typed as one
    character or as `e` plus an accent is the same) and lower-cased, as LeadRelay always has: mailboxes that
    differ only by case are one person in practice. The domain is written in ASCII, an internationalised one in
    its IDNA (punycode) form, so `müller.de` and `xn--mller-kva.de` match; Python's `encodings.idna` does it,
    which follows IDNA 2003 (it maps `ß` to `ss`, where IDNA 2008 keeps it: the few such domains resolve alike).

    Everything else is kept as written. Plus-addressing (`ann+news@acme.io`) and dots in the local part stay:
    whether they reach the same mailbox is the mail server's rule, not the address's, and two leads are better
    than one lead made of two people.

    Validation is a shape check, not RFC 5322: exactly one `@`; a local part of at most 64 characters with no
    whitespace, control character or `<>,;` (Unicode is fine); a domain of host-name labels with at least one
    dot, at most 253 characters, whose top-level label starts with a letter; at most 254 characters in all.
    """
    email = value
    if not email.isascii():  # the hot path: analytics.js sends an ASCII address on nearly every message
        email = unicodedata.normalize("NFC", "".join(c for c in email if unicodedata.category(c) != "Cf"))
    email = email.strip()
    if email.startswith("<") and email.endswith(">"):
        email = email[1:-1].strip()
    if email[:7].lower() == "mailto:":
        email = email[7:].strip()
    if not email:
        raise ValueError("empty")
    local, at, domain = email.lower().partition("@")
    if not at:
        raise ValueError("no @")
    if "@" in domain:
        raise ValueError("more than one @")
    if not local:
        raise ValueError("nothing before the @")
    if not domain:
        raise ValueError("nothing after the @")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise ValueError(f"the part before the @ is longer than {MAX_LOCAL_PART_LENGTH} characters")
    if not _LOCAL_PART.fullmatch(local):
        raise ValueError("whitespace, a control character or one of <>,; before the @")
    if not domain.isascii() or "xn--" in domain:
        domain = _ascii_domain(domain)
    if len(domain) > MAX_DOMAIN_LENGTH:
        raise ValueError(f"the domain is longer than {MAX_DOMAIN_LENGTH} characters")
    if "." not in domain:
        raise ValueError("the domain has no dot")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError("the domain is not a host name")
    email = f"{local}@{domain}"
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"longer than {MAX_EMAIL_LENGTH} characters")
    return email


def normalise_email(value: object) -> str | None:
    """Return `value` in its canonical form (see `canonical_email`) if it is an e-mail address, else None.

    For looking leads up by what a person typed; ingest uses `canonical_email` so that a bad address is
    rejected with its reason rather than dropped. Non-strings give None.
    """
    if not isinstance(value, str):
        return None
    try:
        return canonical_email(value)
    except ValueError:
        return None


def _ascii_domain(domain: str) -> str:
    """An internationalised domain in IDNA's ASCII form; a punycode label that does not decode is refused."""
    if len(domain) > 4 * MAX_DOMAIN_LENGTH:  # nameprep would work through the whole of a huge value first
        raise ValueError(f"the domain is longer than {MAX_DOMAIN_LENGTH} characters")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        ascii_domain.encode("ascii").decode("idna")  # checks each xn-- label round-trips
    except UnicodeError:
        raise ValueError("the domain is not a valid internationalised (IDNA) name") from None
    return ascii_domain


def identity_keys(activity: Activity) -> list[IdentityKey]:
    """The identities one message names (an alias's previousId is handled by the caller)."""
    keys = []
    if activity.anonymous_id:
        keys.append(("anonymous", activity.anonymous_id))
    if activity.user_id:
        keys.append(("user", activity.user_id))
    if activity.email:
        keys.append(("email", activity.email))
    return keys


@dataclass(slots=True)
class Merge:
    loser: Lead
    survivor: Lead


@dataclass
class IdentityGraph:
    """Identities known so far (loaded from storage for one batch), updated as messages resolve."""

    owners: dict[IdentityKey, Lead]
    new_keys: dict[IdentityKey, Lead] = field(default_factory=dict)
    new_leads: list[Lead] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    _redirect: dict[int, Lead] = field(default_factory=dict)  # id(loser) -> survivor

    def keys_to_store(self) -> dict[IdentityKey, Lead]:
        """New identities, each pointing at the lead that holds it after every merge in the batch."""
        return {key: self.lead_for(lead) for key, lead in self.new_keys.items()}

    def lead_for(self, lead: Lead) -> Lead:
        """Follow merges to the lead that now holds this one's history."""
        while id(lead) in self._redirect:
            lead = self._redirect[id(lead)]
        return lead

    def resolve(self, activity: Activity) -> Lead:
        """The lead a message belongs to; creates or merges leads as the identities require."""
        keys = identity_keys(activity)
        if activity.type == "alias" and activity.previous_id:
            previous = self._find(("user", activity.previous_id)) or self._find(("anonymous", activity.previous_id))
            if previous is None:
                keys.append(("anonymous", activity.previous_id))
            else:
                keys.append(next(k for k in (("user", activity.previous_id), ("anonymous", activity.previous_id))
                                 if self._find(k) is previous))
        leads = _distinct(self._find(k) for k in keys)
        if not leads:
            lead = Lead()
            self.new_leads.append(lead)
        else:
            lead = leads[0]
            for other in leads[1:]:
                lead = self._merge(lead, other)
        for key in keys:
            if self._find(key) is not lead:
                self.owners[key] = lead
                self.new_keys[key] = lead
        return lead

    def _find(self, key: IdentityKey) -> Lead | None:
        lead = self.owners.get(key)
        return self.lead_for(lead) if lead is not None else None

    def _merge(self, a: Lead, b: Lead) -> Lead:
        survivor, loser = (a, b) if _survivor_rank(a) <= _survivor_rank(b) else (b, a)
        self._redirect[id(loser)] = survivor
        if loser.id is None:
            self.new_leads = [lead for lead in self.new_leads if lead is not loser]
        else:
            self.merges.append(Merge(loser, survivor))
        return survivor


def _survivor_rank(lead: Lead) -> tuple:
    # Keep the lead sales may already know: known before anonymous, further in the funnel,
    # then the oldest stored one.
    return (
        not lead.known,
        -(lead.stage.rank if lead.stage else -2),
        lead.id is None,
        lead.id or 0,
    )


def _distinct(leads: Iterable[Lead | None]) -> list[Lead]:
    seen: list[Lead] = []
    for lead in leads:
        if lead is not None and all(lead is not s for s in seen):
            seen.append(lead)
    return seen
