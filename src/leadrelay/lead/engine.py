"""The engine's fold: apply a lead's activities, in time order, to its state.

Scores depend only on the activities and the rules (a replay gives the same numbers);
stage decisions are taken for the activities being ingested now (`decide`), so a replay
of old activities recomputes scores without re-deciding history.

A late activity (older than the lead's newest) changes what held at every later moment
too, so when one is replayed into its place, the entry criteria and disqualifiers are
judged again at each later activity, as they were when it arrived in time order; nothing
else is (hand-raisers, alerts and follow-ups fire for what arrived now). Moments before the
lead's last recycle, rejection or disqualification are history: that move re-armed the criteria.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadrelay.core.time import said_at
from leadrelay.lead.activities import Activity
from leadrelay.lead.alerts import AlertFired, check_alerts
from leadrelay.lead.attribution import first_touch
from leadrelay.lead.followups import FollowupCancelled, FollowupStarted, check_followups, drop_followups
from leadrelay.lead.lifecycle import StageChange, advance, move, qualify, raise_hand
from leadrelay.lead.model import Lead, ScoringState
from leadrelay.lead.qualification import match_persona
from leadrelay.lead.rules import Rules
from leadrelay.lead.scoring import ScoreChange, apply_engagement, engagement_at, refresh_fit
from leadrelay.lead.sequences import progress
from leadrelay.lead.sequences import track as track_sequences
from leadrelay.lead.spikes import FIELD as SPIKE
from leadrelay.lead.spikes import remember, rises
from leadrelay.lead.stages import Stage, Transition


@dataclass(slots=True)
class Outcome:
    """Everything one batch decided, to be stored in the same transaction."""

    score_changes: list[ScoreChange] = field(default_factory=list)
    stage_changes: list[StageChange] = field(default_factory=list)
    alerts: list[AlertFired] = field(default_factory=list)
    followups: list[FollowupStarted | FollowupCancelled] = field(default_factory=list)  # in the order decided


def activity_fields(activity: Activity) -> dict[str, Any]:
    """The fields engagement rules and hand-raiser triggers may read."""
    get = activity.properties.get
    kind = activity.type
    return {  # one literal: built for every activity replayed
        "type": kind,
        "event": activity.name if kind == "track" else None,
        "name": activity.name,
        "properties": activity.properties,
        "traits": activity.traits,
        "context": activity.context,
        "path": get("path"),  # a page's keys, read from its properties
        "url": get("url"),
        "referrer": get("referrer"),
        "title": get("title"),
    }


_NOT_STORED = 2 ** 63  # an activity of the batch being ingested: its id is given when it is stored


def sort_key(activity: Activity) -> tuple[datetime, int]:
    """Time order, ties in the order the activities came in: stored ones by their ids (given in arrival order, so
    every replay sees the same order), then the batch's own (sorted stably: in the order they were sent). An SDK
    stamps milliseconds, so an identify, a page and a track sent together often share their moment."""
    return (activity.occurred_at, _NOT_STORED if activity.id is None else activity.id)


def reset_derived(lead: Lead) -> None:
    """Forget everything that is rebuilt from activities, before replaying all of them."""
    lead.scoring = ScoringState()
    lead.trail = []
    lead.sequences = {}
    lead.traits, lead.trait_times = {}, {}
    lead.email = lead.company_domain = lead.country = lead.persona = None
    lead.source = lead.campaign = None
    lead.last_activity_at = None


def rejudge(lead: Lead, activities: Sequence[Activity], rules: Rules, now: datetime, outcome: Outcome) -> None:
    """Rebuild a lead's scores from all its activities (in `sort_key` order), then judge its stage at `now`, as a
    rescore does: disqualifiers that hold disqualify, cleared ones reopen, entry criteria that hold move it forward.
    Hand-raisers are not applied again (they apply as activities arrive). The moves name the rescore as actor."""
    reset_derived(lead)
    process(lead, activities, rules, outcome, decide=False)
    moves = len(outcome.stage_changes)
    qualify(lead, rules, now, None, outcome.stage_changes)
    engagement = engagement_at(lead.scoring, max(now.timestamp(), lead.scoring.as_of or 0.0), rules.half_life_seconds)
    advance(lead, rules, engagement, now, None, outcome.stage_changes)
    for change in outcome.stage_changes[moves:]:
        change.actor = change.actor + " (rescore)"


def process(
    lead: Lead,
    activities: Iterable[Activity],
    rules: Rules,
    outcome: Outcome,
    decide: Callable[[Activity], bool] | bool = True,
) -> None:
    """Apply `activities` (already in `sort_key` order) to `lead`, appending what changed to `outcome`."""
    decided = last = None
    settle_from = _settle_from(lead, activities, decide)
    always = decide if isinstance(decide, bool) else None
    for activity in activities:
        last = activity
        ts = activity.occurred_at.timestamp()
        deciding = always if always is not None else decide(activity)  # type: ignore[operator]
        settling = not deciding and settle_from is not None and activity.occurred_at >= settle_from
        decayed = None  # engagement decayed to this moment, before the activity counts
        if (deciding or settling) and lead.stage is not None and rules.half_life_seconds \
                and lead.scoring.as_of is not None:
            # Decay may have pulled a score under a threshold since the last activity: re-arm first.
            decayed = engagement_at(lead.scoring, ts, rules.half_life_seconds)
            advance(lead, rules, decayed, activity.occurred_at, activity, outcome.stage_changes)
        traits_changed = _says_who(lead, activity) and _merge_identity(lead, activity, ts, rules)
        if traits_changed:
            refresh_fit(lead, lead.fit_fields(), ts, rules, activity, outcome.score_changes)
        fields = activity_fields(activity)
        apply_engagement(lead, fields, ts, rules, activity, outcome.score_changes)
        if rules.spike_windows:
            remember(lead, ts, lead.scoring.engagement, rules.spike_windows[-1][1])
        if rules.sequences and fields["event"] is not None:  # sequences count track events only
            track_sequences(lead, rules.sequences, fields)
        if lead.last_activity_at is None or activity.occurred_at > lead.last_activity_at:
            lead.last_activity_at = activity.occurred_at
        if lead.first_seen_at is None or activity.occurred_at < lead.first_seen_at:
            lead.first_seen_at = activity.occurred_at
        if lead.source is None:
            lead.source, lead.campaign = first_touch(activity)
        if not deciding:
            if settling:
                _settle(lead, rules, activity, traits_changed, decided, outcome)
            if decided is not None and lead.followups:  # answers a wait a late activity started
                check_followups(lead, rules.followups, fields, activity.occurred_at, activity, outcome.followups,
                                start=False)
            continue
        at = activity.occurred_at
        newly_known = lead.stage is None and lead.known
        if lead.stage is None and not newly_known:
            _note_hand(lead, rules, fields, ts, ANONYMOUS)  # an anonymous visitor's demo request waits for who they are
            continue
        if newly_known:
            outcome.stage_changes.append(move(lead, Transition.IDENTIFY, Stage.SUBSCRIBER, at=at,
                                              actor="rule:identify", reason="identified", activity=activity))
        if traits_changed or newly_known:
            qualify(lead, rules, at, activity, outcome.stage_changes)
        if lead.stage is Stage.DISQUALIFIED:
            # counts if the lead is reopened within the window
            _note_hand(lead, rules, fields, ts, DISQUALIFIED + (lead.disqualified_by or ""))
        elif raise_hand(lead, rules, fields, at, activity, outcome.stage_changes) is not None:
            lead.hand_raised_at = max(lead.hand_raised_at or ts, ts)
        if lead.pending_hand is not None:
            _apply_pending_hand(lead, rules, ts, activity, outcome.stage_changes)
        advance(lead, rules, lead.scoring.engagement, at, activity, outcome.stage_changes)
        decided = activity
        if rules.alerts and lead.stage is not Stage.DISQUALIFIED:
            _alerts(lead, rules, fields, activity, outcome, decayed)
        if rules.followups and lead.stage is not Stage.DISQUALIFIED:
            waits = tuple(rule for rule in rules.followups if rule.may_match(fields["type"], fields["event"]))
            if waits:
                check_followups(lead, waits, fields, at, activity, outcome.followups)
        elif lead.followups:
            drop_followups(lead, rules.followups, at, activity, outcome.followups)
    if decided is not None and last is not None and last is not decided and rules.alerts \
            and lead.stage is not None and lead.stage is not Stage.DISQUALIFIED:
        # A late activity, replayed into its place: what it changed holds at the lead's newest activity, already
        # decided earlier without it. Judge the alerts there too, so the order things arrive in changes nothing.
        _alerts(lead, rules, activity_fields(last), last, outcome)


def _settle_from(lead: Lead, activities: Iterable[Activity],
                 decide: Callable[[Activity], bool] | bool) -> datetime | None:
    """When history is replayed around activities decided now: the moment from which the later, replayed
    activities are judged again (the first decided one, or the last move that re-armed the criteria, a
    recycle or rejection, if that is later)."""
    if isinstance(decide, bool) or lead.stage is None:
        return None
    first = next((a.occurred_at for a in activities if decide(a)), None)
    if first is None or lead.rearmed_at is None:
        return first
    return max(first, datetime.fromtimestamp(lead.rearmed_at, UTC))


def _settle(lead: Lead, rules: Rules, activity: Activity, traits_changed: bool, cause: Activity | None,
            outcome: Outcome) -> None:
    """Judge the stage again at a replayed activity that comes after one decided now: the late one changed
    what held here. The move is the late activity's doing (`cause`), at the moment it shows."""
    at, cause = activity.occurred_at, cause or activity
    if traits_changed:
        qualify(lead, rules, at, cause, outcome.stage_changes)
    if lead.stage is not Stage.DISQUALIFIED:
        advance(lead, rules, lead.scoring.engagement, at, cause, outcome.stage_changes)


