"""Accounts and opportunities: convert an SQL, work the deal through its stages, win it or lose it.

Converting creates or matches the company's account (by domain, never a webmail one),
links the contact, opens the opportunity and moves the lead to `opportunity`. Winning
makes the lead a customer; losing needs one of the playbook's lost reasons and, if the
playbook says so, recycles the lead back to nurture (reason `closed_lost`). Every change
to a deal is a history row with who and when. Each function is one transaction; a bad
input raises before anything is written.

Who may act: `rep` must own the opportunity (for `convert`: the lead); `team` (a manager)
may act on the opportunities of the team's reps; otherwise `actor` names a person acting
without those checks (the CLI's `--by`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, insert, select, update

from leadrelay.core.addresses import ascii_domain
from leadrelay.core.app import App
from leadrelay.core.errors import InvalidInput, InvalidTransition, NotFound
from leadrelay.core.time import utc_iso
from leadrelay.handoff.desk import desk_of
from leadrelay.handoff.service import _open_handoff
from leadrelay.handoff.sla import ACCEPT
from leadrelay.lead.model import Lead
from leadrelay.lead.service import load_for_update, move_lead, save_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.lead.store import load_leads
from leadrelay.sales import model as deals
from leadrelay.sales import store as repo
from leadrelay.sales.model import EXPANSION, NEW_BUSINESS, Opportunity
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.unit_of_work import UnitOfWork

_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


# --- converting an SQL -----------------------------------------------------------------------------

def convert(app: App, ref: str | int, *, rep: str | None, name: str, amount: Any, close_date: date,
            currency: str | None = None, owner: str | None = None, stage: str | None = None,
            account_domain: str | None = None, allow_past_close: bool = False, actor: str | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Convert an SQL into an opportunity on its company's account (or, for a customer, open an expansion deal).

    Refused, with nothing changed: a disqualified lead, a lead before SQL, a lead with an
    open opportunity (converting twice), a negative amount, a currency the playbook does
    not list, an unknown or closed stage, and an expected close date in the past unless
    `allow_past_close` (then it is kept, with a warning in the result).
    """
    rules = app.playbook.rules
    now = now or app.clock()
    actor = f"user:{rep}" if rep is not None else actor
    if not actor:
        raise InvalidInput("say who is converting: a rep (--rep) or a person (--by)")
    owner = owner or rep
    if owner is None:
        raise InvalidInput("say who owns the opportunity (--owner) when converting without --rep")
    if owner not in rules.handoff.directory.reps:
        raise NotFound(f"no rep '{owner}' in the playbook")
    # Check the deal before touching anything (the account id is not known yet).
    deals.open_opportunity(account_id=0, lead_id=None, name=name, amount=amount, currency=currency,
                           close_date=close_date, owner=owner, rules=rules.sales.deals, at=now, actor=actor,
                           stage=stage, allow_past_close=allow_past_close)
    with UnitOfWork(app, now) as uow:
        conn = uow.conn
        lead = load_for_update(conn, ref)
        assert lead.id is not None  # read from its row
        kind = _conversion_kind(conn, lead)
        if rep is not None:
            _check_converter(conn, lead, rep, kind)
        if kind == NEW_BUSINESS:
            _accept_sql_handoff(uow, lead, now)
        account_id, created = resolve_account(conn, app, lead, account_domain, now)
        deal, change, warnings = deals.open_opportunity(
            account_id=account_id, lead_id=lead.id, name=name, amount=amount, currency=currency,
            close_date=close_date, owner=owner, rules=rules.sales.deals, at=now, actor=actor, stage=stage,
            kind=kind, allow_past_close=allow_past_close)
        deal_id = repo.insert_deal(conn, deal, created_by=actor, now=now, playbook_version=app.playbook.version)
        repo.insert_history(conn, deal_id, change)
        lead.account_id = account_id
        owner_set = _claim_account(conn, account_id, owner, actor, now)
        if kind == NEW_BUSINESS and lead.stage is Stage.SQL:
            move_lead(uow, lead, Transition.ADVANCE, Stage.OPPORTUNITY, actor=actor,
                      reason=f"converted: opportunity {deal.id}", now=now)
        else:
            save_lead(conn, lead, now)
        if kind == EXPANSION:
            _close_expansion_handoffs(conn, lead.id, f"opportunity {deal.id}", now)
        account = conn.execute(select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.domain)
                               .where(t.accounts.c.id == account_id)).one()
        _tell(uow, deal, account, change)
        uow.commit()
    assert lead.stage is not None  # converted: an opportunity or a customer
    return {
        "opportunity": deal_dict(deal, account), "warnings": warnings,
        "account": {"id": account.id, "name": account.name, "domain": account.domain, "created": created,
                    "owner_set": owner_set},
        "lead": {"id": lead.id, "stage": lead.stage.value, "version": lead.version},
    }


