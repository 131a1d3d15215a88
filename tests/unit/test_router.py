"""`routing.Router` (a queue routed at once) decides exactly as `routing.route`, lead after lead, while the loads
it keeps verdicts from change: caps and quotas filling, a seat freed, another moment, a lead's own exclusions."""

from datetime import UTC, date, datetime, timedelta

from leadrelay.handoff.calendar import BusinessCalendar
from leadrelay.handoff.routing import Directory, Load, Rep, Route, Router, TeamInfo, route

NOW = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # a Thursday, 11:00 in Berlin
BERLIN = BusinessCalendar.parse("Europe/Berlin", {"mon-fri": "09:00-17:00"})


def rep(rep_id, team, **kw):
    return Rep(rep_id, rep_id.title(), f"{rep_id}@x.io", team, BERLIN, **kw)


DIRECTORY = Directory(
    teams={"rr": TeamInfo("rr", "sdr", "round_robin", working_hours_only=True), "ll": TeamInfo("ll", "sdr",
                                                                                               "least_loaded")},
    reps={r.id: r for r in (
        rep("ann", "rr", capacity=3), rep("bob", "rr", weight=2, daily_quota=4), rep("cat", "rr", capacity=5),
        rep("dan", "ll", capacity=2), rep("eve", "ll", away=((date(2026, 10, 3), date(2026, 10, 9)),)),
        rep("fay", "ll", active=False))},
    routes=(Route("big", lambda fields: fields["size"] >= 100, team="ll"), Route("all", None, team="rr")))


def decided(decision):
    return decision.rule, decision.team, decision.owner, decision.reason, decision.as_dict()["candidates"]


def test_a_router_decides_every_lead_of_a_queue_as_route_does_while_the_loads_change():
    router = Router(DIRECTORY)
    theirs, ours = {}, {}  # route's loads, the router's: changed alike after each decision
    moments = [NOW] * 20 + [NOW + timedelta(days=3)] * 10 + [NOW + timedelta(hours=12)] * 10  # away; after hours
    seen_owners = set()
    for n, at in enumerate(moments):
        fields = {"size": 500 if n % 3 == 0 else 10}
        exclude = frozenset({"bob"}) if n % 7 == 0 else frozenset()
        expected = route(fields, "sdr", DIRECTORY, theirs, at, exclude=exclude)
        got = router.route(fields, "sdr", ours, at, exclude=exclude)
        assert decided(got) == decided(expected), n
        seen_owners.add(got.owner)
        for loads in (theirs, ours):
            if got.owner is not None:
                load = loads.setdefault(got.owner, Load())
                load.open, load.today, load.total = load.open + 1, load.today + 1, load.total + 1
            if n == 25:  # a seat freed (a lead closed) and a new day: a full rep can take leads again
                loads.setdefault("ann", Load()).open = 0
                loads.setdefault("bob", Load()).today = 0
    assert None in seen_owners and {"ann", "bob", "cat", "dan", "eve"} <= seen_owners  # caps bound, all took leads


def test_a_team_routed_alike_shares_one_candidates_list_until_a_verdict_changes():
    router = Router(DIRECTORY)
    loads = {"dan": Load(open=0)}
    first = router.route({"size": 500}, "sdr", loads, NOW)
    second = router.route({"size": 500}, "sdr", loads, NOW)
    assert second.candidates is first.candidates
    loads["dan"].open = 2  # at capacity now
    third = router.route({"size": 500}, "sdr", loads, NOW)
    assert third.candidates is not first.candidates
    assert [c.skipped for c in third.candidates] == ["at capacity (2/2 open leads)", None, "inactive"]
    assert [c.skipped for c in first.candidates] == [None, None, "inactive"]  # what was decided stays as it was
