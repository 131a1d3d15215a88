"""API tokens and write keys: created with a role, shown once, stored hashed, revocable.

A secret is random and prefixed by what it is for: `lrk_` for API tokens (roles admin,
marketing, manager, rep), `lrw_` for write keys (role ingest, one source each). Only the
sha256 of a secret is stored, so a database dump leaks no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import Engine, and_, insert, or_, select, update

from leadrelay.core.errors import InvalidInput, LeadRelayError, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.playbook.loader import Playbook
from leadrelay.storage.api_tables import api_tokens
from leadrelay.storage.database import transaction

API_PREFIX = "lrk_"
WRITE_KEY_PREFIX = "lrw_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often per token
_SOURCE_MAX = 64


class Role(str, Enum):
    ADMIN = "admin"
    MARKETING = "marketing"
    MANAGER = "manager"  # their team's leads
    REP = "rep"  # their own leads
    INGEST = "ingest"  # write keys: can only send activities


class Unauthorized(LeadRelayError):
    """No credentials, or credentials that name no live token."""

    code = "unauthorized"


@dataclass(frozen=True)
class Token:
    """A stored token, without its secret."""

    id: int
    role: Role
    rep_id: str | None
    team: str | None
    source: str | None
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    valid_until: datetime | None = None  # None: until revoked

    def as_dict(self) -> dict:
        out = asdict(self)
        out["role"] = self.role.value
        for key in ("created_at", "revoked_at", "last_used_at", "valid_until"):
            out[key] = utc_iso(out[key])
        return out

    def expired(self, now: datetime) -> bool:
        return self.valid_until is not None and now >= self.valid_until


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    engine: Engine,
    role: Role | str,
    *,
    now: datetime,
    rep_id: str | None = None,
    team: str | None = None,
    source: str | None = None,
    label: str | None = None,
    playbook: Playbook | None = None,
    valid_for: timedelta | None = None,
) -> tuple[Token, str]:
    """Store a new token and return it with its secret (the only time the secret exists in clear).

    A rep token needs `rep_id`, a manager token `team`, a write key (`ingest`) `source`.
    With `playbook`, the rep or team must be one the playbook names. With `valid_for`, the
    token expires that long after `now` (else it lives until revoked).
    """
    role = _role(role)
    rep_id, team, source = _blank(rep_id), _blank(team), _blank(source)
    if role is Role.REP and rep_id is None:
        raise InvalidInput("a rep token needs the rep's id (--rep)")
    if role is Role.MANAGER and team is None:
        raise InvalidInput("a manager token needs the team (--team)")
    if role is Role.INGEST and source is None:
        raise InvalidInput("a write key needs a source (--source)")
    if role is not Role.REP and rep_id is not None:
        raise InvalidInput("only rep tokens name a rep")
    if role is not Role.MANAGER and team is not None:
        raise InvalidInput("only manager tokens name a team")
    if role is not Role.INGEST and source is not None:
        raise InvalidInput("only write keys (role ingest) name a source")
    if source is not None and len(source) > _SOURCE_MAX:
        raise InvalidInput(f"a source name has at most {_SOURCE_MAX} characters")
    if playbook is not None:
        _check_people(playbook, role, rep_id, team)
    if valid_for is not None and valid_for <= timedelta(0):
        raise InvalidInput("a token must be valid for some time (e.g. 90d)")
    valid_until = now + valid_for if valid_for is not None else None
    secret = (WRITE_KEY_PREFIX if role is Role.INGEST else API_PREFIX) + secrets.token_urlsafe(32)
    values = dict(token_hash=hash_secret(secret), role=role.value, rep_id=rep_id, team=team, source=source,
                  label=label, created_at=now, valid_until=valid_until)
    with transaction(engine) as conn:
        token_id = conn.execute(insert(api_tokens).values(**values).returning(api_tokens.c.id)).scalar_one()
    return Token(token_id, role, rep_id, team, source, label, now, None, None, valid_until), secret


def authenticate(engine: Engine, secret: str, *, now: datetime) -> Token:
    """The live token whose secret this is. Raises Unauthorized (the same message for unknown and revoked)."""
    if not secret:
        raise Unauthorized("no token given")
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_hash == hash_secret(secret))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked token")
    token = _token(row)
    if token.expired(now):
        raise Unauthorized(f"this token expired at {utc_iso(token.valid_until)}: ask an admin for a new one")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        with transaction(engine) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.id == token.id).values(last_used_at=now))
    return token


def list_tokens(engine: Engine, *, include_revoked: bool = False) -> list[Token]:
    """Every token (without secrets), oldest first."""
    query = select(api_tokens).order_by(api_tokens.c.id)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_token(row) for row in conn.execute(query)]


def revoke_token(engine: Engine, token_id: int, *, now: datetime) -> Token:
    """Revoke a token for good. Revoking a revoked token changes nothing. Raises NotFound."""
    with transaction(engine) as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"no token {token_id}")
        if row.revoked_at is None:
            conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=now))
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).one()
    return _token(row)


def revoke_missing_people(engine: Engine, playbook: Playbook, *, now: datetime) -> list[int]:
    """Revoke, for good, every live rep token whose rep and manager token whose team `playbook` no longer names:
    a rollback, or a new person given the same id, must not bring the old token back. Returns their ids."""
    model = playbook.model
    reps = {rep.id for rep in getattr(model, "reps", [])}
    teams = {team.id for team in getattr(model, "teams", [])}
    t = api_tokens.c
    gone = or_(and_(t.role == Role.REP.value, t.rep_id.not_in(reps)),
               and_(t.role == Role.MANAGER.value, t.team.not_in(teams)))
    with transaction(engine) as conn:
        ids = list(conn.scalars(select(t.id).where(t.revoked_at.is_(None), gone)))
        if ids:
            conn.execute(update(api_tokens).where(t.id.in_(ids)).values(revoked_at=now))
    return ids


def _check_people(playbook: Playbook, role: Role, rep_id: str | None, team: str | None) -> None:
    model = playbook.model
    if role is Role.REP and rep_id not in {rep.id for rep in getattr(model, "reps", [])}:
        raise InvalidInput(f"the playbook has no rep '{rep_id}'")
    if team is not None and team not in {t.id for t in getattr(model, "teams", [])}:
        raise InvalidInput(f"the playbook has no team '{team}'")


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"unknown role '{value}' (one of {', '.join(r.value for r in Role)})") from None


def _blank(value: str | None) -> str | None:
    value = value.strip() if isinstance(value, str) else value
    return value or None


def _token(row) -> Token:
    return Token(row.id, Role(row.role), row.rep_id, row.team, row.source, row.label, row.created_at,
                 row.revoked_at, row.last_used_at, row.valid_until)
