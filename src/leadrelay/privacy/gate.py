"""The gate intake passes through: messages about a person erased on request are refused, unless they opt in.

An erasure keeps, for each identity the person had (email, user id, anonymous id), only
`digest(kind, value)`: HMAC-SHA256 keyed with a random salt made once per install
(migration 0016, in `privacy_state`). Why keyed, not plain sha256: a plain digest of an
address can be looked up in a table of digests of known addresses, or matched across
databases; with the salt, a digest means something only in the database that made it.
Whoever holds the database can still test a guessed address — that is the point of the
tombstone (recognise the person when they come back), and it is all the digest allows.

Opting in again is an `identify` call whose traits say `consent: true` (JSON true or
the text "true"): the identities it names are let in again from that message on (their
digests are marked lifted, with the message id), and it starts a new lead. Anything
else naming an erased identity is refused, with a reason that names the erasure by
number and nothing about the person.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, select, update

from leadrelay.lead.activities import Activity, Rejection
from leadrelay.lead.identity import identity_keys
from leadrelay.lead.store import chunks
from leadrelay.storage import privacy_tables as pt
from leadrelay.storage.database import upsert_into

IdentityKey = tuple[str, str]


def salt(conn: Connection) -> bytes:
    """The install's salt (made by migration 0016; made here if someone deleted it, which un-recognises every
    erased identity stored before: the digests no longer match)."""
    s = pt.privacy_state.c
    found = conn.scalar(select(s.value).where(s.key == "salt"))
    if found is None:
        insert = upsert_into(conn, pt.privacy_state)
        conn.execute(insert.values(key="salt", value=secrets.token_hex(32)).on_conflict_do_nothing())
        found = conn.scalar(select(s.value).where(s.key == "salt"))
    return bytes.fromhex(cast(str, found))  # the row is there now


def digest(key: bytes, kind: str, value: str) -> str:
    """The one-way, install-keyed digest of an identity, as erasures store it."""
    return hmac.new(key, f"{kind}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def message_keys(activity: Activity) -> list[IdentityKey]:
    """Every identity a message names, an alias's previous id as either kind (as intake resolves it)."""
    keys = identity_keys(activity)
    if activity.type == "alias" and activity.previous_id:
        keys += [("user", activity.previous_id), ("anonymous", activity.previous_id)]
    return keys


def opts_in(activity: Activity) -> bool:
    """An identify call whose traits say `consent: true`: the person asks to be known again."""
    consent = activity.traits.get("consent") if activity.type == "identify" else None
    return consent is True or (isinstance(consent, str) and consent.strip().lower() == "true")


def erasures_of(conn: Connection, key: bytes, keys: Iterable[IdentityKey]) -> dict[IdentityKey, int]:
    """The erasure still refusing each of these identities (only those refused)."""
    wanted = {digest(key, kind, value): (kind, value) for kind, value in keys}
    e = pt.erased_identities.c
    found: dict[IdentityKey, int] = {}
    for part in chunks(sorted(wanted)):
        for row in conn.execute(select(e.digest, e.erasure_id).where(e.digest.in_(part), e.lifted_at.is_(None))):
            found[wanted[row.digest]] = row.erasure_id
    return found


_ANYONE_ERASED = select(pt.erased_identities.c.id).where(pt.erased_identities.c.lifted_at.is_(None)).limit(1)


def refuse_erased(conn: Connection, activities: list[Activity], positions: Mapping[int, str],
                  now: datetime) -> tuple[list[Activity], list[Rejection]]:
    """Split a batch into what may go in and what is refused because its person was erased.

    In input order: an opt-in lifts the identities it names (and goes in); any other message
    naming an identity still refused is turned away. `positions` maps `id(activity)` to where
    it was in the input. Costs one small query when nobody was ever erased. Call it under the
    batch's identity locks, so an erasure and an ingest of the same person do not interleave.
    """
    if not activities or conn.scalar(_ANYONE_ERASED) is None:
        return activities, []
    e = pt.erased_identities.c
    key = salt(conn)
    refused_by = erasures_of(conn, key, {k for a in activities for k in message_keys(a)})
    if not refused_by:
        return activities, []
    kept, refused = [], []
    for activity in activities:
        keys = message_keys(activity)
        if opts_in(activity):
            lifted = [digest(key, kind, value) for kind, value in keys if (kind, value) in refused_by]
            if lifted:
                conn.execute(update(pt.erased_identities).where(e.digest.in_(lifted), e.lifted_at.is_(None))
                             .values(lifted_at=now, lifted_by=activity.message_id))
                for k in keys:
                    refused_by.pop(k, None)
            kept.append(activity)
            continue
        erasure = next((refused_by[k] for k in keys if k in refused_by), None)
        if erasure is None:
            kept.append(activity)
            continue
        # No raw message: it is about the erased person. The reason names the erasure, never them.
        refused.append(Rejection(positions.get(id(activity), f"message {activity.message_id}"),
                                 f"about a person erased on request (erasure {erasure}): not stored; an identify "
                                 "call with traits.consent: true lets them in again", activity.message_id))
    return kept, refused
