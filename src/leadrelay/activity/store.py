"""Accounts (companies): created and updated from `group` calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, bindparam, insert, select, update

from leadrelay.core.addresses import ascii_domain
from leadrelay.lead.activities import Activity
from leadrelay.lead.store import chunks
from leadrelay.storage import tables as t


def account_domain(traits: dict[str, Any]) -> str | None:
    """The company's domain from group traits (`domain`, else the host of `website`), lower-case, in ASCII."""
    for key in ("domain", "website"):
        value = traits.get(key)
        if isinstance(value, str) and value.strip():
            host = (urlsplit(value if "//" in value else f"//{value}").hostname or "").removeprefix("www.")
            try:  # as e-mail domains are: `müller.de` is `xn--mller-kva.de`
                return ascii_domain(host) or None
            except ValueError:
                return host or None
    return None


def _adopt_named_by_domain(conn: Connection, inserts: list, ids: dict[str, int]) -> list:
    """A new group whose domain an account made by hand already has (`accounts owner acme.io rep`, before any
    group call named the company) takes that account, with its owner, instead of starting a second one."""
    domains = {values["domain"] for _, values in inserts if values["domain"]}
    if not domains:
        return inserts
    c = t.accounts.c
    query = select(c.domain, c.id).where(c.group_id.is_(None), c.domain.in_(sorted(domains))).order_by(c.id.desc())
    waiting: dict[str, int] = dict(conn.execute(query).tuples().all())
    left = []
    for group_id, values in inserts:
        account_id = waiting.pop(values["domain"], None) if values["domain"] else None
        # Taken only while no other group has taken it (a batch committed in the meantime may have).
        if account_id is None or not conn.execute(
                update(t.accounts).where(c.id == account_id, c.group_id.is_(None))
                .values({k: v for k, v in values.items() if k != "created_at"})).rowcount:
            left.append((group_id, values))
            continue
        ids[group_id] = account_id
    return left


def upsert_accounts(conn: Connection, groups: Sequence[Activity], now: datetime) -> dict[str, int]:
    """Create or update accounts from group calls (newest traits win); return group id -> account id."""
    by_group: dict[str, list[Activity]] = {}
    for activity in groups:
        assert activity.group_id is not None  # the caller passes only activities naming a group
        by_group.setdefault(activity.group_id, []).append(activity)
    ids: dict[str, int] = {}
    current: dict[str, tuple[int, dict]] = {}
    c = t.accounts.c
    for part in chunks(list(by_group)):
        for row in conn.execute(select(c.id, c.group_id, c.traits).where(c.group_id.in_(part))):
            current[row.group_id] = (row.id, dict(row.traits or {}))
    inserts, updates = [], []
    for group_id, calls in by_group.items():
        calls.sort(key=lambda a: a.occurred_at)
        account_id, traits = current.get(group_id, (None, {}))
        merged = dict(traits)
        for call in calls:
            if call.type == "group":
                merged.update(call.traits)
        values = {"traits": merged, "domain": account_domain(merged), "name": merged.get("name"), "updated_at": now}
        if account_id is None:
            inserts.append((group_id, values | {"group_id": group_id, "created_at": now}))
        elif merged != traits:
            updates.append(values | {"b_id": account_id})
        if account_id is not None:
            ids[group_id] = account_id
    inserts = _adopt_named_by_domain(conn, inserts, ids)
    if inserts:
        stmt = insert(t.accounts).returning(c.id, sort_by_parameter_order=True)
        for (group_id, _), account_id in zip(inserts, conn.scalars(stmt, [v for _, v in inserts]), strict=True):
            ids[group_id] = account_id
    if updates:
        conn.execute(update(t.accounts).where(c.id == bindparam("b_id")), updates)
    return ids
