"""E-mail addresses and domains in the one form LeadRelay stores and matches them in.

Pure functions (standard library only): ingest, look-ups, company domains typed by hand and the migration
that rewrote older stores all use them, so an address or a domain is written one way everywhere.
"""

from __future__ import annotations

import re
import unicodedata

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
        domain = ascii_domain(domain)
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


def ascii_domain(domain: str) -> str:
    """An internationalised domain in IDNA's ASCII form (an ASCII one as it is); a punycode label that does not
    decode is refused (ValueError). E-mail domains and company domains are stored and matched so."""
    if domain.isascii() and "xn--" not in domain:
        return domain
    if len(domain) > 4 * MAX_DOMAIN_LENGTH:  # nameprep would work through the whole of a huge value first
        raise ValueError(f"the domain is longer than {MAX_DOMAIN_LENGTH} characters")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        ascii_domain.encode("ascii").decode("idna")  # checks each xn-- label round-trips
    except UnicodeError:
        raise ValueError("the domain is not a valid internationalised (IDNA) name") from None
    return ascii_domain
