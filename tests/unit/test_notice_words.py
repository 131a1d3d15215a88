"""How moments and handoffs read where people read them: notice texts and `leads route-explain`."""

from datetime import UTC, datetime, timedelta, timezone

from leadrelay.core.time import said_at, utc_iso
from leadrelay.entrypoints.cli.handoff_cmd import print_route
from leadrelay.entrypoints.cli.output import reset_consoles


def test_a_moment_in_a_notices_words_reads_to_the_second_in_utc():
    moment = datetime(2026, 12, 7, 4, 36, 50, 609687, tzinfo=UTC)
    assert said_at(moment) == "2026-12-07T04:36:50Z"
    assert said_at(moment.astimezone(timezone(timedelta(hours=-6)))) == "2026-12-07T04:36:50Z"
    assert said_at(datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) == "2026-12-07T12:00:00Z"  # as utc_iso wrote it
    assert utc_iso(moment) == "2026-12-07T04:36:50.609687Z"  # payload fields keep every digit
    assert said_at(None) is None


def _handoff(**fields) -> dict:
    return {"id": 1, "kind": "mql", "from": "marketing", "to": "sdr", "status": "assigned", "outcome": None,
            "touches_required": None, "accept_due_at": None, "first_touch_due_at": None, "touches_due_at": None,
            "follow_up_due_at": None} | fields


def test_route_explain_prints_no_empty_outcome_and_every_deadline_the_handoff_has(capsys):
    reset_consoles()
    print_route({"id": 7, "email": "jane@acme.io", "owner": "maya", "decisions": [], "handoffs": [
        _handoff(accept_due_at="2026-12-07T12:00:00Z", touches_due_at="2026-12-09T19:00:00Z", touches_required=3),
        _handoff(id=2, kind="hand_raise", status="closed", outcome="rejected",
                 first_touch_due_at="2026-12-07T04:36:50.609687Z", follow_up_due_at="2026-12-08T10:00:00Z"),
    ]})
    reset_consoles()
    assert capsys.readouterr().out.splitlines() == [
        "lead 7 jane@acme.io: owner maya",
        "handoff 1 mql marketing→sdr: assigned, accept by 2026-12-07 12:00, 3 touches by 2026-12-09 19:00",
        "handoff 2 hand_raise marketing→sdr: closed (rejected), first touch by 2026-12-07 04:36, "
        "no-show follow-up by 2026-12-08 10:00",
    ]
