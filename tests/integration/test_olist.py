"""Olist's marketing funnel, loaded as `examples/olist/load.sh` loads it, read back through the reports.

Every expected figure is computed here from the two CSV files, not by LeadRelay. It runs on
SQLite only: loading 8,000 leads through the CLI takes half a minute on PostgreSQL, and the
reports' arithmetic is checked on both databases by test_reports.py, test_report_rollups.py
and the API tests.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e.cli import Cli

pytestmark = pytest.mark.dataset

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "olist"
FOLDER = "olist-marketing-funnel"


def figures(days: float) -> float:
    """As the reports keep durations (README): to the tenth below 100 days, three significant figures above."""
    return round(days, 1) if days < 100 else round(days, 2 - math.floor(math.log10(days)))


def expected(data: Path) -> dict:
    """MQLs, wins, conversion per origin and days from first contact to won, from the CSV files."""
    with open(data / "olist_marketing_qualified_leads_dataset.csv", encoding="utf-8") as f:
        mqls = {row["mql_id"]: row for row in csv.DictReader(f)}
    with open(data / "olist_closed_deals_dataset.csv", encoding="utf-8") as f:
        won = {row["mql_id"]: row for row in csv.DictReader(f)}
    entered = Counter(row["origin"] or "(none)" for row in mqls.values())
    converted = Counter(mqls[mql_id]["origin"] or "(none)" for mql_id in won)
    days = []
    for mql_id, deal in won.items():
        first = datetime.fromisoformat(mqls[mql_id]["first_contact_date"]).replace(tzinfo=UTC)
        closed = datetime.fromisoformat(deal["won_date"]).replace(tzinfo=UTC)
        days.append(max((closed - first).total_seconds() / 86400, 0.0))  # history reads forward (README)
    days.sort()
    return {"mqls": len(mqls), "won": len(won), "entered": entered, "converted": converted,
            "median_days": figures(days[(len(days) + 1) // 2 - 1]),
            "p90_days": figures(days[-(-9 * len(days) // 10) - 1]),
            "won_before_contact": sum(1 for d in won.values()
                                      if d["won_date"][:10] < mqls[d["mql_id"]]["first_contact_date"])}


@pytest.mark.slow
def test_the_olist_funnel_loaded_by_the_example_reads_back_as_the_csv_files_say(datasets, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'olist.db'}"
    data = datasets / FOLDER
    leadrelay = str(Path(sys.executable).parent / "leadrelay")
    done = subprocess.run([str(EXAMPLE / "load.sh"), database_url], capture_output=True, text=True, timeout=600,
                          env=os.environ | {"LEADRELAY": leadrelay, "OLIST_DATA": str(data)})
    assert done.returncode == 0, done.stderr
    assert "842 deals won, 0 rejected" in done.stdout
    want = expected(data)
    assert (want["mqls"], want["won"], want["won_before_contact"]) == (8000, 842, 1)  # the dataset as documented

    cli = Cli(tmp_path, database_url)
    playbook = str(EXAMPLE / "playbook.yaml")
    [overall] = cli("--playbook", playbook, "report", "conversion", "--from-stage", "mql", "--to-stage", "customer",
                    "--json").json()["rows"]
    assert (overall["entered"], overall["converted"], overall["rate"]) == (8000, 842, 0.1052)
    assert (overall["median_days"], overall["p90_days"]) == (want["median_days"], want["p90_days"])
    by_source = {row["group"]: row for row in cli(
        "--playbook", playbook, "report", "conversion", "--from-stage", "mql", "--to-stage", "customer",
        "--by", "source", "--json").json()["rows"]}
    assert {g: (r["entered"], r["converted"]) for g, r in by_source.items()} == {
        origin: (n, want["converted"][origin]) for origin, n in want["entered"].items()}
    assert {g: r["rate"] for g, r in by_source.items() if g in ("paid_search", "organic_search", "social", "email")} \
        == {"paid_search": 0.123, "organic_search": 0.118, "social": 0.0556, "email": 0.0304}

    # The predictive score on origin and landing page, time-ordered (wins only: the playbook's 90-day horizon).
    report = cli("--playbook", playbook, "model", "evaluate", "--json").json()
    model, bayes = report["scores"]["model"], report["scores"]["naive_bayes"]
    print(f"\nOlist predictive score: {report['validation']['note']}; model {model}; naive Bayes {bayes}")
    assert report["validation"]["method"] == "time-ordered"
    assert (report["outcomes"], report["converted"]) == (8000, 842)
    assert report["rate"] == 0.1052 and report["validation"]["tested_on"] == 1634
    assert [f["name"] for f in report["features"]] == ["landing_page_id", "source"]
    assert model["roc_auc"] > bayes["roc_auc"] and model["roc_auc"] > 0.6
