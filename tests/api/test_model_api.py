"""`/api/model` and a lead's `predicted`, on both databases: the state before any model, too few outcomes refused
with the counts, training on demand, the versions kept, and a lead's probability beside its rule scores."""

from __future__ import annotations

import random

import pytest
import yaml

from leadrelay.activity.service import ingest
from leadrelay.playbook.loader import parse_playbook
from leadrelay.predict import service as predict
from tests.api.conftest import bearer, playbook_with_zoe
from tests.api.test_web_pages import sign_in, web  # noqa: F401 - `web` is a fixture
from tests.messages import identify, numbered


@pytest.fixture
def playbook():
    data = yaml.safe_load(playbook_with_zoe().text)
    data["predict"] = {"min_outcomes": 100, "min_per_class": 30}
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "api-model-playbook.yaml")


def add_outcomes(app, count, seed=5):
    """`count` leads whose plan makes them likely to convert or not, with their outcomes."""
    rng = random.Random(seed)
    messages, found = [], []
    for n in range(count):
        plan = rng.choice(["enterprise", "team", "free"])
        messages.append(identify(user=f"m{n}", email=f"m{n}@firm{n}.example", plan=plan, when=app.clock()))
        chance = {"enterprise": 0.75, "team": 0.4, "free": 0.1}[plan]
        found.append((f"m{n}", None, rng.random() < chance, app.clock()))
    ingest(app, numbered(messages))
    predict.record_outcomes(app, found, source="test")


def test_training_on_demand_keeps_versions_and_shows_each_lead_its_probability(app, client, tokens):
    marketing = bearer(tokens.marketing)
    empty = client.get("/api/model", headers=marketing).json()
    assert empty["model"] is None and empty["versions"] == [] and empty["readiness"]["outcomes"] == 0

    add_outcomes(app, 40)
    refused = client.post("/api/model/train", headers=marketing)
    assert refused.status_code == 422 and refused.json()["code"] == "not_enough_data"
    assert "the store has 40" in refused.json()["message"]
    assert client.get("/api/model", headers=marketing).json()["model"] is None  # nothing stored

    add_outcomes(app, 160, seed=6)
    trained = client.post("/api/model/train", headers=marketing)
    assert trained.status_code == 201, trained.text
    body = trained.json()
    assert body["version"] == 1 and body["scored"] >= 160
    assert body["report"]["scores"]["model"]["roc_auc"] > 0.6

    evaluated = client.post("/api/model/evaluate", headers=marketing).json()
    assert evaluated["scores"] == body["report"]["scores"]  # the same outcomes, the same figures

    state = client.get("/api/model", headers=bearer(tokens.manager)).json()
    assert state["model"]["version"] == 1 and state["model"]["active"] and state["readiness"]["shortfall"] is None
    assert [v["version"] for v in state["versions"]] == [1]
    assert client.get("/api/model/versions/1", headers=marketing).json()["model"]["version"] == 1
    missing = client.get("/api/model/versions/9", headers=marketing)
    assert missing.status_code == 404 and missing.json()["message"] == "no model version 9 (versions: 1)"

    lead = client.get("/api/leads/m1@firm1.example", headers=bearer(tokens.admin)).json()
    assert lead["predicted"]["model_version"] == 1 and 0 < lead["predicted"]["probability"] < 1
    assert "fit_score" in lead and "engagement_score" in lead
    listed = client.get("/api/leads", params={"limit": 500}, headers=bearer(tokens.admin)).json()["leads"]
    [row] = [row for row in listed if row["id"] == lead["id"]]  # the list has it too (a user trial missed it)
    assert row["predicted"] == lead["predicted"]["probability"]


def test_the_lead_page_shows_the_probability_beside_the_scores(app, web, tokens):  # noqa: F811 - the fixture
    add_outcomes(app, 200)
    predict.train(app)
    sign_in(web, tokens.admin)
    lead_id = lead_column(app, "m3@firm3.example")
    page = web.get(f"/leads/{lead_id}").text
    assert "<dt>Predicted</dt>" in page and "likely to convert" in page and "(model version 1" in page


def lead_column(app, email):
    from sqlalchemy import select

    from leadrelay.storage import tables as t

    with app.engine.connect() as conn:
        return conn.scalar(select(t.leads.c.id).where(t.leads.c.email == email))
