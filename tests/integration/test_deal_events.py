"""Events out for every change a CRM keeps in sync: an opportunity opened, changed, won and lost, and a lead
becoming product-qualified, each through the outbox with its documented shape, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import select

from leadrelay.activity.service import ingest
from leadrelay.delivery.payloads import validate
from leadrelay.playbook.loader import parse_playbook, starter_text
from leadrelay.sales import service as opps
from leadrelay.storage.outbox_tables import outbox
from tests.integration.test_sales import converted
from tests.messages import numbered, track


@pytest.fixture
def playbook():
    data = yaml.safe_load(starter_text())
    data["notifications"] = {"webhooks": [{"id": "crm", "url": "http://127.0.0.1:9/hook",
                                           "secret_env": "LEADRELAY_TEST_HOOK"}]}
    return parse_playbook(yaml.safe_dump(data, sort_keys=False), "crm.yaml")


def payloads(app, *types):
    with app.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.payload).where(outbox.c.event_type.in_(types)).order_by(outbox.c.id))
        return [row.payload for row in rows]


def test_an_opportunitys_life_reaches_the_crm_with_what_changed(app, clock):
    _, ae, won = converted(app, 1, amount="12000")
    clock.advance(days=1)
    opps.move_opportunity(app, won, "proposal", rep=ae)
    opps.set_probability(app, won, 70, rep=ae)
    opps.win_opportunity(app, won, rep=ae)
    _, ae2, lost = converted(app, 2, amount="5000")
    opps.lose_opportunity(app, lost, "price", rep=ae2)
    found = payloads(app, "opportunity.opened", "opportunity.changed", "opportunity.won", "opportunity.lost")
    for body in found:
        validate(body)
    story = [(p["type"], p["data"]["opportunity"]["id"], p["data"]["changes"]) for p in found]
    assert [(kind, deal) for kind, deal, _ in story] == [
        ("opportunity.opened", won), ("opportunity.changed", won), ("opportunity.changed", won),
        ("opportunity.won", won), ("opportunity.opened", lost), ("opportunity.lost", lost)]
    assert story[1][2]["stage"][1] == "proposal" and story[2][2]["probability_override"] == [None, 70.0]
    won_body = found[3]["data"]
    assert won_body["opportunity"]["status"] == "won" and won_body["lead"]["stage"] == "customer"
    assert won_body["owner"]["id"] == ae and won_body["why"] == f"opportunity {won} won (user:{ae})"
    lost_body = found[5]["data"]
    assert (lost_body["reason"], lost_body["why"]) == ("price", f"opportunity {lost} lost: price (user:{ae2})")


def test_a_product_qualified_lead_reaches_the_crm_once(app, clock):
    email, _, _ = converted(app, 3)
    signals = [track("Trial Started", user="u3", when=clock()),
               track("Feature Used", user="u3", when=clock() + timedelta(minutes=5), properties={"feature": "alerts"})]
    ingest(app, numbered(signals), live=True)
    ingest(app, numbered([track("Trial Started", user="u3", when=clock() + timedelta(hours=1))]), live=True)
    [body] = payloads(app, "lead.pql")
    validate(body)
    assert body["data"]["signals"] == ["key_feature_used", "trial_started"]
    assert body["data"]["why"].startswith("product-qualified: key_feature_used, trial_started (all")
    assert Counter(p["type"] for p in payloads(app, "lead.pql")) == {"lead.pql": 1}
