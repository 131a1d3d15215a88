"""Slack incoming webhooks: one readable line per notice, POSTed as `{"text": ...}`.

    :rotating_light: SLA breached: lead jane@acme.io (Acme) — acceptance due 14:05 UTC, owner Alice
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from leadrelay.delivery import text
from leadrelay.delivery.webhook import SendResult, post_json


def escape(value: str) -> str:
    """Slack's mrkdwn needs &, < and > escaped; nothing else."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message_text(payload: dict[str, Any], lead_id: Any = None) -> str:
    return f"{text.emoji(str(payload.get('type', '')))} {escape(text.summary(payload, lead_id))}"


def message(payload: dict[str, Any], lead_id: Any = None) -> dict[str, str]:
    """The JSON body Slack expects."""
    return {"text": message_text(payload, lead_id)}


def send(client: httpx.Client, url: str, payload: dict[str, Any], *, lead_id: Any = None,
         timeout: float) -> SendResult:
    body = json.dumps(message(payload, lead_id), ensure_ascii=False)
    return post_json(client, url, body, {"content-type": "application/json"}, timeout)
