"""Speed to lead and persistence on handoff moments written by hand."""

from datetime import UTC, datetime, timedelta

from leadrelay.reports.handoffs import HandoffTimes, persistence, speed_to_lead

T = datetime(2026, 10, 1, 9, tzinfo=UTC)


def handoff(n, rep, *, received=0.0, routed=2.0, notified=5.0, accepted=None, touched=None, touches=0,
            quiet=False, accept_within=60, touch_within=120):
    """Seconds after T for the system moments, minutes after T for the rep's."""
    def minutes(m):
        return None if m is None else T + timedelta(minutes=m)
    return HandoffTimes(n, T, {"rep": rep, "team": "sdr", "source": "ads", "hour": "09"},
                        T + timedelta(seconds=received), T + timedelta(seconds=routed),
                        T + timedelta(seconds=notified), T, minutes(accepted), minutes(touched),
                        minutes(accept_within), minutes(touch_within), quiet, touches)


def test_speed_to_lead_splits_the_system_delay_from_the_reps():
    times = [handoff(1, "ann", accepted=10, touched=30, touches=3),
             handoff(2, "ann", routed=4, notified=10, accepted=90, touched=200, touches=1),
             handoff(3, "bob", accepted=20),
             handoff(4, "bob", received=0, routed=3600, notified=3700, quiet=True)]  # loaded history
    [row] = speed_to_lead(times)
    assert row["handoffs"] == 4
    assert row["system"] == {"received_to_routed_p50_s": 2.0, "received_to_routed_p90_s": 4.0,
                             "routed_to_notified_p50_s": 3.0, "routed_to_notified_p90_s": 6.0, "measured": 3}
    human = row["human"]
    assert (human["assigned_to_accepted_p50_min"], human["assigned_to_accepted_p90_min"]) == (20.0, 90.0)
    assert human["accepted_within_sla"] == 0.5  # 10 and 20 minutes of 60; 90 late; 4 never accepted
    assert (human["assigned_to_first_touch_p50_min"], human["first_touch_within_sla"]) == (30.0, 0.25)
    assert human["never_touched"] == 2
    by_rep = {r["group"]: r["handoffs"] for r in speed_to_lead(times, by="rep")}
    assert by_rep == {"ann": 2, "bob": 2}


def test_persistence_counts_touches_in_the_first_week_and_leads_never_touched():
    times = [handoff(1, "ann", touched=5, touches=3), handoff(2, "ann", touched=60, touches=1),
             handoff(3, "bob"), handoff(4, "bob", touched=10, touches=2)]
    rows = {r["group"]: r for r in persistence(times)}
    assert (rows["ann"]["touches_per_lead"], rows["ann"]["never_touched"]) == (2.0, 0)
    assert (rows["bob"]["touches_first_week"], rows["bob"]["never_touched_share"]) == (2, 0.5)
