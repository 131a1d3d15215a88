"""Listing leads with filters and a cursor: the query behind `GET /api/leads`.

Pages are ordered by `updated_at` then id (newest first by default; oldest first with
`sort=updated_at`, the order for syncing a CRM: ask again with `updated_since` and the
cursor, and a lead changed meanwhile comes round again instead of being skipped). The
cursor is the sort key of the last lead returned, so pages neither repeat nor skip
leads that did not change in between.

Engagement decays, so "engagement now" is computed per lead in Python; the stored
score bounds it (decay only shrinks it towards zero), which lets SQL discard most rows
first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select

from leadrelay.core.app import App
from leadrelay.core.cursor import decode_cursor, encode_cursor
from leadrelay.core.errors import InvalidInput
from leadrelay.core.time import utc_iso
from leadrelay.lead.queries import engagement_now, summary
from leadrelay.lead.rows import lead_from_row
from leadrelay.lead.stages import Stage
from leadrelay.storage import tables as t

NEWEST_FIRST = "-updated_at"
OLDEST_FIRST = "updated_at"
SORTS = (NEWEST_FIRST, OLDEST_FIRST)
_SCAN = 200  # rows read per round when engagement is filtered in Python


@dataclass(frozen=True)
class LeadFilters:
    stage: str | None = None
    owner: str | None = None
    owners_in: frozenset[str] | None = None  # from `team`
    segment: str | None = None
    fit_min: float | None = None
    fit_max: float | None = None
    engagement_min: float | None = None
    engagement_max: float | None = None
    updated_since: datetime | None = None
    include_anonymous: bool = False


def search_leads(
    app: App,
    filters: LeadFilters,
    *,
    visible: frozenset[str] | None,
    sort: str = NEWEST_FIRST,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of lead summaries and the cursor of the next page (None on the last one).

    `visible` is the set of owners whose leads the caller may see (None: every lead).
    """
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}")
    owner_sets = [s for s in (visible, filters.owners_in) if s is not None]
    if any(not s for s in owner_sets):
        return [], None
    query = _where(select(t.leads), filters, owner_sets)
    c = t.leads.c
    descending = sort == NEWEST_FIRST
    order = (c.updated_at.desc(), c.id.desc()) if descending else (c.updated_at.asc(), c.id.asc())
    after = _decode_after(cursor, sort) if cursor else None
    python_filter = filters.engagement_min is not None or filters.engagement_max is not None
    now = app.clock()
    found: list[tuple[dict[str, Any], tuple[datetime, int]]] = []
    with app.engine.connect() as conn:
        while len(found) <= limit:
            want = max(_SCAN, limit + 1) if python_filter else limit + 1 - len(found)
            page = query if after is None else query.where(_after(after, descending))
            rows = conn.execute(page.order_by(*order).limit(want)).all()
            for row in rows:
                lead = lead_from_row(row)
                if python_filter and not _engagement_ok(app, lead, now, filters):
                    continue
                item = summary(app, lead, now)
                item["updated_at"] = utc_iso(row.updated_at)
                item["version"] = row.version
                item["predicted"] = lead.predicted
                found.append((item, (row.updated_at, row.id)))
                if len(found) > limit:
                    break
            if len(rows) < want:
                break
            after = (rows[-1].updated_at, rows[-1].id)
    page_items = [item for item, _ in found[:limit]]
    next_cursor = encode_cursor(sort, *found[limit - 1][1]) if len(found) > limit else None
    return page_items, next_cursor


def _where(query, filters: LeadFilters, owner_sets: list[frozenset[str]]):
    c = t.leads.c
    query = query.where(c.merged_into.is_(None))
    if filters.stage:
        try:
            query = query.where(c.stage == Stage(filters.stage.lower()).value)
        except ValueError:
            stages = ", ".join(s.value for s in Stage)
            raise InvalidInput(f"unknown stage '{filters.stage}' (one of {stages})") from None
    elif not filters.include_anonymous:
        query = query.where(c.stage.is_not(None))
    for owners in owner_sets:
        query = query.where(c.owner.in_(sorted(owners)))
    if filters.owner is not None:
        query = query.where(c.owner == filters.owner)
    if filters.segment is not None:
        query = query.where(c.segment == filters.segment)
    if filters.fit_min is not None:
        query = query.where(c.fit_score >= filters.fit_min)
    if filters.fit_max is not None:
        query = query.where(c.fit_score <= filters.fit_max)
    # Decay moves engagement towards zero, never past it: the stored value bounds the current one.
    if filters.engagement_min is not None and filters.engagement_min > 0:
        query = query.where(c.engagement_score >= filters.engagement_min)
    if filters.engagement_max is not None and filters.engagement_max < 0:
        query = query.where(c.engagement_score <= filters.engagement_max)
    if filters.updated_since is not None:
        query = query.where(c.updated_at >= utc(filters.updated_since, "updated_since"))
    return query


def _after(key: tuple[datetime, int], descending: bool):
    c = t.leads.c
    moment, lead_id = key
    if descending:
        return or_(c.updated_at < moment, and_(c.updated_at == moment, c.id < lead_id))
    return or_(c.updated_at > moment, and_(c.updated_at == moment, c.id > lead_id))


def _engagement_ok(app: App, lead, now: datetime, filters: LeadFilters) -> bool:
    value = round(engagement_now(app, lead, now), 2)  # as shown in the summary
    if filters.engagement_min is not None and value < filters.engagement_min:
        return False
    return not (filters.engagement_max is not None and value > filters.engagement_max)


def _decode_after(cursor: str, sort: str) -> tuple[datetime, int]:
    """The (updated_at, id) a cursor holds; it must come from a page of the same sort."""
    cursor_sort, moment, lead_id = decode_cursor(cursor, str, datetime, int)
    if cursor_sort != sort:
        raise InvalidInput(f"cursor: made for sort={cursor_sort}; keep the sort while paging")
    return moment, lead_id


def utc(moment: datetime, name: str) -> datetime:
    """`moment` as aware UTC (naive taken as UTC). Raises InvalidInput when it falls outside the calendar in UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name}: out of range in UTC") from None
