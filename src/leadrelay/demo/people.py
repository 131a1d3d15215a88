"""Who visits the Acme Analytics demo site: personas, names, titles, companies, countries,
and how they arrive.

Used by `leadrelay.demo.stream`. Everything here is either a constant table or
a function drawing from a caller-supplied `random.Random`, so the stream stays
reproducible from its seed.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "James",
    "Mia", "Lucas", "Amelia", "Mateo", "Harper", "Ethan", "Evelyn", "Henry", "Abigail", "Jack",
    "Emily", "Daniel", "Ella", "Samuel", "Grace", "David", "Chloe", "Joseph", "Zoe", "Owen",
    "Hannah", "Leo", "Nora", "Isaac", "Lily", "Aaron", "Freya", "Felix", "Ingrid", "Lars",
    "Sofie", "Jonas", "Clara", "Lukas", "Marie", "Hugo", "Camille", "Thomas", "Priya", "Arjun",
    "Wei", "Mei", "Carlos", "Ana", "Tunde", "Amara", "Siobhan", "Ciaran", "Aroha", "Nikolai",
)

LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martinez",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson",
    "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts", "Murphy",
    "O'Brien", "Kelly", "Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois",
    "Laurent", "Bernard", "de Vries", "Jansen", "Bakker", "Lindqvist", "Johansson", "Nielsen",
    "Hansen", "Patel", "Sharma", "Chen", "Wang", "Silva", "Okafor", "Ivanov", "Ngata",
)

# Titles by persona: the playbook scores economic buyers highest, practitioners next,
# and treats the "other" titles as poor fit.
ECONOMIC_TITLES = (
    "VP Marketing", "Head of Revenue Operations", "Chief Revenue Officer",
    "Director of Sales", "Founder & CEO",
)
PRACTITIONER_TITLES = (
    "Marketing Operations Manager", "Data Analyst", "Growth Marketer", "Sales Ops Specialist",
)
OTHER_TITLES = ("Student", "Intern", "Software Engineer", "Recruiter")

INDUSTRIES = (
    "Software", "Financial Services", "Healthcare", "Retail", "Manufacturing",
    "Education", "Media", "Logistics", "Government",
)
_INDUSTRY_WEIGHTS = (30, 14, 11, 10, 10, 7, 8, 6, 4)  # analytics buyers skew to software

_COMPANY_PREFIXES = (
    "Northwind", "Bluepeak", "Ironbridge", "Silverline", "Brightwater", "Redwood", "Clearpath",
    "Stonegate", "Oakridge", "Lumen", "Harbor", "Summit", "Evergreen", "Granite", "Copperleaf",
    "Meridian", "Foxglove", "Tidewater", "Highland", "Juniper", "Keystone", "Larkspur", "Maple",
    "Nimbus", "Orchard", "Pinecrest", "Riverstone", "Sable", "Thistle", "Vantage", "Willow",
    "Yellowfin", "Zephyr", "Alder", "Beacon", "Cobalt", "Driftwood", "Ember", "Falcon",
    "Glacier", "Hawthorne", "Indigo", "Jasper", "Kestrel", "Lighthouse", "Marble", "Northstar",
    "Onyx", "Polaris", "Quill",
)
_COMPANY_SUFFIXES = {
    "Software": ("Labs", "Systems", "Cloud", "Software", "Data"),
    "Financial Services": ("Capital", "Financial", "Bank", "Payments"),
    "Healthcare": ("Health", "Medical", "Care", "Clinics"),
    "Retail": ("Retail", "Goods", "Outfitters", "Market"),
    "Manufacturing": ("Manufacturing", "Industries", "Works", "Components"),
    "Education": ("Learning", "Academy", "College", "Education"),
    "Media": ("Media", "Studios", "Publishing", "Broadcasting"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Transport"),
    "Government": ("Council", "Agency", "Authority"),
}

WEBMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
_WEBMAIL_WEIGHTS = (55, 12, 14, 10, 9)

COMPETITORS = (("Rivalytics", "rivalytics.com", "US"), ("FunnelForge", "funnelforge.io", "GB"))

SERVED_COUNTRIES = ("US", "CA", "GB", "IE", "DE", "FR", "NL", "SE", "DK", "AU", "NZ")
_SERVED_WEIGHTS = (40, 6, 12, 3, 9, 6, 5, 3, 2, 5, 2)
UNSERVED_COUNTRIES = ("BR", "IN", "RU", "NG", "CN", "MX", "ID")
_UNSERVED_WEIGHTS = (4, 5, 2, 2, 2, 2, 1)
UNSERVED_SHARE = 0.08

# Only names pycountry resolves, so a failed lookup downstream is a real bug, not our
# spelling. Russia is left out on purpose: pycountry knows it only as "Russian Federation".
COUNTRY_NAMES = {
    "US": "United States", "CA": "Canada", "GB": "United Kingdom", "IE": "Ireland",
    "DE": "Germany", "FR": "France", "NL": "Netherlands", "SE": "Sweden", "DK": "Denmark",
    "AU": "Australia", "NZ": "New Zealand", "BR": "Brazil", "IN": "India", "NG": "Nigeria",
    "CN": "China", "MX": "Mexico", "ID": "Indonesia",
}
_DIAL_CODES = {
    "US": "1", "CA": "1", "GB": "44", "IE": "353", "DE": "49", "FR": "33", "NL": "31",
    "SE": "46", "DK": "45", "AU": "61", "NZ": "64", "BR": "55", "IN": "91", "RU": "7",
    "NG": "234", "CN": "86", "MX": "52", "ID": "62",
}
_TLDS = {"GB": ".co.uk", "DE": ".de", "FR": ".fr", "NL": ".nl", "AU": ".com.au", "SE": ".se",
         "DK": ".dk", "IE": ".ie", "NZ": ".co.nz", "BR": ".com.br", "IN": ".in"}

USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/128.0.0.0 Mobile Safari/537.36",
)
LOCALES = ("en-US", "en-US", "en-US", "en-GB", "de-DE", "fr-FR", "nl-NL", "en-AU", "sv-SE")


# -- personas: who a visitor is decides how they browse, convert and read email ----------
PERSONAS = ("buyer", "practitioner", "job_seeker", "student", "competitor", "casual")
PERSONA_SHARES = (12, 22, 10, 8, 1, 47)  # percent of visitors
SESSION_ALPHA = dict(buyer=.9, practitioner=1.0, job_seeker=1.2, student=1.3, competitor=1.1, casual=1.4)
IDENTIFY_P = dict(buyer=.40, practitioner=.35, job_seeker=.08, student=.30, competitor=.65, casual=.18)
WEBMAIL_P = dict(buyer=.03, practitioner=.05, job_seeker=.4, student=.55, competitor=0, casual=.10)
RECONVERT_P = dict(buyer=.03, practitioner=.03, job_seeker=.005, student=.01, competitor=.05, casual=.01)
EMAIL_ENGAGEMENT = dict(buyer=(.45, .35), practitioner=(.38, .25), job_seeker=(.15, .05),
                        student=(.2, .1), competitor=(.3, .1), casual=(.22, .12))  # (open, click|open)
ATTEND_P = dict(buyer=.55, practitioner=.5)  # others .35
# Weights over (Newsletter Subscribed, Guide Downloaded, Webinar Registered, Trial Started).
CONVERSION_WEIGHTS = dict(
    buyer=(.10, .35, .30, .25), practitioner=(.2, .3, .2, .3), job_seeker=(.8, .2, 0, 0),
    student=(.25, .65, .1, 0), casual=(.5, .3, .2, 0), competitor=(0, .6, .2, .2))
# Hand-raising follows the title, not the persona: casual readers can be buyers too.
HAND_RAISE_P = {**{t: .06 for t in ECONOMIC_TITLES}, **{t: .015 for t in PRACTITIONER_TITLES}}  # others .005


def title_for(rng: random.Random, persona: str) -> str:
    """A job title typical of `persona` (competitor staff are buyers or practitioners)."""
    if persona == "buyer" or (persona == "competitor" and rng.random() < 0.5):
        return rng.choice(ECONOMIC_TITLES)
    if persona in ("practitioner", "competitor"):
        return rng.choice(PRACTITIONER_TITLES)
    if persona == "job_seeker":
        return rng.choice(("Software Engineer", "Software Engineer", "Data Analyst", "Intern"))
    if persona == "student":
        return rng.choice(("Student", "Student", "Intern"))
    r = rng.random()
    return rng.choice(ECONOMIC_TITLES if r < .25 else PRACTITIONER_TITLES if r < .65 else OTHER_TITLES)


# What each persona reads, as weights over these site sections (see stream._SECTIONS).
PAGE_SECTIONS = ("home", "product", "feature", "pricing", "careers", "job", "blog", "case", "compare", "docs",
                 "webinar")
PAGE_WEIGHTS = {
    "buyer":        (1, 3, 3, 4, .1, 0, 1.5, 3, 2.5, .5, 1.5),
    "practitioner": (1, 2, 3, 1.5, .1, 0, 3, 1, 1, 4, 1.5),
    "job_seeker":   (1.5, 1, .3, .2, 5, 6, .8, .1, 0, .3, 0),
    "student":      (1, .8, .5, .2, .8, .5, 4, .3, .2, 2, .8),
    "casual":       (3, 1.5, 1, 1, .5, .3, 4, .5, .5, .5, .3),
    "competitor":   (1, 3, 3, 5, 0, 0, .5, 2, 3, 2, .5),
}
SALES_MESSAGES = (
    "We're evaluating attribution tools for a team of {n}. Can we talk pricing?",
    "Looking to replace our spreadsheets before Q4 planning. Who can walk us through Acme?",
    "Need SSO and a DPA for procurement. Is there an enterprise plan for ~{n} employees?",
)

# -- where and when visitors arrive ---------------------------------------------------------
# UTC start hours: European afternoons overlap American mornings, nights are quiet.
_HOUR_CUM = list(accumulate((1, 1, .5, .5, .5, .5, 1, 2, 4, 6, 7, 7, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1.5)))
_PAID = (("google", "cpc", "https://www.google.com/"), ("linkedin", "paid-social", "https://www.linkedin.com/"),
         ("bing", "cpc", "https://www.bing.com/"), ("capterra", "ppc", "https://www.capterra.com/"))
_PAID_CAMPAIGNS = ("brand-search", "analytics-buyers-q3", "retargeting-pricing", "revops-webinar-promo")
_IP_FIRST_OCTETS = (23, 45, 63, 81, 98, 104, 142, 172, 185, 203)


def start_hour(rng: random.Random) -> int:
    """UTC hour a session starts."""
    return bisect(_HOUR_CUM, rng.random() * _HOUR_CUM[-1])


def make_ip(rng: random.Random) -> str:
    """A public-looking IPv4 address (first octets avoid private and reserved ranges)."""
    return f"{rng.choice(_IP_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def traffic_source(rng: random.Random) -> tuple[dict | None, str]:
    """(UTM campaign or None, referrer) for a session: 30% direct, 32% organic search,
    18% paid with UTM tags, 10% review sites, 10% social."""
    r = rng.random()
    if r < 0.30:
        return None, ""
    if r < 0.62:
        return None, rng.choice(("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"))
    if r < 0.80:
        source, medium, referrer = rng.choice(_PAID)
        campaign = {"name": rng.choice(_PAID_CAMPAIGNS), "source": source, "medium": medium}
        if medium == "cpc":
            campaign["term"] = rng.choice(("b2b analytics software", "marketing attribution tool"))
        return campaign, referrer
    if r < 0.90:
        return None, rng.choice(("https://www.g2.com/", "https://www.capterra.com/"))
    return None, rng.choice(("https://www.linkedin.com/", "https://t.co/", "https://news.ycombinator.com/"))


@dataclass(slots=True)
class Company:
    """A prospect account; several visitors may work there."""

    name: str
    slug: str
    domain: str
    industry: str
    employees: int
    country: str


@dataclass(slots=True)
class Person:
    """What a visitor tells us about themselves when they fill in a form."""

    first_name: str
    last_name: str
    title: str
    email: str
    country: str
    company: Company | None  # None for webmail users who leave "company" blank
    work_email: bool
    phone: str


def weighted(rng: random.Random, items: Sequence[Any], cum: Sequence[float]):
    """Pick from `items` with precomputed cumulative weights (faster than rng.choices)."""
    return items[bisect(cum, rng.random() * cum[-1])]


_INDUSTRY_CUM = list(accumulate(_INDUSTRY_WEIGHTS))
_WEBMAIL_CUM = list(accumulate(_WEBMAIL_WEIGHTS))
_SERVED_CUM = list(accumulate(_SERVED_WEIGHTS))
_UNSERVED_CUM = list(accumulate(_UNSERVED_WEIGHTS))


def pick_country(rng: random.Random, unserved_share: float = UNSERVED_SHARE) -> str:
    """An ISO alpha-2 code; `unserved_share` of draws fall outside the served markets."""
    if rng.random() < unserved_share:
        return weighted(rng, UNSERVED_COUNTRIES, _UNSERVED_CUM)
    return weighted(rng, SERVED_COUNTRIES, _SERVED_CUM)


def country_as_sent(rng: random.Random, code: str) -> str:
    """How a form reports the country: mostly the code, ~10% a full English name."""
    if rng.random() < 0.10 and code in COUNTRY_NAMES:
        return COUNTRY_NAMES[code]
    return code


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def make_companies(rng: random.Random, count: int) -> list[Company]:
    """`count` distinct prospect companies, sizes 1..20,000 employees (log-triangular, mode ~60)."""
    out: list[Company] = []
    seen_names: set[str] = set()  # membership only; never iterated, so hash order is irrelevant
    while len(out) < count:
        industry = weighted(rng, INDUSTRIES, _INDUSTRY_CUM)
        name = f"{rng.choice(_COMPANY_PREFIXES)} {rng.choice(_COMPANY_SUFFIXES[industry])}"
        if name in seen_names:
            if len(seen_names) >= len(_COMPANY_PREFIXES) * 20:
                name = f"{name} {len(out)}"  # pool exhausted at very large visitor counts
            else:
                continue
        seen_names.add(name)
        country = pick_country(rng)
        slug = _slugify(name)
        tld = ".io" if industry == "Software" and rng.random() < 0.3 else _TLDS.get(country, ".com")
        employees = max(1, min(20_000, round(10 ** rng.triangular(0.0, 4.31, 1.8))))
        out.append(Company(name, slug, slug.replace("-", "") + tld, industry, employees, country))
    return out


def competitor_companies() -> list[Company]:
    """The two competitors whose staff snoop on the site."""
    return [Company(n, _slugify(n), d, "Software", 250, c) for n, d, c in COMPETITORS]


def make_phone(rng: random.Random, country: str) -> str:
    """A plausible E.164-style number (US/CA numbers use the fictional 555-01xx block)."""
    code = _DIAL_CODES.get(country, "1")
    if code == "1":
        return f"+1 {rng.randrange(201, 990)} 555 01{rng.randrange(100):02d}"
    return f"+{code} {rng.randrange(10, 99)} {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"


def _ascii_lower(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())  # "O'Brien" -> "obrien", "de Vries" -> "devries"


def make_person(
    rng: random.Random,
    title: str,
    company: Company | None,
    webmail: bool,
    taken: set[str],
    unserved_share: float = UNSERVED_SHARE,
) -> Person:
    """A person with a unique email: `first.last@<company domain>`, or a webmail address.

    `company` may be set with `webmail=True`: people do sign up with Gmail while working
    somewhere. `taken` collects issued emails (membership only) to keep them unique.
    """
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    f, la = _ascii_lower(first), _ascii_lower(last)
    if webmail:
        domain = weighted(rng, WEBMAIL_DOMAINS, _WEBMAIL_CUM)
        style = rng.random()
        local = f"{f}.{la}" if style < 0.5 else f"{f}{la}{rng.randrange(1, 99)}" if style < 0.85 else f"{f[0]}{la}"
        # A webmail user's location is independent of any employer they mention.
        country = pick_country(rng, unserved_share)
    else:
        assert company is not None
        domain, local, country = company.domain, f"{f}.{la}", company.country
    email, n = f"{local}@{domain}", 2
    while email in taken:
        email, n = f"{local}{n}@{domain}", n + 1
    taken.add(email)
    return Person(first, last, title, email, country, company, not webmail, make_phone(rng, country))


class Directory:
    """The companies visitors work at, and the people who fill in forms (unique emails)."""

    def __init__(self, rng: random.Random, companies: int) -> None:
        self.rng = rng
        self.companies = make_companies(rng, companies)
        # A 10,000-person company sends more visitors than a 10-person one, but not 1,000x more.
        self.cum = list(accumulate(c.employees ** 0.4 for c in self.companies))
        self.schools = [c for c in self.companies if c.industry == "Education"]
        self.competitors = competitor_companies()
        self.taken: set[str] = set()

    def new_person(self, persona: str) -> Person:
        """Someone of `persona` identifying for the first time."""
        rng = self.rng
        title = title_for(rng, persona)
        if persona == "competitor":
            return make_person(rng, title, rng.choice(self.competitors), False, self.taken)
        webmail = rng.random() < WEBMAIL_P[persona]
        company = weighted(rng, self.companies, self.cum)
        if title == "Student" and self.schools:
            company = rng.choice(self.schools)
        if webmail and (persona in ("student", "job_seeker") or rng.random() < 0.5):
            company = None
        return make_person(rng, title, company, webmail, self.taken)


def person_traits(rng: random.Random, p: Person, phone: bool) -> dict:
    """Identify traits as a form would send them: email always, the rest usually."""
    traits: dict = {"email": p.email}
    if rng.random() < 0.95:
        traits.update(first_name=p.first_name, last_name=p.last_name)
    if rng.random() < 0.85:
        traits["title"] = p.title
    if p.company and rng.random() < (0.9 if p.work_email else 0.5):
        traits["company"] = p.company.name
        if rng.random() < 0.7:
            traits["employees"] = p.company.employees
        if rng.random() < 0.6:
            traits["industry"] = p.company.industry
    if rng.random() < 0.85:
        traits["country"] = country_as_sent(rng, p.country)
    if phone:
        traits["phone"] = p.phone
    return traits


def company_traits(rng: random.Random, c: Company, plan: str) -> dict:
    """Group-call traits for an account."""
    return {"name": c.name, "domain": c.domain, "industry": c.industry, "employees": c.employees,
            "country": country_as_sent(rng, c.country), "plan": plan}