def _alerts(lead: Lead, rules: Rules, fields: dict[str, Any], activity: Activity, outcome: Outcome,
            decayed: float | None = None) -> None:
    """Check the alert rules against an activity and the lead as it stands after it (sequences, spikes too).

    `decayed`: the engagement the lead had decayed to when the activity came, before it counted. A crossing
    alert whose condition no longer held at that engagement is armed again, as stage criteria are: a score
    that decayed below its bar and rose over it again has crossed it again."""
    candidates = tuple(rule for rule in rules.alerts if rule.may_hold(fields["type"], fields["event"]))
    if not candidates:
        return
    ts = activity.occurred_at.timestamp()
    now = fields | lead.lead_fields(lead.scoring.engagement)
    if rules.sequences:
        now["sequences"] = progress(lead, rules.sequences)
    if rules.spike_windows:
        now[SPIKE] = rises(lead, ts, lead.scoring.engagement, rules.spike_windows, rules.half_life_seconds)
    disarmed = decayed is not None and any(rule.rearm == "crossing" and not lead.alerts.get(rule.id, (None, True))[1]
                                           for rule in candidates)  # only then is the moment before judged
    before = now | lead.lead_fields(decayed) if disarmed and decayed is not None else None
    check_alerts(lead, candidates, now, activity.occurred_at, activity, outcome.alerts, before)


