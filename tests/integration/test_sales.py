"""The sales side against a real database on both backends: qualification, the SQL gate, accounts and
opportunities, win and loss, expansion, PQL, the forecast and its snapshots, and the demo's deals."""

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from leadrelay.activity.service import ingest
from leadrelay.core.errors import InvalidInput, InvalidTransition, LeadRelayError, NotFound
from leadrelay.demo.deals import work_deals
from leadrelay.handoff import service as rep_actions
from leadrelay.handoff.queries import route_explain
from leadrelay.lead.queries import explain_lead
from leadrelay.lead.service import change_stage, load_for_update, move_lead
from leadrelay.lead.stages import Stage, Transition
from leadrelay.sales import service as opps
from leadrelay.sales.forecast_snapshots import current_forecast, take_snapshot
from leadrelay.sales.frameworks import SqlGateNotMet
from leadrelay.sales.qualify import advance_to_sql, qualification_status, record_answers
from leadrelay.storage import handoff_tables as h
from leadrelay.storage import sales_tables as s
from leadrelay.storage import tables as t
from leadrelay.storage.outbox_tables import outbox
from leadrelay.storage.unit_of_work import UnitOfWork
from leadrelay.worker import sweep
from tests.messages import identify, numbered, page, track

BANT_MET = [("budget", "yes"), ("authority", "decision_maker"), ("need", "critical"), ("timeline", "2027-01-15")]
CLOSE = date(2026, 12, 15)
WATCHED = (t.leads, t.stage_changes, t.accounts, h.handoffs, h.account_owners, h.sla_timers, h.touches,
           h.routing_decisions, s.qualification_answers, s.opportunities, s.opportunity_history, outbox)


def everything(app) -> dict:
    """Every row of the tables a sales action may touch: to show that a refused action changed nothing."""
    with app.engine.connect() as conn:
        return {table.name: sorted(map(repr, conn.execute(select(table)).all())) for table in WATCHED}


def owner_of(app, ref) -> str | None:
    return explain_lead(app, ref)["owner"]


def sal(app, n: int, *, domain: str | None = None, country: str = "US") -> tuple[str, str]:
    """Lead n asks for a demo: straight to SAL, routed to an SDR. Returns (email, the SDR)."""
    now = app.clock()
    email = f"buyer{n}@{domain or f'company{n}.io'}"
    ingest(app, numbered([
        identify(user=f"u{n}", when=now - timedelta(minutes=2), email=email, title="VP Sales", employees=300,
                 country=country, company=f"Company {n}"),
        track("Demo Requested", user=f"u{n}", when=now - timedelta(minutes=1)),
    ]))
    return email, owner_of(app, email)


def sql(app, n: int, **kw) -> tuple[str, str]:
    """Lead n qualified with BANT, a meeting booked, moved to SQL. Returns (email, the AE it went to)."""
    email, sdr = sal(app, n, **kw)
    record_answers(app, email, BANT_MET, rep=sdr)
    rep_actions.log_touch(app, email, rep=sdr, kind="call", outcome="meeting_booked")
    return email, advance_to_sql(app, email, rep=sdr)["owner"]


def converted(app, n: int, amount="12000", **kw) -> tuple[str, str, int]:
    email, ae = sql(app, n, **{k: v for k, v in kw.items() if k in ("domain", "country")})
    options = {k: v for k, v in kw.items() if k not in ("domain", "country")}
    result = opps.convert(app, email, rep=ae, name=f"Deal {n}", amount=amount, close_date=CLOSE, **options)
    return email, ae, result["opportunity"]["id"]


# --- qualification and the SQL gate ------------------------------------------------------------------

