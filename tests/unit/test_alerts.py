"""Alerts as the engine decides them: when a rule fires and when it may fire again (once, crossing, a window),
never when history is replayed, never for a disqualified lead, and its state kept with the lead."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import Outcome, process
from leadrelay.lead.model import Lead
from leadrelay.lead.rows import lead_from_row, lead_values
from leadrelay.playbook.loader import parse_playbook

T0 = datetime(2026, 10, 1, 9, tzinfo=UTC)

RULES = parse_playbook("""
name: alerts test
qualification: {served_countries: [US]}
scoring:
  engagement:
    rules:
      - {id: pricing, when: {path: /pricing}, points: 20}
    half_life_days: 1
alerts:
  - {id: case_study, description: read a case study, when: {path: {starts with: /case-studies/}}}
  - {id: hot, when: {engagement: {">=": 30}}, rearm: crossing}
  - {id: comparison, when: {path: /compare}, rearm: 2d}
""", "alerts.yaml").rules

_n = iter(range(100_000))


def act(path=None, *, hours=0.0, kind="page", **traits):
    return Activity(source="t", message_id=f"m{next(_n)}", type=kind, occurred_at=T0 + timedelta(hours=hours),
                    received_at=T0, user_id="u1", anonymous_id=None, email=traits.get("email"), name=None,
                    properties={"path": path} if path else {}, traits=traits)


def fired(lead, *activities, decide=True):
    outcome = Outcome()
    process(lead, list(activities), RULES, outcome, decide=decide)
    return [(a.rule.id, a.at) for a in outcome.alerts]


def known() -> Lead:
    lead = Lead()
    assert fired(lead, act(kind="identify", email="ann@acme.io", country="US")) == []
    return lead


def test_once_fires_the_first_time_only_and_says_why():
    lead = known()
    outcome = Outcome()
    process(lead, [act("/case-studies/acme", hours=1)], RULES, outcome)
    [alert] = outcome.alerts
    assert alert.why == "case_study: read a case study (page /case-studies/acme; fit 0, engagement 0.0)"
    assert fired(lead, act("/case-studies/other", hours=2), act("/case-studies/acme", hours=200)) == []


def test_crossing_fires_each_time_the_condition_becomes_true_again():
    lead = known()
    assert fired(lead, act("/pricing", hours=1)) == []  # 20
    assert fired(lead, act("/pricing", hours=1.1)) == [("hot", T0 + timedelta(hours=1.1))]  # 40: crossed
    assert fired(lead, act("/pricing", hours=1.2)) == []  # still above: no news
    assert fired(lead, act("/about", hours=60)) == []  # decayed below 30: re-armed
    assert fired(lead, act("/pricing", hours=61)) == [("hot", T0 + timedelta(hours=61))]  # ~10.6 left + 20


def test_a_window_fires_at_most_once_per_window():
    lead = known()
    hits = [fired(lead, act("/compare", hours=h)) for h in (1, 30, 48.9, 49, 50)]
    assert [bool(h) for h in hits] == [True, False, False, True, False]


def test_replayed_history_fires_nothing_and_a_disqualified_lead_is_not_alerted():
    lead = known()
    assert fired(lead, act("/case-studies/acme", hours=1), decide=False) == []
    out = Lead()
    fired(out, act(kind="identify", email="bob@acme.io", country="FR"))  # not served: disqualified
    assert out.stage is not None and out.stage.value == "disqualified"
    assert fired(out, act("/case-studies/acme", hours=1)) == []


def test_what_fired_is_kept_with_the_lead_through_storage():
    lead = known()
    fired(lead, act("/case-studies/acme", hours=1))
    lead.id = 7
    row = lead_values(lead, T0)
    stored = {"id": 7, "trait_times": lead.trait_times, "account_id": None, "predicted": None}  # not in lead_values
    again = lead_from_row(SimpleNamespace(**stored | row))
    assert fired(again, act("/case-studies/other", hours=5)) == []  # once: remembered after a restart


@pytest.mark.parametrize(("alerts", "message"), [
    ("[{id: a, when: {evnt: Demo}}]", "alerts[0].when: unknown field 'evnt' in an alert"),
    ("[{id: a, when: {path: /x}, rearm: 0m}]", "a window of zero would fire on every matching activity"),
    ("[{id: a, when: {path: /x}, rearm: sometimes}]", "give once, crossing or a duration such as 7d"),
    ("[{id: a, when: {path: /x}}, {id: a, when: {path: /y}}]",
     "alerts[1].id: rule id 'a' is used twice (first at alerts[0])"),
    ("[{id: a, when: {path: /x}, channels: [nope]}]", "alerts[0].channels[0]: unknown channel 'nope'"),
    ("[{id: a, when: {path: /x}, email: [owner]}]", "alerts[0].email: alert 'a' emails, but the playbook has no "
                                                    "notifications.email section"),
    ("[{id: a, when: {path: /x}, email: [some one]}]", "is neither a role (owner, manager, team), a group of the "
                                                       "email section nor an email address"),
])
def test_a_bad_alert_is_refused_with_its_line(alerts, message):
    from leadrelay.playbook.service import validate

    issues = validate(f"name: bad alerts\n\nalerts: {alerts}\n", "bad.yaml")
    assert any(issue.startswith("bad.yaml:3: ") and message in issue for issue in issues), issues


def test_an_alert_emailing_a_group_the_email_section_lacks_is_refused_with_its_line():
    from leadrelay.playbook.service import validate

    issues = validate("name: bad alerts\nnotifications:\n  email: {from: lr@acme.io, groups: {sales_ops: [so@acme.io]}}"
                      "\nalerts:\n  - {id: a, when: {path: /x}, email: [owner, marketing]}\n", "bad.yaml")
    assert issues == ["bad.yaml:5: alerts[0].email[1]: alert 'a': no group 'marketing' (groups: sales_ops; roles: "
                      "owner, manager, team)"]


SPIKES = parse_playbook("""
name: spikes test
scoring:
  engagement:
    half_life_days: 2
    rules:
      - {id: pricing, when: {path: /pricing}, points: 10}