# Why a hand-raiser waited, kept with it (`Lead.pending_hand`): the reason its move gives says what was true then.
ANONYMOUS = "anonymous"  # the visitor had not identified
DISQUALIFIED = "disqualified:"  # + the rule that disqualified the lead ("" when a person did)


def _note_hand(lead: Lead, rules: Rules, fields: dict[str, Any], ts: float, state: str) -> None:
    """Remember the newest hand-raiser of a visitor not yet identified, or of a lead disqualified for now, with
    which of the two it was (`state`)."""
    for trigger in rules.hand_raisers:
        if trigger.when(fields):
            if lead.pending_hand is None or ts > lead.pending_hand[1]:
                lead.pending_hand = (trigger.id, ts, ts, state)
            return


def _waited(state: str | None) -> str:
    """Why a hand-raiser was not applied when it was raised, in words (a hand kept before the state was recorded
    with it waited for the visitor to identify: the only reason then)."""
    if state is not None and state.startswith(DISQUALIFIED):
        rule = state[len(DISQUALIFIED):]
        return f"while the lead was disqualified ({rule})" if rule else "while the lead was disqualified"
    return "before the visitor identified"


def _apply_pending_hand(lead: Lead, rules: Rules, ts: float, activity: Activity, out: list[StageChange]) -> None:
    """A hand raised before the visitor identified counts once they are known, within the playbook's window; one
    raised while the lead was disqualified, once it is reopened. Its move's reason says which.

    It applies from the moment the two were linked (an alias or merge links them later than
    the request), once; a lead disqualified for now keeps it until it is reopened.
    """
    assert lead.pending_hand is not None  # the caller checks
    trigger_id, raised, linked = (*lead.pending_hand, lead.pending_hand[1])[:3]  # (older states: no linked)
    state = lead.pending_hand[3] if len(lead.pending_hand) > 3 else None
    if ts < linked:
        return  # this activity came before the request was linked to the lead
    trigger = next((x for x in rules.hand_raisers if x.id == trigger_id), None)
    if trigger is None or ts - raised > rules.hand_raiser_window_seconds \
            or (lead.hand_raised_at is not None and raised <= lead.hand_raised_at):
        lead.pending_hand = None
        return  # a trigger the playbook dropped, too long ago, or already applied
    if lead.stage is Stage.DISQUALIFIED:
        return  # kept: it counts if the lead is reopened within the window
    lead.pending_hand = None
    lead.hand_raised_at = raised
    if lead.stage is None or lead.stage.rank >= trigger.to.rank:
        return
    when = said_at(datetime.fromtimestamp(raised, UTC))
    out.append(move(lead, Transition.HAND_RAISE, trigger.to, at=activity.occurred_at,
                    actor=f"rule:hand_raiser.{trigger.id}",
                    reason=f"hand-raiser '{trigger.id}' (raised at {when}, {_waited(state)})",
                    activity=activity))