def test_answers_are_recorded_with_who_and_when_and_each_criterion_is_met_missing_or_failed(app, clock):
    email, sdr = sal(app, 1)
    first = record_answers(app, email, [("budget", "no"), ("authority", "Decision_Maker")], rep=sdr)
    assert (first["recorded"], first["met"], first["missing"], first["failed"]) == (
        ["budget", "authority"], ["authority"], ["need", "timeline"], ["budget"])
    clock.advance(hours=2)
    later = record_answers(app, email, [("budget", "yes")], rep=sdr)
    budget = later["criteria"][0]
    assert (budget["answer"], budget["answered_by"], budget["answered_at"], budget["status"]) == (
        "yes", f"user:{sdr}", "2026-10-01T11:00:00Z", "met")
    with app.engine.connect() as conn:  # the earlier answer stays as history
        rows = conn.execute(select(s.qualification_answers.c.criterion, s.qualification_answers.c.answer)
                            .order_by(s.qualification_answers.c.id)).all()
    assert [tuple(r) for r in rows] == [("budget", "no"), ("authority", "decision_maker"), ("budget", "yes")]
    assert qualification_status(app, email)["met"] == ["budget", "authority"]


def test_only_the_owner_records_answers_and_a_wrong_answer_stores_none_of_them(app):
    email, sdr = sal(app, 1)
    other = "ben" if sdr != "ben" else "alice"
    with pytest.raises(InvalidTransition, match=f"owned by {sdr}, not {other}"):
        record_answers(app, email, BANT_MET, rep=other)
    before = everything(app)
    with pytest.raises(InvalidInput) as info:
        record_answers(app, email, [("need", "critical"), ("timeline", "next spring")], rep=sdr)
    assert info.value.message == "timeline: expected a date like 2027-01-15, got 'next spring'"
    assert everything(app) == before


def test_the_sql_gate_refuses_with_every_reason_then_hands_a_qualified_lead_to_the_aes(app):
    email, sdr = sal(app, 1)
    record_answers(app, email, [("budget", "yes"), ("authority", "user")], rep=sdr)
    before = everything(app)
    with pytest.raises(SqlGateNotMet) as info:
        advance_to_sql(app, email, rep=sdr)
    assert info.value.reasons == [
        "1 of 4 BANT criteria met, 3 needed (missing: need, timeline; failed: authority (user))",
        "no meeting booked (book one, or log a touch with outcome meeting_booked; a no-show or a cancellation does "
        "not count)",
    ]
    assert info.value.message.startswith("lead 1 cannot become an SQL: 1 of 4 BANT criteria met")
    assert everything(app) == before

    record_answers(app, email, [("need", "important"), ("timeline", "2027-02-01")], rep=sdr)
    rep_actions.log_touch(app, email, rep=sdr, kind="meeting", outcome="meeting_booked")
    moved = advance_to_sql(app, email, rep=sdr)
    assert (moved["from"], moved["to"], moved["owner"]) == ("sal", "sql", "erin")
    last = explain_lead(app, email)["history"][-1]
    assert (last["to"], last["actor"], last["reason"]) == (
        "sql", f"user:{sdr}", "SQL gate met: 3 of 4 BANT criteria met (budget, need, timeline)")
    handoffs = route_explain(app, email)["handoffs"]
    assert [(x["kind"], x["to"], x["status"], x["owner"]) for x in handoffs] == [
        ("hand_raise", "sdr", "closed", sdr), ("sql", "ae", "assigned", "erin")]
    with pytest.raises(InvalidTransition, match="already an SQL"):
        advance_to_sql(app, email, rep="erin")


def test_no_path_reaches_sql_or_beyond_without_the_gate(app):
    email, _ = sal(app, 1)
    before = everything(app)
    for target in (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER):  # move_lead: how every caller moves a lead
        with pytest.raises(SqlGateNotMet), UnitOfWork(app) as uow:
            lead = load_for_update(uow.conn, email)
            move_lead(uow, lead, Transition.ADVANCE, target, actor="user:sneaky", reason=None, now=uow.now)
            uow.commit()
    with pytest.raises(InvalidTransition, match="'advance' is not a move a person makes"):
        change_stage(app, email, Transition.ADVANCE, reason="new_information", actor="user:sneaky")
    assert everything(app) == before
    mql = _mql(app, 2)
    with pytest.raises(InvalidTransition, match=r"is mql: only a sales-accepted lead \(sal\) becomes an SQL: "
                                                r"accept it first"):
        advance_to_sql(app, mql, rep=owner_of(app, mql))


