"""Tables of the HTTP API: API tokens and write keys, and which playbook version is active.

They live on the shared `metadata` of `storage/tables.py`; migration 0004 creates them.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Table, Text

from leadrelay.storage.tables import Id, UTCDateTime, metadata

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the secret, never the secret
    Column("role", String(16), nullable=False),  # admin | marketing | manager | rep | ingest
    Column("rep_id", String(80)),  # role rep: whose leads
    Column("team", String(80)),  # role manager: which team's leads
    Column("source", String(64)),  # role ingest: the source recorded on what the write key ingests
    Column("label", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("valid_until", UTCDateTime),  # optional expiry: refused from this moment on
)

# One row (id 1): the playbook version the engine runs. Texts of every version stay in `playbooks`.
active_playbook = Table(
    "active_playbook", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", String(12), ForeignKey("playbooks.version"), nullable=False),
    Column("activated_by", String(120), nullable=False),
    Column("activated_at", UTCDateTime, nullable=False),
    CheckConstraint("id = 1", name="ck_active_playbook_single_row"),
)

# Signed-in browsers: the cookie holds a random secret, only its sha256 is kept. A session lives as long as its
# token does (revoking the token ends it) and at most until it expires; signing out ends it at once.
web_sessions = Table(
    "web_sessions", metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("token_id", Id, ForeignKey("api_tokens.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),  # the form token of this session
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)

# One-time sign-in links (`leadrelay tokens login-link`): used once, within minutes.
login_links = Table(
    "login_links", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("token_id", Id, ForeignKey("api_tokens.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)
