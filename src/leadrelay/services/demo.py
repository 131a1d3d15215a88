"""The demo: a seeded B2B activity stream through the starter playbook, end to end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from leadrelay.bootstrap import App, bootstrap
from leadrelay.playbook.loader import starter_playbook
from leadrelay.reports.funnel import funnel
from leadrelay.services.demo_stream import generate_demo_stream
from leadrelay.services.ingest import IngestReport, ingest
from leadrelay.services.leads import explain_lead
from leadrelay.settings import Settings
from leadrelay.storage import tables as t

DEMO_START = datetime(2026, 9, 1, tzinfo=UTC)
DEMO_DAYS = 60


@dataclass
class DemoResult:
    report: IngestReport
    funnel: dict
    examples: list[dict]  # explained leads: an MQL, a hand-raiser, a disqualified lead
    messages: int


def run_demo(database_url: str, *, seed: int = 7, visitors: int = 3000, on_batch=None) -> DemoResult:
    """Generate the stream, ingest it with the starter playbook, and pick three leads to explain."""
    messages = generate_demo_stream(seed=seed, visitors=visitors, start=DEMO_START, days=DEMO_DAYS)
    end = DEMO_START + timedelta(days=DEMO_DAYS)
    app = bootstrap(Settings(database_url=database_url), playbook=starter_playbook(), clock=lambda: end)
    try:
        report = ingest(app, ((f"demo message {i}", m) for i, m in enumerate(messages, start=1)),
                        source="demo", received_at=end, live=False, on_batch=on_batch)
        with app.engine.connect() as conn:
            result_funnel = funnel(conn)
        return DemoResult(report, result_funnel, _examples(app), len(messages))
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
