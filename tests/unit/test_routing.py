from datetime import UTC, date, datetime

from leadrelay.handoff.calendar import BusinessCalendar
from leadrelay.handoff.routing import Directory, Load, Rep, Route, TeamInfo, choose_rep, route

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # a Thursday, 11:00 in Berlin
BERLIN = BusinessCalendar.parse("Europe/Berlin", {"mon-fri": "09:00-17:00"})
NIGHT = BusinessCalendar.parse("America/Los_Angeles", {"mon-fri": "09:00-17:00"})  # 02:00 there


def rep(rep_id, team="t", **kw):
    return Rep(rep_id, rep_id.title(), f"{rep_id}@x.io", team, kw.pop("calendar", BERLIN), **kw)


def directory(*reps, routes=(Route("all", None, team="t"),), strategy="round_robin", hours_only=False):
    return Directory(teams={"t": TeamInfo("t", "sdr", strategy, hours_only), "big": TeamInfo("big", "sdr")},
                     reps={r.id: r for r in reps}, routes=routes)


def test_weighted_round_robin_gives_each_rep_leads_in_proportion_to_weight():
    d = directory(rep("ann"), rep("bob", weight=3))
    loads = {"ann": Load(), "bob": Load()}
    picks = []
    for _ in range(8):
        owner = route({}, "sdr", d, loads, NOW).owner
        loads[owner].total += 1
        picks.append(owner)
    assert picks.count("bob") == 6 and picks.count("ann") == 2


def test_least_loaded_picks_the_rep_with_the_fewest_open_leads():
    team = TeamInfo("t", "sdr", "least_loaded")
    owner, _ = choose_rep(team, [rep("ann"), rep("bob")], {"ann": Load(open=5), "bob": Load(open=2, total=99)}, NOW)
    assert owner == "bob"


def test_every_reason_to_skip_a_rep_is_given():
    d = directory(rep("ann", active=False), rep("bob", away=((date(2026, 9, 30), date(2026, 10, 2)),)),
                  rep("cat", capacity=3), rep("dan", daily_quota=1), rep("eve", calendar=NIGHT), hours_only=True)
    decision = route({}, "sdr", d, {"cat": Load(open=3), "dan": Load(today=1)}, NOW)
    assert decision.owner is None and decision.queued
    assert decision.as_dict()["candidates"] == [
        {"rep": "ann", "skipped": "inactive"},
        {"rep": "bob", "skipped": "out of office until 2026-10-02"},
        {"rep": "cat", "skipped": "at capacity (3/3 open leads)"},
        {"rep": "dan", "skipped": "daily quota reached (1/1)"},
        {"rep": "eve", "skipped": "outside working hours"},
    ]
    assert decision.reason == "rule 'all' → team t: nobody can take it now, queued"


def test_the_first_matching_rule_for_the_receiving_function_wins():
    routes = (Route("enterprise", lambda f: f["size"] >= 1000, team="big"), Route("all", None, team="t"))
    d = directory(rep("ann"), rep("zed", team="big"), routes=routes)
    assert route({"size": 5000}, "sdr", d, {}, NOW).owner == "zed"
    assert route({"size": 50}, "sdr", d, {}, NOW).owner == "ann"
    assert route({"size": 50}, "ae", d, {}, NOW).reason == "no routing rule for ae leads: unassigned"


def test_the_account_owner_comes_first_when_available_and_rules_otherwise():
    d = directory(rep("ann"), rep("own", capacity=1))
    assert route({}, "sdr", d, {}, NOW, account_owner="own").rule == "account_owner"
    assert route({}, "sdr", d, {"own": Load(open=1)}, NOW, account_owner="own").owner == "ann"


def test_a_reassignment_never_picks_the_current_owner():
    d = directory(rep("ann"), rep("bob"))
    decision = route({}, "sdr", d, {"bob": Load(total=10)}, NOW, exclude=frozenset({"ann"}))
    assert decision.owner == "bob"
    assert decision.candidates[0].skipped == "current owner"
