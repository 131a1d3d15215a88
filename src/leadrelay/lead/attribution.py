"""Where a lead came from: the source and campaign of the first activity that names one.

First touch, as the funnel and cost reports count it. An activity names its source in
Segment's `context.campaign` (`source`, `name`: what analytics.js fills from the UTM
parameters), in `utm_source` / `utm_campaign` properties, or in `source` / `campaign`
traits (a CSV import maps a column to them). Activities are applied in time order and a
replay starts afresh, so the earliest activity that names a source wins, whenever it
arrived. Standard library only.
"""

from __future__ import annotations

from typing import Any

from leadrelay.lead.activities import Activity

MAX_LENGTH = {"source": 120, "campaign": 200}


def first_touch(activity: Activity) -> tuple[str | None, str | None]:
    """(source, campaign) this activity names, either possibly None."""
    campaign = activity.context.get("campaign")
    if isinstance(campaign, dict) and (found := _text(campaign.get("source"), "source")):
        return found, _text(campaign.get("name"), "campaign")
    props = activity.properties
    if found := _text(props.get("utm_source"), "source"):
        return found, _text(props.get("utm_campaign"), "campaign")
    traits = activity.traits
    if found := _text(traits.get("source"), "source"):
        return found, _text(traits.get("campaign"), "campaign")
    return None, None


def _text(value: Any, kind: str) -> str | None:
    """A usable label: text, trimmed, lower-cased (utm values differ in case from tool to tool), cut to fit."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value[:MAX_LENGTH[kind]] or None