def _mql(app, n: int) -> str:
    """Lead n: a good fit who read pricing, an MQL (marketing's stage; not yet accepted)."""
    now = app.clock()
    email = f"reader{n}@firm{n}.io"
    ingest(app, numbered([
        identify(user=f"r{n}", when=now - timedelta(minutes=3), email=email, title="VP Sales", employees=300,
                 country="US", industry="Software"),
        page("/pricing", user=f"r{n}", when=now - timedelta(minutes=2)),
        track("Webinar Attended", user=f"r{n}", when=now - timedelta(minutes=1)),
        track("Guide Downloaded", user=f"r{n}", when=now - timedelta(seconds=30),
              properties={"guide": "comparison-guide"}),
    ]))
    assert explain_lead(app, email)["stage"] == "mql"
    return email


# --- accounts and conversion ------------------------------------------------------------------------

def test_converting_an_sql_opens_the_deal_on_the_companys_account_and_converting_twice_is_refused(app):
    email, ae = sql(app, 1, domain="acme.io")
    result = opps.convert(app, email, rep=ae, name="Acme — 20 seats", amount="12000.50", currency="eur",
                          close_date=CLOSE)
    deal = result["opportunity"]
    assert {k: deal[k] for k in ("id", "name", "kind", "owner", "amount", "currency", "close_date", "stage",
                                 "probability", "forecast_category", "status", "lead_id", "weighted")} == {
        "id": 1, "name": "Acme — 20 seats", "kind": "new_business", "owner": ae, "amount": 12000.5,
        "currency": "EUR", "close_date": "2026-12-15", "stage": "discovery", "probability": 10.0,
        "forecast_category": "pipeline", "status": "open", "lead_id": 1, "weighted": 1200.05}
    assert result["account"] == {"id": 1, "name": "Company 1", "domain": "acme.io", "created": True,
                                 "owner_set": True}
    assert result["lead"]["stage"] == "opportunity"
    lead = explain_lead(app, email)
    assert (lead["account"]["domain"], lead["history"][-1]["reason"]) == ("acme.io", "converted: opportunity 1")
    sql_handoff = route_explain(app, email)["handoffs"][-1]
    assert (sql_handoff["kind"], sql_handoff["accepted_at"]) == ("sql", "2026-10-01T09:00:00Z")  # converting accepts

    before = everything(app)
    with pytest.raises(InvalidTransition) as info:
        opps.convert(app, email, rep=ae, name="again", amount="1", close_date=CLOSE)
    assert info.value.message == "lead 1 was already converted: opportunity 1 is open"
    assert everything(app) == before

    colleague, ae2 = sql(app, 2, domain="acme.io")  # same company: same account, many opportunities
    second = opps.convert(app, colleague, rep=ae2, name="Acme — analytics team", amount="5000", close_date=CLOSE)
    assert (second["account"]["id"], second["account"]["created"], second["account"]["owner_set"]) == (1, False, False)
    assert [d["id"] for d in opps.list_opportunities(app, account="acme.io")] == [1, 2]


def test_the_account_never_takes_a_webmail_domain_and_only_the_leads_owner_converts(app):
    email, ae = sql(app, 1)
    sdr = route_explain(app, email)["handoffs"][0]["owner"]
    before = everything(app)
    with pytest.raises(InvalidInput, match="gmail.com is a webmail domain, not a company"):
        opps.convert(app, email, rep=ae, name="x", amount="1", close_date=CLOSE, account_domain="gmail.com")
    with pytest.raises(InvalidInput, match="'not a domain' is not a company domain like acme.io"):
        opps.convert(app, email, rep=ae, name="x", amount="1", close_date=CLOSE, account_domain="not a domain")
    with pytest.raises(InvalidTransition, match=f"owned by {ae}, not {sdr}"):
        opps.convert(app, email, rep=sdr, name="x", amount="1", close_date=CLOSE)
    with pytest.raises(NotFound, match="no rep 'zed' in the playbook"):
        opps.convert(app, email, rep=ae, owner="zed", name="x", amount="1", close_date=CLOSE)
    assert everything(app) == before
    result = opps.convert(app, email, rep=ae, name="x", amount="1", close_date=CLOSE,
                          account_domain="https://www.Company1-Group.com/about")
    assert result["account"]["domain"] == "company1-group.com"