alerts:
  - {id: spike, description: engagement rose by 20 within 48 hours, when: {engagement_rise.48h: {">=": 20}},
     rearm: crossing}
""", "spikes.yaml").rules


def spiked(lead, *activities, decide=True):
    outcome = Outcome()
    process(lead, list(activities), SPIKES, outcome, decide=decide)
    return [a.at for a in outcome.alerts]


def test_a_spike_fires_when_engagement_rises_fast_not_when_it_climbs_slowly():
    lead = Lead()
    spiked(lead, act(kind="identify", email="ann@acme.io"))
    slow = [spiked(lead, act("/pricing", hours=h)) for h in (1, 73, 145, 217)]  # 10 every three days
    assert slow == [[], [], [], []] and lead.scoring.engagement > 10
    burst = spiked(lead, act("/pricing", hours=220), act("/pricing", hours=221))
    assert burst == [T0 + timedelta(hours=221)]  # +20 within two hours: rose by 20 within 48


def test_the_spike_trail_is_rebuilt_by_a_replay_and_kept_short():
    lead = Lead()
    history = [act(kind="identify", email="bo@acme.io")] + [act("/pricing", hours=h) for h in range(0, 200, 10)]
    spiked(lead, *history, decide=False)
    assert lead.trail[0][0] <= (T0 + timedelta(hours=190 - 48)).timestamp() < lead.trail[1][0]
    assert len(lead.trail) == 6  # what 48 hours can reach (150 to 190 h), and the one sample before them


def test_an_engagement_rise_window_must_be_a_duration():
    from leadrelay.playbook.service import validate

    issues = validate("name: x\nalerts: [{id: a, when: {engagement_rise.soon: {'>=': 5}}}]\n", "x.yaml")
    assert any("x.yaml:2: " in issue and "the window after engagement_rise. is a duration such as 48h" in issue
               for issue in issues), issues


NURTURE = parse_playbook("""
name: sequences test
sequences:
  - {id: onboarding, match: {properties.campaign_name: Onboarding}, emails: 3}
alerts:
  - {id: nurtured, description: finished onboarding and read at least two, when: {all: [
      {sequences.onboarding.completed: true}, {sequences.onboarding.engaged: {">=": 2}}]}}
