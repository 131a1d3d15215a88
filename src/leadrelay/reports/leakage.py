"""Where the pipe leaks: leads stalled in each stage now, and why leads went back or were lost.

Definitions (the README says the same):

- **Stalled**: a lead in a stage now with neither an activity nor a touch for `stall_days`
  days (default 14) before the report's moment, to the minute. Counted per stage, with the
  oldest quiet moment.
- **Went back**: every recycle, reject and disqualify in the stage history, with its reason
  code, per period of the move; an SLA ladder's return to marketing (stored as a `reject` by
  `rule:sla.POLICY`) is counted apart, as `returned`, not as a rep's rejection; **stale
  recycles** are the ones the worker made for leads nobody touched (the `HandoffStale`
  events that recycled).
- **Lost**: deals closed lost, with their reason, per period of closing.
- **No-shows**: meetings leads missed (`MeetingNoShow` events), per period of the meeting.

Facts (`lead_leakage_facts`, `lost_facts`) in, rows out; standard library only. A stalled
lead's fact is its stage, on the day it went quiet, with the minute of that day as the
bucket, so the report can draw the line at any moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from leadrelay.core.time import utc_iso
from leadrelay.lead.stages import FUNNEL, Stage, Transition
from leadrelay.reports.sketch import Cell, Fact

BACK = (Transition.RECYCLE.value, Transition.REJECT.value, Transition.DISQUALIFY.value)
RETURNED = "returned"  # went back by an SLA ladder's `return_to_marketing` step: not a rep's rejection
SLA_ACTOR = "rule:sla."  # the actor of an SLA ladder's moves: `rule:sla.POLICY`
STALL_DAYS = 14
PIPE = tuple(stage.value for stage in FUNNEL[1:-1])
NEVER = date(1970, 1, 1)  # the day of a stalled lead that never had an activity or a touch


def lead_leakage_facts(stage: str | None, quiet_since: datetime | None,
                       moves: Sequence[tuple[Stage, datetime, str, str | None, str | None]],
                       stale_recycles: Iterable[datetime], no_shows: Iterable[datetime] = ()) -> list[Fact]:
    """`lk.stall:STAGE` (in the pipe now, on the day it went quiet, bucket: the minute of that day);
    `lk.back:TRANSITION:REASON` per recycle, reject and disqualify, on its day (`moves`: stage, at, transition,
    reason, actor) — `lk.back:returned:REASON` for a reject by an SLA ladder; `lk.stale` per recycle the
    worker made for a lead nobody touched; `lk.noshow` per meeting the lead missed."""
    facts: list[Fact] = []
    if stage in PIPE:
        facts.append((f"lk.stall:{stage}", NEVER, 0) if quiet_since is None else
                      (f"lk.stall:{stage}", quiet_since.date(), quiet_since.hour * 60 + quiet_since.minute))
    facts += [(f"lk.back:{went_back_as(how, actor)}:{reason or '(none)'}", at.date(), None)
              for _, at, how, reason, actor in moves if how in BACK]
    facts += [("lk.stale", at.date(), None) for at in stale_recycles]
    facts += [("lk.noshow", at.date(), None) for at in no_shows]
    return facts


def went_back_as(transition: str, actor: str | None) -> str:
    """How a move back is counted: its transition, or `returned` for an SLA ladder's return to marketing."""
    if transition == Transition.REJECT.value and (actor or "").startswith(SLA_ACTOR):
        return RETURNED
    return transition


def lost_facts(reason: str | None, closed_at: datetime | None) -> list[Fact]:
    """`lk.lost:REASON` for a deal closed lost, on the day it closed."""
    return [] if closed_at is None else [(f"lk.lost:{reason or '(none)'}", closed_at.date(), None)]


def stall_line(now: datetime, stall_days: int) -> tuple[date, int]:
    """The day and minute of that day before which a lead that went quiet is stalled."""
    line = now.astimezone(UTC) - timedelta(days=stall_days)
    return line.date(), line.hour * 60 + line.minute


def stalled_rows(months: Mapping[date, Mapping[str, Cell]], days: Mapping[date, Mapping[str, Cell]],
                 line: tuple[date, int]) -> list[dict]:
    """Per pipe stage: the leads quiet since before the line, and the oldest quiet moment.

    `months`: the `lk.stall:*` cells of the months before the line's month; `days`: the
    day cells of the line's month up to its day, and of each stage's oldest month."""
    line_day, line_minute = line
    line_month = line_day.replace(day=1)
    out = []
    for stage in PIPE:
        metric = f"lk.stall:{stage}"
        leads = sum(cells[metric].n for month, cells in months.items() if metric in cells and month < line_month)
        oldest = None
        for day in sorted(days):
            cell = days[day].get(metric)
            if cell is None or day > line_day:
                continue
            minutes = sorted(m for m, n in cell.counts.items() if n > 0 and (day < line_day or m < line_minute))
            if day >= line_month:
                leads += cell.n if day < line_day else sum(cell.counts[m] for m in minutes)
            if oldest is None and minutes and day != NEVER:
                oldest = datetime.combine(day, time(minutes[0] // 60, minutes[0] % 60), UTC)
        if leads:
            out.append({"stage": stage, "leads": leads, "quiet_since": utc_iso(oldest)})
    return out


def went_back_rows(found: Mapping[tuple[str | None, str], Mapping[str, Cell]]) -> dict[str, list[dict]]:
    """The went_back, stale_recycles, no_shows and lost sections, per period."""
    back, stale, lost, no_shows = [], [], [], []
    for (period, _), cells in sorted(found.items(), key=lambda item: item[0][0] or ""):
        for metric, cell in cells.items():
            if cell.n <= 0:
                continue
            if metric.startswith("lk.back:"):
                transition, reason = metric[8:].split(":", 1)
                back.append({"period": period, "transition": transition, "reason": reason, "leads": cell.n})
            elif metric == "lk.stale":
                stale.append({"period": period, "leads": cell.n})
            elif metric == "lk.noshow":
                no_shows.append({"period": period, "meetings": cell.n})
            elif metric.startswith("lk.lost:"):
                lost.append({"period": period, "reason": metric[8:], "deals": cell.n})
    return {"went_back": sorted(back, key=lambda r: (r["period"] or "", r["transition"], -r["leads"], r["reason"])),
            "stale_recycles": stale,
            "no_shows": no_shows,
            "lost": sorted(lost, key=lambda r: (r["period"] or "", -r["deals"], r["reason"]))}