BAD_CONVERSIONS = [
    ({"amount": "-100"}, "amount must be zero or more, got -100.00"),
    ({"currency": "XYZ"}, "unknown currency 'XYZ': the playbook allows USD, EUR, GBP"),
    ({"close_date": date(2026, 9, 30)}, "expected close date 2026-09-30 is in the past"),
    ({"stage": "closing"}, "no deal stage 'closing' in the playbook"),
    ({"stage": "closed_won"}, "a new opportunity starts in an open stage, not 'closed_won'"),
    ({"name": " "}, "an opportunity needs a name"),
]


def test_bad_conversions_are_refused_with_a_clear_error_and_change_nothing(app):
    email, ae = sql(app, 1)
    before = everything(app)
    for kwargs, message in BAD_CONVERSIONS:
        options = {"name": "Deal", "amount": "1000", "close_date": CLOSE} | kwargs
        with pytest.raises(InvalidInput) as info:
            opps.convert(app, email, rep=ae, **options)
        assert info.value.message.startswith(message), kwargs
    assert everything(app) == before


def test_a_past_close_date_is_kept_only_on_purpose_with_a_warning(app):
    email, ae = sql(app, 1)
    result = opps.convert(app, email, rep=ae, name="Signed last week", amount="900", close_date=date(2026, 9, 24),
                          allow_past_close=True)
    assert result["warnings"] == ["expected close date 2026-09-24 is in the past"]
    assert result["opportunity"]["close_date"] == "2026-09-24"


def test_a_disqualified_or_unqualified_lead_is_not_converted(app):
    email, ae = sql(app, 1)
    rep_actions.disqualify(app, email, rep=ae, reason="bad_data")
    early, sdr = sal(app, 2)
    before = everything(app)
    with pytest.raises(InvalidTransition) as info:
        opps.convert(app, email, rep=ae, name="x", amount="1", close_date=CLOSE)
    assert info.value.message == "lead 1 is disqualified: reopen it before converting it"
    with pytest.raises(InvalidTransition) as info:
        opps.convert(app, early, rep=sdr, name="x", amount="1", close_date=CLOSE)
    assert info.value.message == "lead 2 is sal: only an SQL is converted (qualify it, then leads sql)"
    assert everything(app) == before


# --- working the deal ----------------------------------------------------------------------------------

def test_a_deal_moves_through_stages_with_history_and_a_win_makes_the_lead_a_customer(app, clock):
    email, ae, deal = converted(app, 1)
    clock.advance(days=3)
    assert opps.move_opportunity(app, deal, "proposal", rep=ae)["opportunity"]["probability"] == 60.0
    assert opps.set_probability(app, deal, "45", rep=ae)["opportunity"]["probability"] == 45.0
    updated = opps.update_opportunity(app, deal, amount="15000", rep=ae)["opportunity"]
    assert (updated["amount"], updated["weighted"], updated["version"]) == (15000.0, 6750.0, 3)
    before = everything(app)
    with pytest.raises(InvalidInput, match="no deal stage 'signed'"):
        opps.move_opportunity(app, deal, "signed", rep=ae)
    other = "felix" if ae != "felix" else "erin"
    with pytest.raises(InvalidTransition, match=f"opportunity 1 is owned by {ae}, not {other}"):
        opps.move_opportunity(app, deal, "negotiation", rep=other)
    with pytest.raises(InvalidTransition, match=f"owned by {ae}, who is not in team sdr_na"):
        opps.move_opportunity(app, deal, "negotiation", team="sdr_na")
    with pytest.raises(LeadRelayError, match="at version 3, not 1"):
        opps.move_opportunity(app, deal, "negotiation", rep=ae, expected_version=1)
    assert everything(app) == before
    opps.move_opportunity(app, deal, "negotiation", team="ae", actor="user:priya")  # the team's manager

    clock.advance(days=4)
    won = opps.win_opportunity(app, deal, rep=ae)
    assert (won["opportunity"]["status"], won["opportunity"]["close_date"], won["lead"]["stage"]) == (
        "won", "2026-10-08", "customer")
    history = opps.show_opportunity(app, deal)["history"]
    assert [(h_["action"], h_["actor"], h_["at"]) for h_ in history] == [
        ("opened", f"user:{ae}", "2026-10-01T09:00:00Z"), ("stage", f"user:{ae}", "2026-10-04T09:00:00Z"),
        ("probability", f"user:{ae}", "2026-10-04T09:00:00Z"), ("updated", f"user:{ae}", "2026-10-04T09:00:00Z"),
        ("stage", "user:priya", "2026-10-04T09:00:00Z"), ("won", f"user:{ae}", "2026-10-08T09:00:00Z")]
    assert history[2]["changes"] == {"probability_override": [None, 45.0]}
    assert history[4]["changes"]["probability_override"] == [45.0, None]
    assert explain_lead(app, email)["history"][-1]["reason"] == "won: opportunity 1"
    with pytest.raises(InvalidTransition, match="opportunity 1 is won: a closed deal does not change"):
        opps.lose_opportunity(app, deal, "price", rep=ae)


