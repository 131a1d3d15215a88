"""A lead as the reports see it, and every fact it counts for, with the dimensions each fact is split by.

`reports.loading` reads `LeadRecord`s from the store; `lead_facts` turns one into facts for
every report, grouped by *family*: the facts of one family share their dimensions. The
rollups add the facts up per day and dimension (`reports.rollups`); a view the rollups
cannot answer adds up the same facts of the leads it may see (`tally_records`). Standard
library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from leadrelay.lead.stages import FUNNEL, Stage
from leadrelay.reports.cohorts import journey_facts, tally_facts
from leadrelay.reports.handoffs import HandoffTimes, handoff_facts
from leadrelay.reports.leakage import lead_leakage_facts, lost_facts
from leadrelay.reports.routing import Decision, routing_facts
from leadrelay.reports.sketch import Fact, Tally, wanted
from leadrelay.reports.sla import sla_facts
from leadrelay.reports.sources import source_facts

# Per family: the dimensions a report may be split by, and the name of each in the rollups' cells. Every
# family but `src` also counts under `all`. The lead family's `team` is its `rep` added up by the playbook's
# teams when read.
FAMILIES: dict[str, dict[str, str]] = {
    "lead": {"source": "source", "campaign": "campaign", "persona": "persona", "segment": "segment",
             "country": "country", "rep": "rep"},
    "handoff": {"rep": "h.rep", "team": "h.team", "source": "h.source", "hour": "h.hour", "policy": "h.policy"},
    "route": {"team": "r.team", "rep": "r.rep"},
    "deal": {"rep": "o.rep"},
    "src": {"source": "s.source", "campaign": "s.pair"},
}
WITHOUT_ALL = frozenset({"src"})


@dataclass
class LeadRecord:
    id: int
    dims: dict[str, str | None]  # source, campaign, persona, segment, country, rep (the owner)
    stage: str | None = None
    quiet_since: datetime | None = None  # the last activity or touch
    # stage, at, how (the transition), reason, actor
    moves: list[tuple[Stage, datetime, str, str | None, str | None]] = field(default_factory=list)
    handoffs: list[HandoffTimes] = field(default_factory=list)
    routing: list[tuple[datetime, datetime | None, str | None, list[Decision]]] = field(default_factory=list)
    lost: list[tuple[str | None, str | None, datetime | None]] = field(default_factory=list)  # owner, reason, at
    won: list[tuple[Decimal, str]] = field(default_factory=list)  # new-business deals won: amount, currency
    stale_recycles: list[datetime] = field(default_factory=list)
    no_shows: list[datetime] = field(default_factory=list)  # meetings the lead missed


Group = tuple[str, dict[str, str | None], list[Fact]]  # family, its dimensions' values, facts


def lead_facts(record: LeadRecord, basis: Sequence[Stage] = FUNNEL) -> list[Group]:
    """Every fact the lead counts for, by family."""
    journey = [(stage, at, how) for stage, at, how, *_ in record.moves]
    out: list[Group] = [("lead", record.dims, journey_facts(journey, basis) + lead_leakage_facts(
        record.stage, record.quiet_since, record.moves, record.stale_recycles, record.no_shows))]
    for x in record.handoffs:
        out.append(("handoff", dict(x.dims), handoff_facts(x) + sla_facts(x)))
    for opened_at, assigned_at, owner, decisions in record.routing:
        out += [("route", dims, facts) for dims, facts in routing_facts(opened_at, assigned_at, owner, decisions)]
    out += [("deal", {"rep": owner}, lost_facts(reason, at)) for owner, reason, at in record.lost]
    out += [("src", dims | {"rep": record.dims["rep"]}, facts) for dims, facts in source_facts(
        record.dims["source"], record.dims["campaign"], record.moves, record.won)]
    return [group for group in out if group[2]]


def tally_records(records: Iterable[LeadRecord], family: str, metrics: Iterable[str], *, by: str | None,
                  period: str | None, teams: Mapping[str, str], owners: Iterable[str] | None,
                  basis: Sequence[Stage] = FUNNEL,
                  days: tuple[datetime | None, datetime | None] = (None, None)) -> Tally:
    """The facts of one family named by `metrics` (see `sketch.wanted`) added up per period and group, counting
    only what `owners` may see (the rep of the family's facts is one of them)."""
    mine = None if owners is None else set(owners)
    asked = wanted(metrics)

    def groups():
        for record in records:
            for name, dims, facts in lead_facts(record, basis):
                if name != family or (mine is not None and dims.get("rep") not in mine):
                    continue
                if name == "lead":
                    dims = dict(dims, team=teams.get(dims["rep"] or ""))
                yield dims, [fact for fact in facts if asked(fact[0])]

    return tally_facts(groups(), by=by, period=period, days=days)
