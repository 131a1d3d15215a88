"""Tables for data protection: erasures (the tombstones), the identities they refuse, and the install's salt.

An erasure keeps no personal data: who asked, when and why, and for each identity the
erased person had (email, user id, anonymous id) a keyed one-way digest, so that a later
message naming it is refused instead of quietly building a new profile of the same
person (`leadrelay.privacy`). Migration 0016 creates them and the salt.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from leadrelay.storage.tables import Document, Id, UTCDateTime, metadata

erasures = Table(
    "erasures", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False, index=True),  # the survivor asked about
    Column("leads", Document, nullable=False),  # every lead id erased with it (merged-away ones too)
    Column("erased_at", UTCDateTime, nullable=False),
    Column("erased_by", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("identities", Integer, nullable=False),  # how many digests it refuses
    Column("counts", Document, nullable=False),  # rows changed per table: what the erasure touched
)

# One row per identity an erasure refuses. `lifted_at` is set when the person opts in again (an identify call
# with `traits.consent: true` naming it); a lifted row refuses nothing and stays as the record of the opt-in.
erased_identities = Table(
    "erased_identities", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False),  # HMAC-SHA256(install salt, "kind\0value"), hex
    Column("kind", String(10), nullable=False),  # email | user | anonymous
    Column("erasure_id", Id, ForeignKey("erasures.id"), nullable=False),
    Column("lifted_at", UTCDateTime),
    Column("lifted_by", String(200)),  # the message id of the opt-in
    Index("ix_erased_identities_digest", "digest"),
)

# Key/value state of the privacy package: `salt` (made by migration 0016, never changes) and the retention
# pass's progress (`raw_trimmed_through`: the highest activity id whose raw context has been trimmed).
privacy_state = Table(
    "privacy_state", metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)
