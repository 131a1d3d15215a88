"""Who may do what: every authorization rule of the HTTP API, in this one module.

Two questions, answered apart:

- May this role do this kind of thing at all? `require(caller, Action.X)`, from the
  `ALLOWED` table; no is 403.
- Which leads may this caller see and act on? Admin and marketing: every lead. A
  manager: the leads owned by the reps of their team (from the active playbook). A rep:
  the leads they own. A lead outside that scope is answered exactly like a lead that
  does not exist (404, "no lead REF"), so a rep cannot learn that another rep's lead
  exists.

Reps themselves (their queue, load and settings) follow the same scope: a rep sees their
own, a manager their team's, admin and marketing everyone's; a manager changes, gives
leads and accounts to, and reads the queues of the reps of their team only. Accepting a
handoff, logging touches and passing a lead through the SQL gate are the owning rep's
own work; reassigning is a manager's or an admin's.

Qualifying and converting a lead, and working an opportunity (move, probability, win,
lose), are sales work: a rep on their own leads and deals (as themselves, so the
services check they own it), a manager on their team's, an admin on any; marketing reads
deals but does not change them. Opportunities follow the leads' scope by their owner, and
one outside it is "not found" ("no opportunity ID"). The forecast is admin's and
marketing's (every deal) and a manager's (the deals of their team's reps only).

A person's whole record (export) and erasing it are admin's alone, on any lead.

A rep or manager token stops working (401) once the active playbook no longer names
its rep or team: that is how a deleted rep's token dies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TypedDict

from leadrelay.access.tokens import Role, Token, Unauthorized
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.entrypoints.api.errors import Forbidden
from leadrelay.lead.model import Lead
from leadrelay.playbook.loader import Playbook


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
    ACT_AS_OWNER = "act_as_owner"  # accept a handoff, log touches: the owning rep's own work
    REASSIGN = "reassign"  # give a lead to another rep (or back to routing)
    READ_QUEUE = "read_queue"  # a rep's open handoffs
    READ_TEAMS = "read_teams"  # teams, and the reps in the caller's scope with their load
    MANAGE_REPS = "manage_reps"  # active, capacity, quota, weight, away
    MANAGE_ACCOUNTS = "manage_accounts"  # account owners
    READ_SUPPRESSIONS = "read_suppressions"
    READ_SLA = "read_sla"
    MANAGE_OUTBOX = "manage_outbox"  # list and replay notifications
    QUALIFY = "qualify"  # record answers to the playbook's framework
    ADVANCE_TO_SQL = "advance_to_sql"  # through the SQL gate: the owning rep's own work
    CONVERT = "convert"  # open an opportunity from an SQL
    READ_DEALS = "read_deals"
    CHANGE_DEALS = "change_deals"  # move, probability, win, lose
    READ_FORECAST = "read_forecast"
    READ_REPORTS = "read_reports"  # cohort reports: a rep sees their own leads, a manager their team's
    EXPORT_SEGMENTS = "export_segments"  # leads by stage, segment and suppression, for the email tool
    MANAGE_MEETINGS = "manage_meetings"  # book, reschedule, held, no-show, cancel (a rep: on their own leads)
    EXPORT_PEOPLE = "export_people"  # everything held about a person (a subject access request)
    ERASE_PEOPLE = "erase_people"  # erase a person's data on request


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
    Action.ACT_AS_OWNER: frozenset({Role.REP}),
    Action.REASSIGN: frozenset({Role.ADMIN, Role.MANAGER}),
    Action.READ_QUEUE: _SALES,
    Action.READ_TEAMS: _PEOPLE,
    Action.MANAGE_REPS: frozenset({Role.ADMIN, Role.MANAGER}),
    Action.MANAGE_ACCOUNTS: frozenset({Role.ADMIN, Role.MANAGER}),
    Action.READ_SUPPRESSIONS: frozenset({Role.ADMIN, Role.MARKETING, Role.MANAGER}),
    Action.READ_SLA: frozenset({Role.ADMIN, Role.MARKETING, Role.MANAGER}),
    Action.MANAGE_OUTBOX: frozenset({Role.ADMIN}),
    Action.QUALIFY: _SALES,
    Action.ADVANCE_TO_SQL: frozenset({Role.REP}),
    Action.CONVERT: _SALES,
    Action.READ_DEALS: _PEOPLE,
    Action.CHANGE_DEALS: _SALES,
    Action.READ_FORECAST: frozenset({Role.ADMIN, Role.MARKETING, Role.MANAGER}),
    Action.READ_REPORTS: _PEOPLE,
    Action.EXPORT_SEGMENTS: frozenset({Role.ADMIN, Role.MARKETING}),
    Action.MANAGE_MEETINGS: _SALES,
    Action.EXPORT_PEOPLE: frozenset({Role.ADMIN}),
    Action.ERASE_PEOPLE: frozenset({Role.ADMIN}),
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
        assert caller.token.rep_id is not None  # a rep token names its rep
        return frozenset({caller.token.rep_id})
    if caller.role is Role.MANAGER:
        assert caller.token.team is not None  # a manager token names its team
        return team_members(playbook, caller.token.team)
    if caller.role in (Role.ADMIN, Role.MARKETING):
        return None
    return frozenset()


def visible_reps(caller: Caller, playbook: Playbook) -> frozenset[str] | None:
    """The reps whose load and settings the caller may see (None: every rep): the owners of the leads they see."""
    return visible_owners(caller, playbook)


def ensure_rep_exists(playbook: Playbook, rep_id: str) -> None:
    """Raise NotFound unless the playbook names the rep (the playbook is readable by every person)."""
    if rep_id not in {rep.id for rep in _reps(playbook)}:
        raise NotFound(f"no rep '{rep_id}' in the playbook")


def queue_owner(caller: Caller, playbook: Playbook, rep_id: str | None) -> str:
    """Whose queue the caller reads: a rep, their own; a manager, a rep of their team; an admin, any rep.

    Raises InvalidInput when a manager or admin names no rep, NotFound for a rep the
    playbook does not name, Forbidden for someone else's (a rep) or another team's (a manager).
    """
    if caller.role is Role.REP:
        assert caller.token.rep_id is not None  # a rep token names its rep
        if rep_id is not None and rep_id != caller.token.rep_id:
            raise Forbidden("a rep sees only their own queue")
        return caller.token.rep_id
    if rep_id is None:
        raise InvalidInput("give ?rep=REP: only a rep token has a queue of its own")
    ensure_rep_exists(playbook, rep_id)
    require_manages(caller, playbook, rep_id, "see the queue of")
    return rep_id


def require_manages(caller: Caller, playbook: Playbook, rep_id: str, what: str = "manage") -> None:
    """A manager acts only on the reps of their team (admin on any); raise Forbidden otherwise."""
    if caller.role is not Role.MANAGER:
        return
    assert caller.token.team is not None  # a manager token names its team
    if rep_id not in team_members(playbook, caller.token.team):
        raise Forbidden(f"a manager may only {what} the reps of their team ({caller.token.team})")


def require_manages_rep(caller: Caller, playbook: Playbook, rep_id: str, what: str = "change") -> None:
    """A rep someone changes (or gives an account to) must exist (else NotFound) and, for a
    manager, be in their team (else Forbidden). Whether the role may do it at all is `require`'s."""
    ensure_rep_exists(playbook, rep_id)
    require_manages(caller, playbook, rep_id, what)