def _says_who(lead: Lead, activity: Activity) -> bool:
    """Whether an activity may say anything `_merge_identity` takes (most page views and tracks do not)."""
    return bool(activity.traits or activity.email or activity.type == "group"
                or (activity.user_id and lead.user_id is None))


def _merge_identity(lead: Lead, activity: Activity, ts: float, rules: Rules) -> bool:
    """Merge who-they-are data from one activity; True when anything fit rules read changed.

    Each trait keeps the value from the newest message that set it, so traits arriving
    out of order end up the same as in order.
    """
    if activity.user_id and lead.user_id is None:
        lead.user_id = activity.user_id
    if activity.type == "group":
        return True  # the account (and so the fit fields) may have changed
    changed: set[str] = set()
    if activity.traits:
        times = lead.trait_times
        for key, value in activity.traits.items():
            if ts >= times.get(key, float("-inf")):
                times[key] = ts
                if lead.traits.get(key, ...) != value:
                    lead.traits[key] = value
                    changed.add(key)
    if activity.email and (lead.email is None or "email" in changed):
        if activity.email != lead.email:
            lead.email = activity.email
            domain = lead.email_domain
            lead.company_domain = None if domain is None or rules.is_webmail(domain) else domain
            changed.add("email")
    if not changed:
        return False
    if "country" in changed:
        lead.country = rules.normalise_country(lead.traits.get("country"))
    if "title" in changed:
        lead.persona = match_persona(lead.traits.get("title"), rules.personas)
    return True
