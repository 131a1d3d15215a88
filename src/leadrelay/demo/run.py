"""The demo: a seeded B2B activity stream through the starter playbook, end to end, a day at a time.

Marketing's side (scores, stages, MQLs, hand-raisers) comes from the stream; sales' side
(accepting, calling, recycling, forgetting) from a simulated sales floor; a worker sweeps
SLA timers as the clock moves, so breaches escalate as they would live.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources

import yaml
from sqlalchemy import func, select

from leadrelay.activity.service import IngestReport, ingest
from leadrelay.core.app import App, Clock
from leadrelay.core.time import utc_iso
from leadrelay.demo.deals import work_deals
from leadrelay.demo.sales import SalesFloor
from leadrelay.demo.stream import generate_demo_stream
from leadrelay.handoff.directory import list_reps
from leadrelay.handoff.model import OWNED_STATUSES
from leadrelay.handoff.queries import route_explain
from leadrelay.handoff.segments import segment_export
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import Playbook, parse_playbook, starter_text
from leadrelay.reports.catalog import sla_summary
from leadrelay.reports.funnel import funnel
from leadrelay.reports.sources import import_spend
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox

DEMO_START = datetime(2026, 9, 1, tzinfo=UTC)
DEMO_DAYS = 60


@dataclass
class DemoResult:
    report: IngestReport
    funnel: dict
    examples: list[dict]  # explained leads: an MQL, a hand-raiser, a disqualified lead
    messages: int
    sales: dict = field(default_factory=dict)  # what the sales floor and the worker did
    reps: list[dict] = field(default_factory=list)
    sla: dict = field(default_factory=dict)
    handoff_examples: list[dict] = field(default_factory=list)  # an escalated lead, a recycled lead
    deals: dict = field(default_factory=dict)  # qualified with BANT, converted, won or lost; the forecast
    spend: dict = field(default_factory=dict)  # marketing's spend per month and source (demo/spend.csv)
    alerts: dict = field(default_factory=dict)  # the playbook's alerts that fired: how many, and one explained
    notifications: dict = field(default_factory=dict)  # what the CRM and the email tool would get, with examples
    segments: dict = field(default_factory=dict)  # recycled leads marketing may email again, per reason


class _Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = max(self.now, now)


def _arrival(message: dict) -> str:
    return str(message.get("sentAt") or message.get("timestamp") or "")


def run_demo(make_app: Callable[[Clock, Playbook], App], *, seed: int = 7, visitors: int = 3000) -> DemoResult:
    """Replay the generated stream day by day through ingest, the sales floor and the worker.

    `make_app(clock, playbook)` is the composition root's: the demo runs the starter playbook
    on a clock of its own that the simulation moves forward.
    """
    messages = generate_demo_stream(seed=seed, visitors=visitors, start=DEMO_START, days=DEMO_DAYS)
    by_arrival = sorted(enumerate(messages, start=1), key=lambda pair: _arrival(pair[1]))
    clock = _Clock(DEMO_START)
    app = make_app(clock, demo_playbook())
    floor = SalesFloor(app, clock, clock.set, seed)
    report = IngestReport()
    try:
        cursor, day = 0, 0
        while day < DEMO_DAYS or cursor < len(by_arrival):  # late retries may arrive after the last day
            day += 1
            day_end = DEMO_START + timedelta(days=day)
            todays = []
            while cursor < len(by_arrival) and _arrival(by_arrival[cursor][1]) < day_end.isoformat():
                todays.append(by_arrival[cursor])
                cursor += 1
            clock.set(day_end - timedelta(seconds=1))
            report.add(ingest(app, ((f"demo message {i}", m) for i, m in todays), source="demo", live=False,
                                  backfill=False))
            floor.plan_new_handoffs()
            floor.run_until(day_end)
        deals = work_deals(app, random.Random(seed), clock())
        with resources.as_file(resources.files("leadrelay.demo") / "spend.csv") as path:
            spend = import_spend(app, path).as_dict()
        with app.engine.connect() as conn:
            result_funnel = funnel(conn)
        return DemoResult(report, result_funnel, _examples(app), len(messages), dict(floor.done), list_reps(app),
                          sla_summary(app), _handoff_examples(app), deals, spend, _alerts(app),
                          _notifications(app), _recycled_segment(app))
    finally:
        app.close()


def _examples(app: App) -> list[dict]:
    c = t.stage_changes.c
    picks = []
    with app.engine.connect() as conn:
        for transition, to_stage in (("advance", "mql"), ("hand_raise", "sal"), ("disqualify", "disqualified")):
            lead_id = conn.scalar(select(c.lead_id).where(c.transition == transition, c.to_stage == to_stage)
                                  .order_by(c.at.desc(), c.id).limit(1))
            if lead_id is not None:
                picks.append(lead_id)
    return [explain_lead(app, lead_id) for lead_id in picks]


# The demo's playbook is the starter with a CRM and an email tool listening (the starter leaves its
# notifications commented out). The demo's worker stores what they would get and sends nothing.
DEMO_CHANNELS = [
    {"id": "crm", "url": "https://crm.example.com/hooks/leadrelay", "secret_env": "LEADRELAY_DEMO_WEBHOOK_SECRET"},
    {"id": "email_tool", "url": "https://email.example.com/hooks/leadrelay",
     "secret_env": "LEADRELAY_DEMO_WEBHOOK_SECRET", "events": ["followup.due", "alert.fired", "lead.recycled"]},
]
EXAMPLES = ("alert.fired", "followup.due", "meeting.no_show")  # the notices the demo shows one of


def demo_playbook() -> Playbook:
    data = yaml.safe_load(starter_text())
    data["notifications"] = {"webhooks": DEMO_CHANNELS}
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "demo-playbook.yaml")


def _notifications(app: App) -> dict:
    """Notices per event type, as stored for the channels, and the newest of each of `EXAMPLES` with why."""
    o = outbox.c
    with app.engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(select(o.event_type, func.count())
                                                   .group_by(o.event_type)).tuples().all())
        examples = []
        for event_type in EXAMPLES:
            kinds: set[str] = set()  # one of each follow-up (form abandonment, an unused trial)
            for row in conn.execute(select(o.target, o.payload).where(o.event_type == event_type)
                                    .order_by(o.id.desc()).limit(1 if event_type != "followup.due" else 500)):
                data = row.payload["data"]
                kind = data["followup"]["id"] if event_type == "followup.due" else event_type
                if kind not in kinds:
                    kinds.add(kind)
                    examples.append({"type": event_type, "to": row.target, "lead": data["lead"]["email"],
                                     "at": row.payload["timestamp"], "why": data["why"]})
    return {"stored": dict(sorted(counts.items())), "examples": examples}


def _recycled_segment(app: App) -> dict:
    """What `leadrelay segment export --segment recycled --not-suppressed` gives the email tool, per reason."""
    rows = segment_export(app, segment="recycled", suppressed=False)
    return {"leads": len(rows), "by_reason": dict(sorted(Counter(row["reason"] or "-" for row in rows).items()))}


def _alerts(app: App) -> dict:
    """How many alerts fired per rule, and the newest one with its lead and why."""
    e = h.domain_events.c
    # Grouped over a subquery: PostgreSQL does not take a JSON path with a bound key in GROUP BY for the same one
    # in the select list (each gets a parameter of its own).
    fired = select(e.data["alert"].as_string().label("alert")).where(e.type == "AlertRaised").subquery()
    with app.engine.connect() as conn:
        counts: dict[str, int] = dict(conn.execute(
            select(fired.c.alert, func.count()).group_by(fired.c.alert)).tuples().all())
        newest = conn.execute(select(e.lead_id, e.at, e.data).where(e.type == "AlertRaised")
                              .order_by(e.at.desc(), e.id.desc()).limit(1)).first()
    example = None if newest is None else {"lead": explain_lead(app, newest.lead_id)["email"], "at": utc_iso(newest.at),
                                           "alert": newest.data["alert"], "why": newest.data["why"]}
    return {"fired": dict(sorted(counts.items())), "example": example}


def _handoff_examples(app: App) -> list[dict]:
    """A lead an SLA breach reassigned, and one a rep recycled: their routing and history."""
    d, c = h.routing_decisions.c, t.stage_changes.c
    with app.engine.connect() as conn:
        escalated = conn.scalar(select(d.lead_id).join(h.handoffs, h.handoffs.c.id == d.handoff_id)
                                .where(d.actor.like("rule:sla.%"), d.owner.is_not(None),
                                       h.handoffs.c.status.in_(OWNED_STATUSES))
                                .order_by(d.id.desc()).limit(1))
        recycled = conn.scalar(select(c.lead_id).where(c.transition == "recycle", c.actor.like("user:%"))
                               .order_by(c.id).limit(1))
    out = []
    for title, lead_id in (("escalated", escalated), ("recycled", recycled)):
        if lead_id is not None:
            out.append({"title": title, "route": route_explain(app, lead_id), "lead": explain_lead(app, lead_id)})
    return out