def test_a_lost_deal_needs_a_reason_from_the_playbook_and_sends_its_lead_back_to_nurture(app, clock):
    email, ae, deal = converted(app, 1)
    clock.advance(days=15)  # no touch for two weeks: the stale rule alerts, but the open deal keeps its lead
    assert sweep(app, clock(), deliver=False).stale == 1
    assert explain_lead(app, email)["stage"] == "opportunity"
    before = everything(app)
    with pytest.raises(InvalidInput) as info:
        opps.lose_opportunity(app, deal, "bad_vibes", rep=ae)
    assert info.value.message == ("'bad_vibes' is not a lost reason in the playbook (one of no_budget, "
                                  "lost_to_competitor, no_decision, bad_timing, price, product_fit)")
    assert everything(app) == before
    lost = opps.lose_opportunity(app, deal, "lost_to_competitor", rep=ae)
    assert (lost["opportunity"]["status"], lost["opportunity"]["lost_reason"]) == ("lost", "lost_to_competitor")
    assert lost["lead"] == {"id": 1, "stage": "lead", "segment": "recycled", "version": lost["lead"]["version"]}
    move = explain_lead(app, email)["history"][-1]
    assert (move["from"], move["to"], move["transition"], move["reason"]) == (
        "opportunity", "lead", "recycle", "closed_lost")
    assert route_explain(app, email)["handoffs"][-1]["kind"] == "recycle"  # handed back to marketing
    assert explain_lead(app, email)["owner"] is None


def test_without_nurture_a_lost_deals_lead_stays_and_can_be_converted_again(database_url, clock):
    from leadrelay.bootstrap import bootstrap
    from leadrelay.playbook.loader import parse_playbook, starter_text
    from leadrelay.settings import Settings

    text = starter_text().replace("lost_to_nurture: true ", "lost_to_nurture: false")
    app = bootstrap(Settings(database_url=database_url), playbook=parse_playbook(text, "no-nurture.yaml"),
                    clock=clock)
    try:
        email, ae, deal = converted(app, 1)
        assert opps.lose_opportunity(app, deal, "no_decision", rep=ae)["lead"]["stage"] == "opportunity"
        again = opps.convert(app, email, rep=ae, name="Second try", amount="800", close_date=CLOSE)
        assert (again["opportunity"]["id"], again["lead"]["stage"]) == (2, "opportunity")
    finally:
        app.close()


# --- customers, expansion and PQL --------------------------------------------------------------------