""", "sequences.yaml").rules


def email(event, email_id, hours, campaign="Onboarding"):
    return Activity(source="t", message_id=f"m{next(_n)}", type="track", occurred_at=T0 + timedelta(hours=hours),
                    received_at=T0, user_id="u1", anonymous_id=None, email=None, name=event,
                    properties={"campaign_name": campaign, "email_id": email_id}, traits={})


def test_a_sequence_counts_distinct_emails_and_an_alert_fires_when_it_is_done_and_read():
    from leadrelay.lead.sequences import progress

    lead = Lead()
    process(lead, [act(kind="identify", email="ann@acme.io")], NURTURE, Outcome())
    steps = [email("Email Delivered", "e1", 1), email("Email Opened", "e1", 2), email("Email Opened", "e1", 3),
             email("Email Delivered", "e2", 24), email("Email Delivered", "x9", 25, campaign="Newsletter"),
             email("Email Delivered", "e3", 48)]
    outcome = Outcome()
    process(lead, steps, NURTURE, outcome)
    assert progress(lead, NURTURE.sequences)["onboarding"] == {
        "sent": 3, "opened": 1, "clicked": 0, "engaged": 1, "emails": 3, "completed": True}
    assert outcome.alerts == []  # done, but only one read
    process(lead, [email("Email Link Clicked", "e3", 50)], NURTURE, outcome)
    assert [a.rule.id for a in outcome.alerts] == ["nurtured"]


@pytest.mark.parametrize(("text", "message"), [
    ("sequences: [{id: s, match: {properties.campaign_name: X}, emails: 0}]", "greater than or equal to 1"),
    ("sequences: [{id: s, match: {evnt: X}, emails: 2}]", "unknown field 'evnt' in a sequence's match"),
    ("alerts: [{id: a, when: {sequences.nope.engaged: {'>=': 1}}}]", "'sequences.nope.engaged': no sequence 'nope'"),
    ("sequences: [{id: s, match: {event: Email Opened}, emails: 2}]\nalerts: [{id: a, when: {sequences.s.read: 1}}]",
     "'sequences.s.read': a sequence has sent, opened, clicked, engaged, completed, emails"),
    ("sequences: [{id: s, match: {event: Emial Opened}, emails: 2}]",  # a user trial's typo, accepted before
     "sequences[0].match: a sequence counts Segment's email events only (Email Delivered, Email Sent, Email Opened, "
     "Email Link Clicked, Email Clicked); its match names emial opened"),
    ("sequences: [{id: s, match: {event: {in: [Email Opened, Emial Clicked]}}, emails: 2}]",
     "its match names emial clicked"),
])
def test_a_bad_sequence_is_refused_with_its_line(text, message):
    from leadrelay.playbook.service import validate

    issues = validate(f"name: bad\n{text}\n", "bad.yaml")
    assert any(issue.startswith("bad.yaml:") and message in issue for issue in issues), issues


FOLLOWUPS = parse_playbook("""
name: followups test
followups:
  - {id: abandoned, after: {all: [{event: Form Viewed}, {properties.form: demo}]}, unless: {event: Demo Requested},
     within: 30m}
""", "followups.yaml").rules


def form(event, minutes, **properties):
    return Activity(source="t", message_id=f"m{next(_n)}", type="track", occurred_at=T0 + timedelta(minutes=minutes),
                    received_at=T0, user_id="u1", anonymous_id=None, email=None, name=event,
                    properties=properties, traits={})


def waits(lead, *activities):
    outcome = Outcome()
    process(lead, list(activities), FOLLOWUPS, outcome)
    return [(type(c).__name__, c.at - T0) for c in outcome.followups]


def test_a_follow_up_starts_once_is_cancelled_by_its_answer_and_may_start_again_after():
    lead = Lead()
    process(lead, [act(kind="identify", email="ann@acme.io")], FOLLOWUPS, Outcome())
    assert waits(lead, form("Form Viewed", 1, form="demo"), form("Form Viewed", 2, form="demo")) == [
        ("FollowupStarted", timedelta(minutes=1))]  # one wait at a time
    assert waits(lead, form("Form Viewed", 3, form="pricing")) == []  # not the demo form
    assert waits(lead, form("Demo Requested", 20)) == [("FollowupCancelled", timedelta(minutes=20))]
    assert waits(lead, form("Demo Requested", 25)) == []  # nothing left to cancel
    assert waits(lead, form("Form Viewed", 40, form="demo"), form("Demo Requested", 80)) == [
        ("FollowupStarted", timedelta(minutes=40))]  # answered after the wait: the timer stands


def test_an_anonymous_visitor_starts_no_follow_up():
    lead = Lead()
    anonymous = Activity(source="t", message_id="anon-1", type="track", occurred_at=T0, received_at=T0, user_id=None,
                         anonymous_id="a1", email=None, name="Form Viewed", properties={"form": "demo"}, traits={})
    assert waits(lead, anonymous) == []


@pytest.mark.parametrize(("text", "message"), [
    ("followups: [{id: f, after: {event: X}, within: 30m}]", "followups[0]: missing required key 'unless'"),
    ("followups: [{id: f, after: {event: X}, unless: {event: Y}, within: 0m}]", "duration must be positive"),
    ("followups: [{id: f, after: {event: X}, unless: {event: Y}, within: 3000000d}]",  # crashed ingest (a trial)
     "followups[0].within: a follow-up waits at most 365d (a year)"),
    ("followups: [{id: f, after: {evnt: X}, unless: {event: Y}, within: 1h}]",
     "unknown field 'evnt' in a follow-up's after"),
    ("followups: [{id: f, after: {event: X}, unless: {event: Y}, within: 1h, channels: [nope]}]",
     "followups[0].channels[0]: unknown channel 'nope'"),
])
def test_a_bad_follow_up_is_refused_with_its_line(text, message):
    from leadrelay.playbook.service import validate

    issues = validate(f"name: bad\n{text}\n", "bad.yaml")
    assert any(issue.startswith("bad.yaml:2: ") and message in issue for issue in issues), issues
