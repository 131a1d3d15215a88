"""The demo's deals: some sales-accepted leads carried all the way — qualified, SQL, converted, won or lost.

`work_deals` runs after the demo's stream and sales floor. For a sample of SAL leads it
acts as each lead's owner: records answers to the playbook's framework (mostly good,
sometimes not), books a meeting for most, asks for the move to SQL (the gate refuses the
weak ones, with reasons), lets the account executive who received the lead convert it,
moves the deal through the stages, and wins or loses some. The steps are spread over the
last weeks before `now`, in order. Then it stores the week's forecast snapshot and
returns a summary with the forecast report.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from leadrelay.core.app import App
from leadrelay.core.errors import LeadRelayError
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.sales import frameworks as fw
from leadrelay.sales import service as opps
from leadrelay.sales.forecast_snapshots import current_forecast, take_snapshot
from leadrelay.sales.frameworks import SqlGateNotMet
from leadrelay.sales.qualify import advance_to_sql, record_answers
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t

WINDOW = timedelta(days=28)
_TEXT = ("Reporting takes a week every month", "Pipeline reviews run on spreadsheets",
         "Board wants forecast accuracy", "Two tools that do not talk to each other")


def work_deals(app: App, rng: random.Random, now: datetime, *, max_leads: int = 40) -> dict[str, Any]:
    """Carry up to `max_leads` SAL leads through qualification, conversion and deal stages; see the module."""
    with app.engine.connect() as conn:
        c = h.handoffs.c
        rows = conn.execute(select(c.lead_id, c.owner, t.leads.c.stage_changed_at)
                            .join(t.leads, t.leads.c.id == c.lead_id)
                            .where(t.leads.c.stage == "sal", c.status.in_(OWNED_STATUSES), c.owner.is_not(None))
                            .order_by(c.lead_id)).all()
    picks = sorted(rng.sample(rows, min(len(rows), max_leads)), key=lambda r: r.lead_id)
    done: Counter = Counter()
    lost_reasons: Counter = Counter()
    refusals: list[str] = []
    for lead_id, sdr, since in picks:
        start = max(since or now - WINDOW, now - WINDOW)
        times = sorted(start + (now - start) * rng.random() for _ in range(8))
        try:
            _carry(app, rng, lead_id, sdr, times, done, lost_reasons, refusals)
        except LeadRelayError:
            done["skipped"] += 1  # someone else acted on it meanwhile: a real rep would move on
    snapshot = take_snapshot(app, actor="user:demo", now=now)
    return {
        "leads": len(picks), "qualified": done["qualified"], "meetings_booked": done["meeting"],
        "gate_refused": done["gate_refused"], "gate_refusal_examples": refusals[:3], "sql": done["sql"],
        "converted": done["converted"], "won": done["won"], "lost": done["lost"],
        "open": done["converted"] - done["won"] - done["lost"], "lost_reasons": dict(lost_reasons),
        "skipped": done["skipped"], "snapshot": snapshot["week"],
        "forecast": current_forecast(app, by="rep", now=now),
    }


def _carry(app: App, rng: random.Random, lead_id: int, sdr: str, times: list[datetime], done: Counter,
           lost_reasons: Counter, refusals: list[str]) -> None:
    sales = app.playbook.rules.sales
    strong = rng.random() < 0.75
    record_answers(app, lead_id, _answers(sales.framework, rng, times[0], strong), rep=sdr, now=times[0])
    done["qualified"] += 1
    if rng.random() < 0.85:
        rep_actions.log_touch(app, lead_id, rep=sdr, kind="call", outcome="meeting_booked",
                              at=min(times[1], app.clock()))
        done["meeting"] += 1
    try:
        moved = advance_to_sql(app, lead_id, rep=sdr, now=times[2])
    except SqlGateNotMet as refused:
        done["gate_refused"] += 1
        refusals.append(f"lead {lead_id}: " + "; ".join(refused.reasons))
        return
    done["sql"] += 1
    ae = moved["owner"]
    if ae is None or rng.random() < 0.2:
        return  # queued for an AE, or the AE has not got to it yet
    deals = sales.deals
    close = (times[3] + timedelta(days=rng.randint(20, 120))).date()
    amount = rng.choice((6000, 9000, 12000, 18000, 24000, 36000, 48000, 60000))
    currency = rng.choice(deals.currencies[:2]) if rng.random() < 0.2 else deals.default_currency
    converted = opps.convert(app, lead_id, rep=ae, name=f"{_company(app, lead_id)} — {amount // 600} seats",
                             amount=amount, currency=currency, close_date=close, now=times[3])
    done["converted"] += 1
    deal_id = converted["opportunity"]["id"]
    open_stages = [s.id for s in deals.open_stages]
    steps = rng.randint(0, len(open_stages) - 1)
    for i, stage in enumerate(open_stages[1:steps + 1], start=4):
        opps.move_opportunity(app, deal_id, stage, rep=ae, now=times[min(i, 6)])
    if rng.random() < 0.2:
        opps.set_probability(app, deal_id, rng.choice((30, 50, 70, 90)), rep=ae, now=times[6])
    fate = rng.random()
    if steps >= 2 and fate < 0.35:
        opps.win_opportunity(app, deal_id, rep=ae, now=times[7])
        done["won"] += 1
    elif fate > 0.75:
        reason = rng.choice(deals.lost_reasons)
        opps.lose_opportunity(app, deal_id, reason, rep=ae, now=times[7])
        done["lost"] += 1
        lost_reasons[reason] += 1


def _answers(framework: fw.Framework, rng: random.Random, at: datetime, strong: bool) -> list[tuple[str, str]]:
    """Answers to every criterion: a strong lead meets most of them, a weak one few."""
    out = []
    for criterion in framework.criteria:
        good = rng.random() < (0.9 if strong else 0.35)
        if criterion.answer == fw.YES_NO:
            value = "yes" if good is criterion.met_yes else "no"
        elif criterion.answer == fw.CHOICE:
            pool = [c for c in criterion.choices if (c in criterion.met_choices) is good] or list(criterion.choices)
            value = rng.choice(pool)
        elif criterion.answer == fw.NUMBER:
            low = criterion.met_min if criterion.met_min is not None else 0
            value = str(low + rng.randint(0, 50) if good else max(low - 1 - rng.randint(0, 5), 0))
        elif criterion.answer == fw.DATE:
            horizon = criterion.met_within_days or 180
            days = rng.randint(14, max(horizon, 15)) if good else horizon + rng.randint(30, 200)
            value = (at.date() + timedelta(days=days)).isoformat()
        else:
            value = rng.choice(_TEXT)
        out.append((criterion.id, value))
    return out


def _company(app: App, lead_id: int) -> str:
    with app.engine.connect() as conn:
        row = conn.execute(select(t.leads.c.traits, t.leads.c.company_domain).where(t.leads.c.id == lead_id)).one()
    company = (row.traits or {}).get("company")
    return company if isinstance(company, str) and company else (row.company_domain or f"Lead {lead_id}")