def test_a_customers_buying_signal_opens_one_expansion_handoff_to_the_account_owner(app, clock):
    email, ae, deal = converted(app, 1, domain="acme.io")
    clock.advance(days=2)
    opps.win_opportunity(app, deal, rep=ae)
    won_at = app.clock()
    clock.advance(days=1)
    ingest(app, numbered([page("/pricing", user="u1", when=won_at - timedelta(hours=1))]))  # late, from before
    assert [x["kind"] for x in route_explain(app, email)["handoffs"]][-1] == "customer"

    ingest(app, numbered([page("/pricing/enterprise", user="u1", when=clock())]))
    ingest(app, numbered([track("Upgrade Requested", user="u1", when=clock() + timedelta(minutes=5))]))
    expansions = [x for x in route_explain(app, email)["handoffs"] if x["kind"] == "expansion"]
    assert [(x["from"], x["to"], x["owner"], x["status"], x["reason"], x["policy"]) for x in expansions] == [
        ("customer_success", "ae", ae, "assigned", "expansion signal 'pricing_after_purchase'", "expansion_follow_up")]
    decision = route_explain(app, email)["decisions"][-1]
    assert (decision["owner"], decision["actor"]) == (ae, "rule:expansion.pricing_after_purchase")
    lead = explain_lead(app, email)
    assert (lead["stage"], lead["owner"]) == ("customer", ae)  # still a customer

    upsell = opps.convert(app, email, rep=ae, name="Acme — more seats", amount="4000", close_date=CLOSE)
    assert (upsell["opportunity"]["kind"], upsell["lead"]["stage"]) == ("expansion", "customer")
    assert route_explain(app, email)["handoffs"][-1]["outcome"] == "converted"
    assert opps.win_opportunity(app, upsell["opportunity"]["id"], rep=ae)["lead"] is None  # stays a customer


def test_product_signals_mark_a_lead_pql_without_moving_or_scoring_it(app):
    now = app.clock()

    def user(n, *events):
        ingest(app, numbered([identify(user=f"p{n}", when=now - timedelta(minutes=9), email=f"dev{n}@shop{n}.io",
                                       title="Marketing Manager", employees=80, country="US")]
                             + [track(e, user=f"p{n}", when=now - timedelta(minutes=8 - i), properties=p)
                                for i, (e, p) in enumerate(events)]))
        return f"dev{n}@shop{n}.io"

    both = user(1, ("Trial Started", {}), ("Feature Used", {"feature": "Dashboards"}))
    trial_only = user(2, ("Trial Started", {}), ("Feature Used", {"feature": "settings"}))
    a, b = explain_lead(app, both), explain_lead(app, trial_only)
    assert (a["stage"], a["fit_score"], a["engagement_score"]) == (b["stage"], b["fit_score"], b["engagement_score"])
    assert (qualification_status(app, both)["product_qualified"],
            qualification_status(app, trial_only)["product_qualified"]) == (True, False)
    with app.engine.connect() as conn:
        mark = conn.execute(select(s.product_qualified)).one()
        assert (mark.lead_id, mark.signals) == (a["id"], ["key_feature_used", "trial_started"])
        assert conn.scalar(select(func.count()).select_from(s.pql_signals)) == 3
    ingest(app, numbered([track("Trial Started", user="p1", when=now)]))  # nothing new: still one mark
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(s.product_qualified)) == 1


# --- the forecast ---------------------------------------------------------------------------------------