def _conversion_kind(conn: Connection, lead: Lead) -> str:
    assert lead.id is not None  # the caller read it from its row
    if lead.stage is Stage.DISQUALIFIED:
        raise InvalidTransition(f"lead {lead.id} is disqualified: reopen it before converting it")
    if lead.stage not in (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER):
        here = lead.stage.value if lead.stage else "anonymous"
        raise InvalidTransition(f"lead {lead.id} is {here}: only an SQL is converted "
                                "(qualify it, then leads sql)")
    open_deals = repo.open_deals_of(conn, repo.lead_ids_with_merged(conn, lead.id))
    if open_deals:
        raise InvalidTransition(f"lead {lead.id} was already converted: opportunity {open_deals[0].id} is open")
    return EXPANSION if lead.stage is Stage.CUSTOMER else NEW_BUSINESS


def _check_converter(conn: Connection, lead: Lead, rep: str, kind: str) -> None:
    """A rep converts a lead they own; a customer's expansion, the expansion handoff's owner or the account owner."""
    if kind == NEW_BUSINESS:
        _open_handoff(conn, lead, rep)
        return
    c = h.handoffs.c
    owns_handoff = conn.scalar(select(c.id).where(c.lead_id == lead.id, c.kind == "expansion", c.status != "closed",
                                                  c.owner == rep).limit(1)) is not None
    o = h.account_owners.c
    account_owner = conn.scalar(select(o.rep).where(o.account_id == lead.account_id)) if lead.account_id else None
    if not owns_handoff and account_owner != rep:
        raise InvalidTransition(f"lead {lead.id} is a customer: its expansion belongs to "
                                f"{account_owner or 'the account owner'}, not {rep}")


def _accept_sql_handoff(uow: UnitOfWork, lead: Lead, now: datetime) -> None:
    """Converting an SQL is accepting it: the AE's accept deadline is met, if it was not already."""
    assert lead.id is not None  # the caller read it from its row
    handoff = desk_of(uow).open_handoffs([lead.id]).get(lead.id)
    if handoff is not None and handoff.status.owned and handoff.accepted_at is None:
        handoff.accept(now)
        desk_of(uow).save(handoff, "status", "accepted_at")
        desk_of(uow).write_pending()
        desk_of(uow).cancel_timers(handoff.id, ACCEPT, "met")


def normalise_domain(value: str) -> str:
    """A company domain as typed (`https://www.Acme.io/`, `acme.io`) in plain form, or InvalidInput."""
    text = value.strip().lower()
    text = re.sub(r"^[a-z]+://", "", text).split("/")[0].removeprefix("www.").rstrip(".")
    try:
        text = ascii_domain(text)  # `müller.de` is stored as `xn--mller-kva.de`, as e-mail domains are
    except ValueError:
        raise InvalidInput(f"'{value}' is not a company domain like acme.io") from None
    if "@" in text or not _DOMAIN.match(text):
        raise InvalidInput(f"'{value}' is not a company domain like acme.io")
    return text


def resolve_account(conn: Connection, app: App, lead: Lead, account_domain: str | None,
                    now: datetime) -> tuple[int, bool]:
    """The account to convert into: by the domain given, the lead's account, or its company domain; created if new."""
    is_webmail = app.playbook.rules.is_webmail
    if account_domain:
        domain = normalise_domain(account_domain)
    elif lead.account_id is not None:
        return lead.account_id, False
    elif lead.company_domain:
        domain = lead.company_domain
    else:
        webmail = f" ({lead.email_domain} is webmail)" if lead.email_domain else ""
        raise InvalidInput(f"lead {lead.id} has no company domain{webmail}: give the company's own domain "
                           "(--account-domain acme.io)")
    if is_webmail(domain):
        raise InvalidInput(f"{domain} is a webmail domain, not a company: give the company's own domain")
    row = repo.account_by_domain(conn, domain)
    if row is not None:
        return row.id, False
    company = lead.traits.get("company")
    name = company.strip() if isinstance(company, str) and company.strip() else domain
    return repo.create_account(conn, domain=domain, name=name, now=now), True


