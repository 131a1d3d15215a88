"""A value the playbook reads but cannot use is said, not silently ignored (issue 13, found trying the product:
`country: "Deutschland"` and `employees: "about 300"` were accepted and quietly read as nothing, so the served
countries and the company-size rules could not apply and nothing said why). A number sent as text is a number."""

from leadrelay.activity.service import ingest
from leadrelay.lead.queries import explain_lead
from leadrelay.sales.queries import next_fields_of
from tests.messages import identify, numbered


def test_a_number_sent_as_text_scores_like_the_number(app):
    ingest(app, numbered([identify(user="u-n", email="n@corp.example", title="VP Sales", employees=300),
                          identify(user="u-t", email="t@corp.example", title="VP Sales", employees="300")]))
    number, text = explain_lead(app, "n@corp.example"), explain_lead(app, "t@corp.example")
    assert text["fit_score"] == number["fit_score"]
    assert text["unreadable"] == [] and number["unreadable"] == []


def test_a_country_in_its_own_language_is_the_country(app):
    ingest(app, numbered([identify(user="u-de", email="de@corp.example", country="Deutschland")]))
    lead = explain_lead(app, "de@corp.example")
    assert lead["country"] == "DE" and lead["unreadable"] == []


def test_values_the_playbook_cannot_use_are_said_with_what_reads_them_and_asked_for_again(app):
    ingest(app, numbered([identify(user="u-x", email="x@corp.example", title="VP Sales", country="Germania",
                                   employees="about 300")]))
    lead = explain_lead(app, "x@corp.example")
    assert lead["country"] is None
    assert lead["unreadable"] == [
        "country 'Germania' is not a country LeadRelay knows (an ISO code or a name): the served countries and "
        "rules on country cannot use it",
        "traits.employees 'about 300' is not a number: fit rule company_size_sweet_spot, disqualifier company_size "
        "cannot use it"]
    assert "employees" in [ask["field"] for ask in next_fields_of(app, "x@corp.example")["fields"]]
