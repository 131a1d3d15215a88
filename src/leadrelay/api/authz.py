"""Who may do what: every authorization rule of the HTTP API, in this one module.

Two questions, answered apart:

- May this role do this kind of thing at all? `require(caller, Action.X)`, from the
  `ALLOWED` table; no is 403.
- Which leads may this caller see and act on? Admin and marketing: every lead. A
  manager: the leads owned by the reps of their team (from the active playbook). A rep:
  the leads they own. A lead outside that scope is answered exactly like a lead that
  does not exist (404, "no lead REF"), so a rep cannot learn that another rep's lead
  exists.

A rep or manager token stops working (401) once the active playbook no longer names
its rep or team: that is how a deleted rep's token dies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from leadrelay.api.errors import Forbidden
from leadrelay.domain.errors import NotFound
from leadrelay.domain.lead import Lead
from leadrelay.playbook.loader import Playbook
from leadrelay.services.tokens import Role, Token, Unauthorized


class Action(str, Enum):
    INGEST = "ingest"  # send activities (Segment endpoints)
    READ_LEADS = "read_leads"
    MOVE_SALES = "move_sales"  # recycle, reject: sales hands a lead back
    MOVE_QUALIFICATION = "move_qualification"  # disqualify, reopen
    READ_PLAYBOOK = "read_playbook"
    MANAGE_PLAYBOOK = "manage_playbook"  # validate candidates, list versions, activate
    READ_FUNNEL = "read_funnel"
    READ_REJECTIONS = "read_rejections"
    MANAGE_TOKENS = "manage_tokens"
    WHOAMI = "whoami"


_PEOPLE = frozenset({Role.ADMIN, Role.MARKETING, Role.MANAGER, Role.REP})
_SALES = frozenset({Role.ADMIN, Role.MANAGER, Role.REP})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.INGEST: frozenset({Role.INGEST}),
    Action.READ_LEADS: _PEOPLE,
    Action.MOVE_SALES: _SALES,
    Action.MOVE_QUALIFICATION: _PEOPLE,
    Action.READ_PLAYBOOK: _PEOPLE,
    Action.MANAGE_PLAYBOOK: frozenset({Role.ADMIN, Role.MARKETING}),
    Action.READ_FUNNEL: frozenset({Role.ADMIN, Role.MARKETING, Role.MANAGER}),
    Action.READ_REJECTIONS: frozenset({Role.ADMIN, Role.MARKETING}),
    Action.MANAGE_TOKENS: frozenset({Role.ADMIN}),
    Action.WHOAMI: _PEOPLE,
}


@dataclass(frozen=True)
class Caller:
    """The token behind a request."""

    token: Token

    @property
    def role(self) -> Role:
        return self.token.role

    @property
    def actor(self) -> str:
        """How history rows name this caller: `user:REP` for a rep, `token:ID` otherwise."""
        return f"user:{self.token.rep_id}" if self.role is Role.REP else f"token:{self.token.id}"


def require(caller: Caller, action: Action) -> None:
    """Raise Forbidden unless the caller's role may do `action`."""
    if caller.role not in ALLOWED[action]:
        if caller.role is Role.INGEST:
            raise Forbidden("a write key can only send activities (/v1/...)")
        raise Forbidden(f"role {caller.role.value} may not {action.value.replace('_', ' ')}")


def check_still_valid(token: Token, playbook: Playbook) -> None:
    """A rep or manager token whose rep or team the active playbook no longer names is dead (401)."""
    if token.role is Role.REP and token.rep_id not in {rep.id for rep in _reps(playbook)}:
        raise Unauthorized(f"the token's rep '{token.rep_id}' is not in the active playbook any more")
    if token.role is Role.MANAGER and token.team not in {team.id for team in _teams(playbook)}:
        raise Unauthorized(f"the token's team '{token.team}' is not in the active playbook any more")


def team_members(playbook: Playbook, team: str) -> frozenset[str]:
    """Ids of the reps the playbook puts in `team`."""
    return frozenset(rep.id for rep in _reps(playbook) if rep.team == team)


def visible_owners(caller: Caller, playbook: Playbook) -> frozenset[str] | None:
    """The owners whose leads the caller may see; None means every lead (owned or not)."""
    if caller.role is Role.REP:
        return frozenset({caller.token.rep_id})
    if caller.role is Role.MANAGER:
        return team_members(playbook, caller.token.team)
    if caller.role in (Role.ADMIN, Role.MARKETING):
        return None
    return frozenset()


def ensure_visible(caller: Caller, playbook: Playbook, lead: Lead, ref: str) -> None:
    """Raise NotFound, worded as for a lead that does not exist, unless the caller may see `lead`."""
    owners = visible_owners(caller, playbook)
    if owners is not None and lead.owner not in owners:
        raise NotFound(f"no lead {str(ref).strip()}")


def _reps(playbook: Playbook) -> list:
    return list(getattr(playbook.model, "reps", None) or [])


def _teams(playbook: Playbook) -> list:
    return list(getattr(playbook.model, "teams", None) or [])