def _claim_account(conn: Connection, account_id: int, owner: str, actor: str, now: datetime) -> bool:
    """An account without an owner gets the deal's owner: new leads and expansion signals from it go to them."""
    o = h.account_owners.c
    if conn.scalar(select(o.rep).where(o.account_id == account_id)) is not None:
        return False
    conn.execute(insert(h.account_owners).values(account_id=account_id, rep=owner, set_by=actor, set_at=now))
    return True


def _close_expansion_handoffs(conn: Connection, lead_id: int, reason: str, now: datetime) -> None:
    c = h.handoffs.c
    ids = list(conn.scalars(select(c.id).where(c.lead_id == lead_id, c.kind == "expansion", c.status != "closed")))
    if ids:
        conn.execute(update(h.handoffs).where(c.id.in_(ids)).values(status="closed", outcome="converted",
                                                                     reason=reason, closed_at=now))
        conn.execute(update(h.sla_timers).where(h.sla_timers.c.handoff_id.in_(ids), h.sla_timers.c.fired_at.is_(None),
                                                h.sla_timers.c.cancelled_at.is_(None))
                     .values(cancelled_at=now, outcome="handoff converted"))


# --- working a deal ----------------------------------------------------------------------------------

def _authorise(app: App, deal: Opportunity, rep: str | None, team: str | None, actor: str | None) -> str:
    """Who is acting, as history names them; refuses a rep on someone else's deal, a manager outside the team."""
    if rep is not None:
        if deal.owner != rep:
            raise InvalidTransition(f"opportunity {deal.id} is owned by {deal.owner}, not {rep}")
        return f"user:{rep}"
    if team is not None:
        owner = app.playbook.rules.handoff.directory.reps.get(deal.owner)
        if owner is None or owner.team != team:
            raise InvalidTransition(f"opportunity {deal.id} is owned by {deal.owner}, who is not in team {team}")
        return actor or f"team:{team}"
    if not actor:
        raise InvalidInput("say who is acting: the owner (--rep) or a person (--by)")
    return actor


DealAction = Callable[[Opportunity, str, datetime], tuple[deals.DealChange, dict[str, Any]]]
LeadFollowUp = Callable[[UnitOfWork, Opportunity, str, datetime], dict[str, Any]]


def _act(app: App, deal_id: int | str, action: DealAction, *, rep: str | None, team: str | None,
         actor: str | None, expected_version: int | None, now: datetime | None,
         then: LeadFollowUp | None = None) -> dict[str, Any]:
    """One transaction: load and authorise, `action(deal, who, now)`, store the deal and its history row,
    then `then(uow, deal, who, now)` for what it means for the lead."""
    now = now or app.clock()
    with UnitOfWork(app, now) as uow:
        conn = uow.conn
        deal = repo.load_deal(conn, deal_id, for_update=True, expected_version=expected_version)
        assert deal.id is not None  # read from its row
        who = _authorise(app, deal, rep, team, actor)
        change, extra = action(deal, who, now)
        repo.save_deal(conn, deal, now)
        repo.insert_history(conn, deal.id, change)
        if then is not None:
            extra |= then(uow, deal, who, now)
        account = _account_row(conn, deal.account_id)
        _tell(uow, deal, account, change)
        uow.commit()
    return {"opportunity": deal_dict(deal, account)} | extra


