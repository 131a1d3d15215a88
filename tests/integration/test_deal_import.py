"""`leadrelay opps import-won`: closed-won deals from a CSV export, as history; broken rows named, the rest kept."""

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from leadrelay.activity.service import ingest
from leadrelay.bootstrap import bootstrap
from leadrelay.core.errors import InvalidInput, NotFound
from leadrelay.lead.queries import explain_lead
from leadrelay.playbook.loader import load_playbook
from leadrelay.sales.imports import import_won_deals
from leadrelay.settings import Settings
from leadrelay.storage.outbox_tables import outbox
from tests.conftest import REPO
from tests.messages import identify, numbered, page

PLAYBOOK = REPO / "examples" / "olist" / "playbook.yaml"


@pytest.fixture
def app(database_url, clock):
    application = bootstrap(Settings(database_url=database_url), playbook=load_playbook(PLAYBOOK), clock=clock)
    ingest(application, numbered([identify(user="m1", when=datetime(2018, 1, 3, tzinfo=UTC), landing_page_id="p"),
                                  identify(user="m2", when=datetime(2018, 1, 4, tzinfo=UTC), landing_page_id="p")]),
           live=False)
    yield application
    application.close()


def test_good_rows_win_their_deals_as_history_and_broken_rows_are_named(app, tmp_path):
    deals = tmp_path / "deals.csv"
    deals.write_text("mql_id,won_date,segment,revenue\n"
                     "m1,2018-02-10 15:00:00,pet,1200\n"  # row 2: good
                     "nobody,2018-02-11,car,\n"  # row 3: no such lead
                     "m2,someday,car,\n"  # row 4: not a date
                     "m2,2018-02-12,car,-5\n"  # row 5: a negative amount
                     ",2018-02-12,car,\n")  # row 6: no id
    report = import_won_deals(app, deals, id_column="mql_id", won_column="won_date", owner="olist_sales",
                              name_column="segment", amount_column="revenue", source="crm")
    assert (report.rows, report.won) == (5, 1)
    assert [(r["row"], r["reason"]) for r in report.rejected] == [
        (3, "no lead nobody"), (4, "won_date: 'someday' is not a date or moment (ISO 8601)"),
        (5, "revenue: '-5' is not an amount of money"), (6, "mql_id is empty")]
    lead = explain_lead(app, "m1")
    assert lead["stage"] == "customer"
    assert [(h["to"], h["actor"], h["at"]) for h in lead["history"][-2:]] == [
        ("opportunity", "import:crm", "2018-02-10T15:00:00Z"), ("customer", "import:crm", "2018-02-10T15:00:00Z")]
    assert explain_lead(app, "m2")["stage"] == "mql"  # its rows were refused: nothing of them kept
    with app.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(outbox)) == 0  # history: nobody was told


def test_a_row_naming_an_anonymous_visitor_is_refused_alone_and_the_rows_after_it_are_imported(app, tmp_path):
    """Regression: a visitor (no stage yet) crashed the whole import with an AttributeError."""
    ingest(app, numbered([page("/pricing", anon="visitor-1", when=datetime(2018, 1, 4, tzinfo=UTC))]),
           live=False)
    deals = tmp_path / "deals.csv"
    deals.write_text("mql_id,won_date\nvisitor-1,2018-02-10\nm1,2018-02-11\n")
    report = import_won_deals(app, deals, id_column="mql_id", won_column="won_date", owner="olist_sales")
    assert (report.rows, report.won) == (2, 1)
    assert [(r["row"], r["reason"]) for r in report.rejected] == [
        (2, "visitor-1 is an anonymous visitor, not a lead: no deal to win")]
    assert explain_lead(app, "m1")["stage"] == "customer"


def test_a_deals_file_without_the_columns_or_a_known_owner_is_refused_before_any_row(app, tmp_path):
    deals = tmp_path / "deals.csv"
    deals.write_text("id,when\nm1,2018-02-10\n")
    with pytest.raises(InvalidInput, match="no column 'mql_id'"):
        import_won_deals(app, deals, id_column="mql_id", won_column="when", owner="olist_sales")
    with pytest.raises(NotFound, match="no rep 'zed'"):
        import_won_deals(app, deals, id_column="id", won_column="when", owner="zed")
    assert explain_lead(app, "m1")["stage"] == "mql"


def test_the_sources_report_sets_spend_against_what_each_source_brought(app, tmp_path):
    from leadrelay.reports.catalog import report_request, run_report
    from leadrelay.reports.sources import import_spend

    deals = tmp_path / "deals.csv"
    deals.write_text("mql_id,won_date,revenue\nm1,2018-02-10 15:00:00,1200\n")
    import_won_deals(app, deals, id_column="mql_id", won_column="won_date", owner="olist_sales",
                     amount_column="revenue")
    spend = tmp_path / "spend.csv"
    spend.write_text("month,source,campaign,amount,currency\n"
                     "2018-01,(none),,300,USD\n"  # row 2: replaced by row 5
                     "2018-13,ads,,100,USD\n"  # row 3: no such month
                     "2018-01,(none),,100,EUR\n"  # row 4: the playbook keeps USD only
                     "2018-01,(none),,500,USD\n"  # row 5
                     "2018-01,,,50,USD\n")  # row 6: no source
    report = import_spend(app, spend)
    assert (report.rows, report.imported) == (5, 2)
    assert [(r["row"], r["reason"].split(":")[0]) for r in report.rejected] == [
        (3, "month"), (4, "unknown currency 'EUR'"), (6, "source is empty")]
    [row] = run_report(app, report_request("sources", start=date(2018, 1, 1), end=date(2018, 3, 31)))["rows"]
    assert row == {"month": "2018-01", "source": "(none)", "currency": "USD", "spend": "500.00", "leads": 2, "mqls": 2,
                   "sqls": 1, "customers": 1, "revenue": "1200.00", "cost_per_lead": "250.00",
                   "cost_per_mql": "250.00", "cost_per_sql": "500.00", "cost_per_customer": "500.00", "roi": 1.4}
    spend.write_text("month,source,amount,currency\n2018-02,(none),200,USD\n")  # a month without new leads
    assert import_spend(app, spend).imported == 1
    months = run_report(app, report_request("sources", start=date(2018, 1, 1), end=date(2018, 3, 31)))["rows"]
    assert [(r["month"], r["spend"], r["leads"], r["cost_per_lead"]) for r in months] == [
        ("2018-01", "500.00", 2, "250.00"), ("2018-02", "200.00", 0, None)]
    [whole] = run_report(app, report_request("sources", start=date(2018, 1, 1), end=date(2018, 3, 31),
                                             period="all"))["rows"]
    assert whole == row | {"month": None, "spend": "700.00", "cost_per_lead": "350.00", "cost_per_mql": "350.00",
                           "cost_per_sql": "700.00", "cost_per_customer": "700.00", "roi": 0.7143}
    with pytest.raises(InvalidInput, match="sources is by month .* or over the whole range \\(all\\), not 'week'"):
        report_request("sources", period="week")