def test_the_forecast_by_rep_and_category_with_weekly_snapshots_that_show_movement_and_accuracy(app, clock):
    _, erin, d1 = converted(app, 1, amount="10000")
    _, felix, d2 = converted(app, 2, amount="20000")
    _, ae3, d3 = converted(app, 3, amount="3000", currency="EUR")
    assert (erin, felix) == ("erin", "felix")
    opps.move_opportunity(app, d2, "negotiation", rep=felix)
    report = current_forecast(app, by="rep")
    assert [(r["group"], r["currency"], r["open_pipeline"], r["weighted_pipeline"], r["commit"]) for r in
            report["rows"]] == [(ae3, "EUR", 3000.0, 300.0, 0.0), ("erin", "USD", 10000.0, 1000.0, 0.0),
                                ("felix", "USD", 20000.0, 16000.0, 20000.0)]
    assert [(r["group"], r["open_deals"]) for r in current_forecast(app, by="category")["rows"]] == [
        ("pipeline", 1), ("pipeline", 1), ("commit", 1)]
    assert current_forecast(app, by="team")["rows"][0]["group"] == "ae"

    first = take_snapshot(app, actor="user:priya")
    assert (first["week"], first["created"], first["open_deals"]) == ("2026-W40", True, 3)
    clock.advance(days=2)
    opps.move_opportunity(app, d1, "proposal", rep=erin)
    again = take_snapshot(app, actor="user:priya")
    assert (again["created"], again["taken_at"], again["totals"]) == (False, first["taken_at"], first["totals"])

    clock.advance(days=7)
    opps.win_opportunity(app, d2, rep=felix)
    opps.lose_opportunity(app, d1, "price", rep=erin)
    report = current_forecast(app)
    usd = next(r for r in report["totals"] if r["currency"] == "USD")
    assert (usd["open_pipeline"], usd["closed_won"], usd["won_deals"], usd["lost_deals"]) == (0.0, 20000.0, 1, 1)
    story = next(x for x in report["snapshots"] if x["currency"] == "USD")
    assert {k: story[k] for k in ("week", "weighted_pipeline", "open_then", "won_since", "lost_since",
                                  "still_open", "commit_then", "commit_won_since")} == {
        "week": "2026-W40", "weighted_pipeline": 17000.0, "open_then": 30000.0, "won_since": 20000.0,
        "lost_since": 10000.0, "still_open": 0.0, "commit_then": 20000.0, "commit_won_since": 20000.0}
    assert story["change_since"]["weighted_pipeline"] == -17000.0 and story["change_since"]["closed_won"] == 20000.0
    assert take_snapshot(app, actor="user:priya")["week"] == "2026-W41"
    from leadrelay.reports.catalog import report_request, run_report

    accuracy = run_report(app, report_request("forecast_accuracy", by="rep"))["rows"]
    assert [(r["week"], r["group"], r["currency"], r["weighted"], r["won"], r["settled"], r["weighted_error"],
             r["commit_error"]) for r in accuracy if r["week"] == "2026-W40" and r["currency"] == "USD"] == [
        ("2026-W40", "erin", "USD", "1000.00", "0.00", 1.0, -1.0, None),  # lost: nothing of it came in
        ("2026-W40", "felix", "USD", "16000.00", "20000.00", 1.0, 0.25, 0.0)]  # committed, and won
    with pytest.raises(InvalidInput, match="cannot group a forecast by 'quarter'"):
        current_forecast(app, by="quarter")


# --- the demo's hook -------------------------------------------------------------------------------------

def test_the_demo_carries_sal_leads_through_qualification_conversion_and_closing(app):
    for n in range(1, 9):
        sal(app, n, country="GB" if n % 3 == 0 else "US")
    summary = work_deals(app, random.Random(11), app.clock(), max_leads=8)
    forecast = summary.pop("forecast")
    assert summary["leads"] == summary["qualified"] == 8 and summary["skipped"] == 0
    assert summary["sql"] + summary["gate_refused"] == 8 and summary["converted"] <= summary["sql"]
    assert summary["won"] + summary["lost"] + summary["open"] == summary["converted"] > 0
    assert sum(summary["lost_reasons"].values()) == summary["lost"]
    with app.engine.connect() as conn:
        statuses = dict(conn.execute(select(s.opportunities.c.status, func.count())
                                     .group_by(s.opportunities.c.status)).all())
        won = conn.scalar(select(func.coalesce(func.sum(s.opportunities.c.amount), 0))
                          .where(s.opportunities.c.status == "won", s.opportunities.c.currency == "USD"))
        stages = dict(conn.execute(select(t.leads.c.stage, func.count()).group_by(t.leads.c.stage)).all())
    assert statuses.get("won", 0) == summary["won"] and statuses.get("lost", 0) == summary["lost"]
    assert stages.get("customer", 0) == summary["won"]
    usd = next((r for r in forecast["totals"] if r["currency"] == "USD"), {"closed_won": 0.0})
    assert Decimal(str(usd["closed_won"])) == Decimal(won)
    assert summary["snapshot"] == "2026-W40"