def move_opportunity(app: App, deal_id: int | str, stage: str, *, rep: str | None = None, team: str | None = None,
                     actor: str | None = None, expected_version: int | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """Move an open deal to another open stage of the playbook (its default probability applies again)."""
    rules = app.playbook.rules.sales.deals
    return _act(app, deal_id, lambda deal, who, at: (deals.move_stage(deal, stage, rules, at=at, actor=who), {}),
                rep=rep, team=team, actor=actor, expected_version=expected_version, now=now)


def set_probability(app: App, deal_id: int | str, percent: Any, *, rep: str | None = None, team: str | None = None,
                    actor: str | None = None, expected_version: int | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Override an open deal's probability (0-100); None goes back to the stage's default."""
    return _act(app, deal_id, lambda deal, who, at: (deals.set_probability(deal, percent, at=at, actor=who), {}),
                rep=rep, team=team, actor=actor, expected_version=expected_version, now=now)


def update_opportunity(app: App, deal_id: int | str, *, name: str | None = None, amount: Any = None,
                       currency: str | None = None, close_date: date | None = None, owner: str | None = None,
                       allow_past_close: bool = False, rep: str | None = None, team: str | None = None,
                       actor: str | None = None, expected_version: int | None = None,
                       now: datetime | None = None) -> dict[str, Any]:
    """Change an open deal's name, amount, currency, expected close date or owner."""
    rules = app.playbook.rules
    if owner is not None and owner not in rules.handoff.directory.reps:
        raise NotFound(f"no rep '{owner}' in the playbook")

    def action(deal: Opportunity, who: str, at: datetime):
        change, warnings = deals.update_deal(deal, rules.sales.deals, at=at, actor=who, name=name, amount=amount,
                                             currency=currency, close_date=close_date, owner=owner,
                                             allow_past_close=allow_past_close)
        return change, {"warnings": warnings}

    return _act(app, deal_id, action, rep=rep, team=team, actor=actor, expected_version=expected_version, now=now)


def win_opportunity(app: App, deal_id: int | str, *, rep: str | None = None, team: str | None = None,
                    actor: str | None = None, expected_version: int | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """Close a deal as won; a new-business deal makes its lead a customer (handed to customer success)."""
    rules = app.playbook.rules.sales.deals

    def to_customer(uow: UnitOfWork, deal: Opportunity, who: str, at: datetime) -> dict[str, Any]:
        if deal.kind != NEW_BUSINESS or deal.lead_id is None:
            return {"lead": None}
        lead = load_for_update(uow.conn, deal.lead_id)
        if lead.stage is Stage.OPPORTUNITY:
            move_lead(uow, lead, Transition.ADVANCE, Stage.CUSTOMER, actor=who,
                      reason=f"won: opportunity {deal.id}", now=at)
        assert lead.stage is not None  # converted once: in the funnel
        return {"lead": {"id": lead.id, "stage": lead.stage.value, "version": lead.version}}

    return _act(app, deal_id, lambda deal, who, at: (deals.win(deal, rules, at=at, actor=who), {}),
                rep=rep, team=team, actor=actor, expected_version=expected_version, now=now, then=to_customer)


def lose_opportunity(app: App, deal_id: int | str, reason: str, *, rep: str | None = None, team: str | None = None,
                     actor: str | None = None, expected_version: int | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
    """Close a deal as lost with one of the playbook's lost reasons; per the playbook, its lead goes to nurture."""
    rules = app.playbook.rules.sales.deals

    def to_nurture(uow: UnitOfWork, deal: Opportunity, who: str, at: datetime) -> dict[str, Any]:
        if deal.kind != NEW_BUSINESS or deal.lead_id is None:
            return {"lead": None}
        conn = uow.conn
        lead = load_for_update(conn, deal.lead_id)
        assert lead.id is not None  # read from its row
        others = repo.open_deals_of(conn, repo.lead_ids_with_merged(conn, lead.id), kind=NEW_BUSINESS)
        if rules.lost_to_nurture and not others and lead.stage in (Stage.SQL, Stage.OPPORTUNITY):
            move_lead(uow, lead, Transition.RECYCLE, Stage.LEAD, actor=who, reason=rules.nurture_reason, now=at)
        assert lead.stage is not None  # converted once: in the funnel
        return {"lead": {"id": lead.id, "stage": lead.stage.value, "segment": lead.segment, "version": lead.version}}

    return _act(app, deal_id, lambda deal, who, at: (deals.lose(deal, reason, rules, at=at, actor=who), {}),
                rep=rep, team=team, actor=actor, expected_version=expected_version, now=now, then=to_nurture)


EVENTS = {"opened": "opportunity.opened", "won": "opportunity.won", "lost": "opportunity.lost"}  # else .changed


def _tell(uow: UnitOfWork, deal: Opportunity, account: Any, change: deals.DealChange) -> None:
    """The notice of a deal's change (`opportunity.opened`, `.changed`, `.won`, `.lost`), in the same transaction,
    for the CRM and the people the playbook names. A deal with no lead (imported history) tells nobody."""
    if deal.lead_id is None or (not change.changes and change.action not in EVENTS):
        return
    lead = load_leads(uow.conn, [deal.lead_id])[deal.lead_id]
    event = EVENTS.get(change.action, "opportunity.changed")
    what = ", ".join(f"{field} {_plain(old, field)} → {_plain(new, field)}"
                     for field, (old, new) in change.changes.items())
    why = {"opened": f"opportunity {deal.id} opened by {change.actor}",
           "won": f"opportunity {deal.id} won ({change.actor})",
           "lost": f"opportunity {deal.id} lost: {change.reason} ({change.actor})"}.get(
        change.action, f"opportunity {deal.id}: {what or change.action} ({change.actor})")
    desk = desk_of(uow)
    desk.notice(event, lead, change.at, recipients=desk.people(deal.owner), why=why, actor=change.actor,
                owner=deal.owner, reason=change.reason, opportunity=deal_dict(deal, account),
                changes={field: [_plain(old, field), _plain(new, field)]
                         for field, (old, new) in change.changes.items()})


def _plain(value: Any, field: str = "") -> Any:
    """A changed value as JSON has it: amounts and probabilities as numbers (as in `opportunity`), dates as text."""
    if field == "amount" and isinstance(value, str):
        return float(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# --- reading -----------------------------------------------------------------------------------------

def _account_row(conn: Connection, account_id: int) -> Any:
    return conn.execute(select(t.accounts.c.id, t.accounts.c.name, t.accounts.c.domain)
                        .where(t.accounts.c.id == account_id)).first()


def deal_dict(deal: Opportunity, account: Any = None) -> dict[str, Any]:
    """An opportunity as plain data (amounts as numbers rounded to the cent)."""
    return {
        "id": deal.id, "name": deal.name, "kind": deal.kind,
        "account": {"id": deal.account_id, "name": account.name if account else None,
                    "domain": account.domain if account else None},
        "lead_id": deal.lead_id, "owner": deal.owner, "amount": deals.money(deal.amount), "currency": deal.currency,
        "close_date": deal.close_date.isoformat(), "stage": deal.stage,
        "probability": float(deal.effective_probability), "stage_probability": float(deal.probability),
        "probability_override": None if deal.probability_override is None else float(deal.probability_override),
        "weighted": deals.money(deal.amount * deal.effective_probability / 100) if deal.status == deals.OPEN else None,
        "forecast_category": deal.category, "status": deal.status, "lost_reason": deal.lost_reason,
        "created_at": utc_iso(deal.created_at), "closed_at": utc_iso(deal.closed_at), "version": deal.version,
    }


def list_opportunities(app: App, *, status: str | None = "open", owner: str | None = None,
                       account: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Opportunities, soonest expected close first; `status` open, won, lost or None for all."""
    if status is not None and status not in (deals.OPEN, deals.WON, deals.LOST):
        raise InvalidInput(f"unknown status '{status}' (open, won, lost or all)")
    c, a = s.opportunities.c, t.accounts.c
    query = select(s.opportunities, a.name.label("account_name"), a.domain.label("account_domain")).join(
        t.accounts, a.id == c.account_id)
    if status is not None:
        query = query.where(c.status == status)
    if owner is not None:
        query = query.where(c.owner == owner)
    if account is not None:
        text = account.strip().lower()
        query = query.where(a.id == int(text) if text.isdigit() else a.domain == text)
    query = query.order_by(c.close_date, c.id).limit(limit)
    with app.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [deal_dict(repo.deal_from_row(r), SimpleNamespace(name=r.account_name, domain=r.account_domain))
            for r in rows]


def show_opportunity(app: App, deal_id: int | str) -> dict[str, Any]:
    """One opportunity with its account, its contact and its whole history."""
    with app.engine.connect() as conn:
        deal = repo.load_deal(conn, deal_id)
        assert deal.id is not None  # read from its row
        out = deal_dict(deal, _account_row(conn, deal.account_id))
        contact = conn.execute(select(t.leads.c.id, t.leads.c.email, t.leads.c.stage)
                               .where(t.leads.c.id == deal.lead_id)).first() if deal.lead_id else None
        out["contact"] = {"id": contact.id, "email": contact.email, "stage": contact.stage} if contact else None
        out["history"] = repo.deal_history(conn, deal.id)
    return out
