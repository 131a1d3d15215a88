from datetime import UTC, datetime

import pytest

from leadrelay.activity.store import account_domain
from leadrelay.core.errors import InvalidInput
from leadrelay.lead.activities import Activity
from leadrelay.lead.identity import IdentityGraph
from leadrelay.lead.model import Lead
from leadrelay.lead.stages import Stage
from leadrelay.sales.service import normalise_domain

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def msg(kind="track", **ids):
    return Activity(source="t", message_id="m", type=kind, occurred_at=T0, received_at=T0, **ids)


def test_a_message_with_no_known_identity_creates_one_new_lead():
    graph = IdentityGraph(owners={})
    lead = graph.resolve(msg(anonymous_id="a1"))
    assert graph.new_leads == [lead] and graph.new_keys == {("anonymous", "a1"): lead}
    assert graph.resolve(msg(anonymous_id="a1")) is lead


def test_identifying_links_the_anonymous_id_user_id_and_email_to_one_lead():
    graph = IdentityGraph(owners={})
    anon = graph.resolve(msg(anonymous_id="a1"))
    same = graph.resolve(msg("identify", anonymous_id="a1", user_id="u1", email="ann@acme.io"))
    assert same is anon and set(graph.new_keys) == {("anonymous", "a1"), ("user", "u1"), ("email", "ann@acme.io")}


def test_two_stored_leads_named_by_one_message_merge_into_the_known_one_further_in_the_funnel():
    visitor = Lead(id=1)
    customer = Lead(id=2, email="ann@acme.io", stage=Stage.MQL)
    graph = IdentityGraph(owners={("anonymous", "a1"): visitor, ("email", "ann@acme.io"): customer})
    lead = graph.resolve(msg("identify", anonymous_id="a1", email="ann@acme.io"))
    assert lead is customer
    assert [(m.loser.id, m.survivor.id) for m in graph.merges] == [(1, 2)]
    assert graph.lead_for(visitor) is customer


def test_alias_merges_the_previous_id_into_the_user():
    old = Lead(id=7)
    user = Lead(id=9, user_id="u1")
    graph = IdentityGraph(owners={("anonymous", "old-anon"): old, ("user", "u1"): user})
    assert graph.resolve(msg("alias", user_id="u1", previous_id="old-anon")) is user
    assert [(m.loser.id, m.survivor.id) for m in graph.merges] == [(7, 9)]


def test_alias_with_an_unseen_previous_id_records_it_for_later():
    graph = IdentityGraph(owners={})
    lead = graph.resolve(msg("alias", user_id="u1", previous_id="p1"))
    assert graph.new_keys == {("user", "u1"): lead, ("anonymous", "p1"): lead}
    assert graph.resolve(msg(anonymous_id="p1")) is lead


def test_a_new_lead_merged_in_the_same_batch_is_never_stored():
    graph = IdentityGraph(owners={})
    a = graph.resolve(msg(anonymous_id="a1"))
    b = graph.resolve(msg(user_id="u1", email="b@x.io"))
    merged = graph.resolve(msg(anonymous_id="a1", user_id="u1"))
    assert graph.new_leads == [merged] and graph.merges == []
    assert graph.lead_for(a) is merged and graph.lead_for(b) is merged


@pytest.mark.parametrize(("typed", "stored"), [
    ("acme.io", "acme.io"), ("https://www.Acme.io/", "acme.io"),
    ("M\u00fcller.de", "xn--mller-kva.de"), ("https://www.m\u00fcller.de/kontakt", "xn--mller-kva.de"),
    ("xn--mller-kva.de", "xn--mller-kva.de")])
def test_a_company_domain_typed_by_hand_is_stored_in_the_form_group_calls_and_addresses_give(typed, stored):
    assert normalise_domain(typed) == stored
    assert account_domain({"website": typed}) == stored


@pytest.mark.parametrize("typed", ["xn--zz.de", "not a domain", "ann@acme.io"])
def test_a_company_domain_that_is_not_one_is_refused(typed):
    with pytest.raises(InvalidInput, match="is not a company domain like acme.io"):
        normalise_domain(typed)
