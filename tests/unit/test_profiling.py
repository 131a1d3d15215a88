"""Progressive profiling as a pure function of a lead and the compiled playbook: which fields to ask next, ranked
by what knowing them could do."""

from datetime import UTC, datetime

from leadrelay.lead.activities import Activity
from leadrelay.lead.engine import Outcome, process
from leadrelay.lead.model import Lead
from leadrelay.lead.profiling import form_field, next_fields
from leadrelay.lead.stages import Stage
from leadrelay.playbook.loader import parse_playbook

T0 = datetime(2026, 10, 1, tzinfo=UTC)

RULES = parse_playbook("""
name: profiling test
qualification:
  served_countries: [US, DE]
  company_size: {min: 20}
  rules:
    - {id: students, when: {traits.title: {matches: student}}, reason: students are not buyers}
scoring:
  fit:
    rules:
      - {id: sweet_spot, when: {traits.employees: {">=": 200}}, points: 30}
      - {id: saas, when: {traits.industry: software}, points: 10}
      - {id: no_budget_owner, when: {traits.department: hr}, points: -5}
      - {id: known, when: {email: {exists: true}}, points: 20}
  engagement:
    rules:
      - {id: pricing, when: {path: /pricing}, points: 40}
stages:
  mql: {owner: sdr, entry: {all: [{fit: {">=": 45}}, {engagement: {">=": 30}}]}}
""", "profiling.yaml").rules


def lead_with(**traits) -> Lead:
    lead = Lead()
    process(lead, [Activity(source="t", message_id="m1", type="identify", occurred_at=T0, received_at=T0,
                            user_id="u1", anonymous_id=None, email="ann@acme.io", name=None, properties={},
                            traits={"email": "ann@acme.io"} | traits)], RULES, Outcome())
    return lead


def test_a_field_path_maps_to_the_form_field_that_supplies_it():
    assert [form_field(p) for p in ("traits.employees", "account.industry", "persona", "email_domain", "country",
                                    "fit", "path", "traits.address.city")] == [
        "employees", "industry", "title", "email", "country", None, None, "address"]


def test_fields_that_could_disqualify_come_first_then_those_that_could_move_the_stage_then_by_points():
    lead = lead_with(title="VP Sales")  # fit 20 (known); country, employees, industry, department unknown
    asks = next_fields(lead, RULES, engagement=35.0)
    assert [(a.field, a.could, a.points) for a in asks] == [
        ("employees", "disqualify", 30.0),  # company size, and the sweet spot's 30 points
        ("country", "disqualify", 0.0),
        ("industry", None, 10.0),  # 20 + 10 is not 45: it cannot make an MQL alone
        ("department", None, 5.0),
    ]
    assert asks[0].why == ["disqualifier company_size: company size is outside our ICP", "fit rule sweet_spot (+30)"]


def test_a_field_whose_points_alone_could_make_an_mql_says_so():
    lead = lead_with(title="VP Sales", country="US", employees=50)  # fit 20, engagement high enough
    assert lead.stage is Stage.SUBSCRIBER
    asks = next_fields(lead, RULES, engagement=35.0)
    assert [(a.field, a.could) for a in asks] == [("industry", None), ("department", None)]  # 30 < 45
    lead.scoring.fit = 40.0  # say other rules gave more: 40 + 10 reaches 45
    assert [(a.field, a.could) for a in next_fields(lead, RULES, engagement=35.0)][0] == ("industry", "reach mql")
    assert next_fields(lead, RULES, engagement=5.0)[0].could is None  # engagement is still short: fit alone cannot


def test_known_fields_are_never_asked_and_the_gate_comes_last():
    lead = lead_with(title="VP Sales", country="US", employees=500, industry="software", department="sales")
    assert next_fields(lead, RULES, engagement=0.0) == []
    asks = next_fields(lead, RULES, engagement=0.0, gate=[("budget", "bant"), ("timeline", "bant")])
    assert [(a.field, a.could, a.why) for a in asks] == [
        ("budget", "pass the SQL gate", ["the SQL gate reads it (bant)"]),
        ("timeline", "pass the SQL gate", ["the SQL gate reads it (bant)"])]


def test_a_new_visitor_is_asked_what_the_playbook_reads_most():
    assert [(a.field, a.could) for a in next_fields(Lead(), RULES, 0.0)] == [
        ("employees", "disqualify"), ("email", "disqualify"), ("country", "disqualify"), ("title", "disqualify"),
        ("industry", None), ("department", None)]
