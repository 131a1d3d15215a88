"""A lead doing one telling thing now, through the engine: the steps the handoff tests start from."""

from __future__ import annotations

from datetime import timedelta

from leadrelay.activity.service import ingest
from tests.messages import identify, numbered, page, track


def demo_request(app, n: int) -> str:
    """Lead n (`p{n}@corp{n}.io`, user `u{n}`) identifies and, a second later, requests a demo: now."""
    return _known_then(app, n, track("Demo Requested", user=f"u{n}", when=app.clock()))


def pricing_visit(app, n: int) -> str:
    """Lead n identifies and, a second later, views /pricing: now (an MQL in the playbooks that score it so)."""
    return _known_then(app, n, page("/pricing", user=f"u{n}", when=app.clock()))


def _known_then(app, n: int, message: dict) -> str:
    email = f"p{n}@corp{n}.io"
    ingest(app, numbered([identify(user=f"u{n}", when=app.clock() - timedelta(seconds=1), email=email), message]))
    return email