def require_assignee(caller: Caller, playbook: Playbook, rep_id: str | None) -> None:
    """Who a lead may be given to: any rep by an admin, a rep of their own team by a manager.

    A rep the playbook does not name is left to the service (404); None lets routing pick.
    """
    if rep_id is not None and rep_id in {rep.id for rep in _reps(playbook)}:
        require_manages(caller, playbook, rep_id, "give leads to")


def ensure_deal_visible(caller: Caller, playbook: Playbook, owner: str | None, deal_id: int | str) -> None:
    """Raise NotFound, worded as for a deal that does not exist, unless the caller may see a deal of `owner`."""
    owners = visible_owners(caller, playbook)
    if owners is not None and owner not in owners:
        raise NotFound(f"no opportunity {str(deal_id).strip()}")


class AnsweringAs(TypedDict):
    rep: str | None
    actor: str | None


class WorkingDealsAs(TypedDict):
    rep: str | None
    team: str | None
    actor: str | None


class ConvertingAs(TypedDict):
    rep: str | None
    actor: str | None
    owner: str | None


def answering_as(caller: Caller) -> AnsweringAs:
    """Who records qualification answers: a rep as themselves (the service checks they own the lead), anyone
    else by name. Call it on a lead the caller may see (`lead.queries.find_visible_lead`), which is the manager's
    scope."""
    if caller.role is Role.REP:
        return {"rep": caller.token.rep_id, "actor": None}
    return {"rep": None, "actor": caller.actor}


def working_deals_as(caller: Caller) -> WorkingDealsAs:
    """The opportunity services' `rep=`/`team=`/`actor=`: a rep must own the deal, a manager act within their
    team, an admin acts by name."""
    if caller.role is Role.REP:
        return {"rep": caller.token.rep_id, "team": None, "actor": None}
    if caller.role is Role.MANAGER:
        return {"rep": None, "team": caller.token.team, "actor": caller.actor}
    return {"rep": None, "team": None, "actor": caller.actor}


def converting_as(caller: Caller, playbook: Playbook, lead: Lead, owner: str | None) -> ConvertingAs:
    """Who converts a lead the caller may see, and who owns the new deal: the `rep=`, `actor=`, `owner=` of
    `opportunities.convert`.

    A rep converts a lead they own into a deal of their own (naming anyone else: Forbidden).
    A manager gives the deal to a rep of their team, an admin to any rep; by default the
    lead's owner (None when the lead has none: the caller must name one). A rep the
    playbook does not name is left to the service (404).
    """
    if caller.role is Role.REP:
        if owner is not None and owner != caller.token.rep_id:
            raise Forbidden("a rep converts a lead into a deal of their own: leave out owner")
        return {"rep": caller.token.rep_id, "actor": None, "owner": None}
    owner = owner if owner is not None else lead.owner
    if owner is not None and owner in {rep.id for rep in _reps(playbook)}:
        require_manages(caller, playbook, owner, "give deals to")
    return {"rep": None, "actor": caller.actor, "owner": owner}


def forecast_owners(caller: Caller, playbook: Playbook) -> frozenset[str] | None:
    """Whose deals the caller's forecast adds up: a manager, their team's reps; None: every deal."""
    require(caller, Action.READ_FORECAST)
    return visible_owners(caller, playbook)


def _reps(playbook: Playbook) -> list:
    return list(getattr(playbook.model, "reps", None) or [])


def _teams(playbook: Playbook) -> list:
    return list(getattr(playbook.model, "teams", None) or [])
