"""Seeded demo activity stream: a B2B SaaS site ("Acme Analytics") as Segment-spec messages.

`generate_demo_stream()` returns plain dicts shaped like the ones the Segment SDKs send
(analytics.js for browser events, analytics-python for email and webinar events), so the
demo exercises the real ingest path: identity stitching, dedup, late arrival, rejection.
Only the standard library and one `random.Random(seed)` are used, so a seed fixes the
stream exactly (no set or dict iteration order leaks into the output).

Distributions (per visitor unless stated):

* Personas: 12% economic buyers, 22% practitioners, 10% job seekers, 8% students,
  1% competitor staff, 47% casual readers. Persona drives page mix, identification,
  titles, email engagement and hand-raising.
* Sessions: min(30, Pareto(alpha)) per visitor, alpha 1.0 (buyers) to 1.6 (casual), so most
  come once or twice and a few come back dozens of times. Gaps are exponential with a
  per-visitor mean of 1-8 days; start hours peak 12:00-17:00 UTC; 70% of weekend visits
  move to Monday. Pages per session 1 + Exp(mean 2.5), capped at 15; dwell log-normal,
  median ~35 s.
* Traffic: 30% direct, 32% organic search, 18% paid (UTM in `context.campaign` and the page
  `search`, on the landing page only, as analytics.js does), 10% review sites, 10% social.
* Identification (~25% overall): buyers 40%, practitioners 35%, students 30%, competitors
  50%, casual 18%, job seekers 8%; via Newsletter Subscribed, Guide Downloaded, Webinar
  Registered or Trial Started, each preceded by an identify (email + traits). Earlier
  events keep only anonymousId; later ones carry userId ("usr_<n>") too. Identified people
  sometimes convert again (40% of forms re-send identify, 15% with a phone number).
* Sign-ups: ~12% webmail (mostly students and job seekers), ~2% competitor staff
  (rivalytics.com, funnelforge.io), ~8% unserved countries; the country trait is a full
  English name 10% of the time. Work emails are first.last@<company domain>. Companies:
  visitors/4 accounts, 1-20,000 employees (log-triangular, mode ~60); bigger ones send more
  people. 30% of identified people with a work email get a group call, and 60% of their
  later browser events carry `context.groupId`.
* Webinars: four, at 16%, 38%, 62% and 86% of the period; 35-55% of registrants attend.
* Email (server side, userId only): nurture mails at +1/+6/+13/+24 days after identifying
  plus a fortnightly newsletter; 15-45% opened and 5-35% of opens clicked, by persona; a
  click starts a UTM-tagged session. ~1.2% of addresses bounce; 2% of opens unsubscribe.
* Hand-raisers (~2-3% of identified, mostly economic buyers): Demo Requested (65%) or
  Contact Sales Submitted, with a phone number; 60% view /pricing 1-10 minutes before.
* Transport noise: ~2% of browser messages arrive 2 hours to 4 days late (sentAt is the
  late send, as after an offline queue flush); ~3% duplicates (identical, same messageId;
  90% within 5 minutes, the rest hours later); ~0.5% malformed (missing messageId,
  unknown type, timestamp "yesterday", traits as a list).
"""

from __future__ import annotations

import copy
import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterable

from leadrelay.services import demo_people as dp
from leadrelay.services.demo_people import Person, weighted

SITE = "https://www.acme-analytics.com"
FEATURES = ("dashboards", "attribution", "funnels", "data-warehouse-sync", "alerts", "forecasting")
BLOG_POSTS = (
    "multi-touch-attribution-explained", "b2b-funnel-benchmarks-2026", "what-is-a-data-stack",
    "pipeline-forecasting-101", "utm-naming-conventions", "revops-metrics-that-matter",
    "sql-for-marketers", "dashboard-design-tips",
)
CASE_STUDIES = (
    "northwind-labs-cuts-reporting-time", "bluepeak-financial-pipeline-visibility",
    "meridian-health-attribution", "summit-retail-forecasting",
)
COMPARISONS = ("rivalytics", "funnelforge", "spreadsheets", "in-house-bi")
DOCS = ("getting-started", "install-tracking", "warehouse-sync", "api-reference", "sso-setup")
JOBS = ("senior-backend-engineer", "account-executive-emea", "product-designer",
        "customer-success-manager", "data-engineer")
WEBINARS = (("attribution-masterclass", 0.16), ("revops-dashboards-live", 0.38),
            ("forecasting-with-confidence", 0.62), ("data-stack-for-marketers", 0.86))
GUIDES = ("comparison-guide", "roi-calculator", "ebook-data-stack")
TRACK_EVENTS = (
    "Newsletter Subscribed", "Guide Downloaded", "Webinar Registered", "Webinar Attended",
    "Email Opened", "Email Clicked", "Demo Requested", "Contact Sales Submitted",
    "Trial Started", "Email Unsubscribed", "Email Bounced",
)

# section -> (path prefix or exact path, slugs or None, page name)
_SECTIONS = {
    "home": ("/", None, "Home"), "product": ("/product", None, "Product"),
    "feature": ("/product/", FEATURES, "Product Feature"), "pricing": ("/pricing", None, "Pricing"),
    "careers": ("/careers", None, "Careers"), "job": ("/careers/", JOBS, "Job Posting"),
    "blog": ("/blog/", BLOG_POSTS, "Blog Post"), "case": ("/case-studies/", CASE_STUDIES, "Case Study"),
    "compare": ("/compare/", COMPARISONS, "Comparison"), "docs": ("/docs/", DOCS, "Docs"),
    "webinar": ("/webinars/", tuple(w for w, _ in WEBINARS), "Webinar"),
}
_SECTION_KEYS = tuple(_SECTIONS)
_PAGE_WEIGHTS = {  # in _SECTION_KEYS order
    "buyer":        (1, 3, 3, 4, .1, 0, 1.5, 3, 2.5, .5, 1.5),
    "practitioner": (1, 2, 3, 1.5, .1, 0, 3, 1, 1, 4, 1.5),
    "job_seeker":   (1.5, 1, .3, .2, 5, 6, .8, .1, 0, .3, 0),
    "student":      (1, .8, .5, .2, .8, .5, 4, .3, .2, 2, .8),
    "casual":       (3, 1.5, 1, 1, .5, .3, 4, .5, .5, .5, .3),
    "competitor":   (1, 3, 3, 5, 0, 0, .5, 2, 3, 2, .5),
}
_CONVERSIONS = ("Newsletter Subscribed", "Guide Downloaded", "Webinar Registered", "Trial Started")
_TRIGGER_CUM = {p: list(accumulate(w)) for p, w in dp.CONVERSION_WEIGHTS.items()}
_PERSONA_CUM = list(accumulate(dp.PERSONA_SHARES))
_HOURS = tuple(range(24))
_HOUR_CUM = list(accumulate((1, 1, .5, .5, .5, .5, 1, 2, 4, 6, 7, 7, 8, 9, 10, 10, 9, 8, 6, 5, 4, 3, 2, 1.5)))
_NURTURE = (("nurture-welcome", 1, "product"), ("nurture-roi", 6, "feature"),
            ("nurture-case-studies", 13, "case"), ("nurture-pricing", 24, "pricing"))
_PAID = (("google", "cpc", "https://www.google.com/"), ("linkedin", "paid-social", "https://www.linkedin.com/"),
         ("bing", "cpc", "https://www.bing.com/"), ("capterra", "ppc", "https://www.capterra.com/"))
_PAID_CAMPAIGNS = ("brand-search", "analytics-buyers-q3", "retargeting-pricing", "revops-webinar-promo")
_SALES_MESSAGES = (
    "We're evaluating attribution tools for a team of {n}. Can we talk pricing?",
    "Looking to replace our spreadsheets before Q4 planning. Who can walk us through Acme?",
    "Need SSO and a DPA for procurement. Is there an enterprise plan for ~{n} employees?",
)


@dataclass(slots=True)
class _Visitor:
    anon: str
    persona: str
    ip: str
    ua: str
    locale: str
    user_id: str | None = None
    person: Person | None = None
    group_id: str | None = None
    identified_at: float = 0.0
    done: list[str] = field(default_factory=list)  # conversion events and guides so far
    page: tuple[str, str, str] = ("/", "Home", "")  # current path, name, title
    referrer: str = ""
    search: str = ""
    campaign: dict | None = None


class _Stream:
    """Generation state; times are float seconds since `start` until formatted."""

    def __init__(self, seed: int, visitors: int, start: datetime, days: int) -> None:
        self.rng = rng = random.Random(seed)
        self.start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self.span = days * 86400.0
        self.weekday0 = self.start.weekday()
        self.records: list[list[Any]] = []  # [arrival, seq, timestamp, message]
        self.companies = dp.make_companies(rng, max(20, visitors // 4))
        # sqrt-ish weighting: a 10,000-person company sends more visitors than a 10-person
        # one, but not a thousand times more.
        self.company_cum = list(accumulate(c.employees ** 0.4 for c in self.companies))
        self.schools = [c for c in self.companies if c.industry == "Education"]
        self.competitors = dp.competitor_companies()
        self.emails_taken: set[str] = set()
        self.next_user = 10001
        self.page_cum = {p: list(accumulate(w)) for p, w in _PAGE_WEIGHTS.items()}
        self.webinars = [(slug, int(frac * days) * 86400.0 + 16 * 3600) for slug, frac in WEBINARS]
        self.newsletters = [(d * 86400.0 + 15 * 3600, f"newsletter-{(self.start + timedelta(days=d)):%Y-%m-%d}")
                            for d in range(6, days, 14)]

    # -- formatting -------------------------------------------------------------------
    def _iso(self, t: float) -> str:
        return (self.start + timedelta(seconds=t)).isoformat(timespec="milliseconds")[:-6] + "Z"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _emit(self, t: float, msg: dict[str, Any], max_lag: float = 2.0) -> None:
        lag = self.rng.uniform(0.05, max_lag)  # SDK batching delay between event and send
        msg["timestamp"], msg["sentAt"] = self._iso(t), self._iso(t + lag)
        self.records.append([t + lag, len(self.records), t, msg])

    def _browser(self, v: _Visitor, t: float, msg: dict[str, Any]) -> None:
        path, _, title = v.page
        ctx: dict[str, Any] = {
            "ip": v.ip, "userAgent": v.ua, "locale": v.locale,
            "library": {"name": "analytics.js", "version": "next-1.72.0"},
            "page": {"path": path, "referrer": v.referrer, "search": v.search,
                     "title": title, "url": SITE + path + v.search},
        }
        if v.campaign:
            ctx["campaign"] = dict(v.campaign)
        if v.group_id and self.rng.random() < 0.6:
            ctx["groupId"] = v.group_id
        head = {"type": msg.pop("type"), "messageId": self._uuid(), "anonymousId": v.anon}
        if v.user_id:
            head["userId"] = v.user_id
        self._emit(t, {**head, **msg, "context": ctx})

    def _server(self, v: _Visitor, t: float, event: str, props: dict[str, Any]) -> None:
        if t < self.span:
            self._emit(t, {"type": "track", "messageId": self._uuid(), "userId": v.user_id,
                           "event": event, "properties": props,
                           "context": {"library": {"name": "analytics-python", "version": "2.3.3"}}}, 5.0)

    # -- browsing ---------------------------------------------------------------------
    def _page(self, section: str) -> tuple[str, str, str]:
        base, slugs, name = _SECTIONS[section]
        if slugs is None:
            return base, name, ("Acme Analytics | B2B analytics for revenue teams" if base == "/"
                                else f"{name} | Acme Analytics")
        slug = self.rng.choice(slugs)
        return base + slug, name, f"{slug.replace('-', ' ').title()} | Acme Analytics"

    def _page_view(self, v: _Visitor, t: float, page: tuple[str, str, str], referrer: str,
                   campaign: dict | None = None) -> None:
        v.page, v.referrer, v.campaign = page, referrer, campaign
        v.search = "" if not campaign else (
            f"?utm_source={campaign['source']}&utm_medium={campaign['medium']}&utm_campaign={campaign['name']}")
        path, name, title = page
        self._browser(v, t, {"type": "page", "name": name, "properties": {
            "path": path, "referrer": referrer, "search": v.search, "title": title,
            "url": SITE + path + v.search}})

    def _traffic(self) -> tuple[dict | None, str]:
        rng, r = self.rng, self.rng.random()
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

    def _session_times(self, n: int) -> list[float]:
        rng, out = self.rng, []
        t = rng.random() * self.span
        # Frequent returners come back more often rather than running past the period end.
        gap = max(3600.0, (self.span - t) / n * rng.uniform(0.5, 2.0)) if n else 0.0
        for _ in range(n):
            if t >= self.span:
                break
            day = int(t // 86400)
            weekday = (self.weekday0 + day) % 7
            if weekday >= 5 and rng.random() < 0.7:
                day += 7 - weekday
            s = day * 86400 + weighted(rng, _HOURS, _HOUR_CUM) * 3600 + rng.random() * 3600
            if s < self.span:
                out.append(s)
            t += rng.expovariate(1 / gap)
        return sorted(out)

    def _session(self, v: _Visitor, t: float, identify_here: bool = False,
                 landing: tuple[str, str, str] | None = None, campaign: dict | None = None) -> None:
        rng = self.rng
        referrer = ""  # email clients send no referrer
        if landing is None:
            campaign, referrer = self._traffic()
        n = min(15, 1 + int(rng.expovariate(1 / 3.2)))
        convert_at = rng.randrange(n) if identify_here else -1
        for j in range(n):
            page = landing if (j == 0 and landing) else self._page(weighted(rng, _SECTION_KEYS, self.page_cum[v.persona]))
            self._page_view(v, t, page, referrer, campaign if j == 0 else None)
            t += rng.uniform(5, 40)
            if j == convert_at:
                t = self._conversion(v, t, weighted(rng, _CONVERSIONS, _TRIGGER_CUM[v.persona]))
            elif v.user_id and rng.random() < dp.RECONVERT_P[v.persona]:
                t = self._conversion(v, t, weighted(rng, _CONVERSIONS, _TRIGGER_CUM[v.persona]))
            referrer = SITE + v.page[0]
            t += rng.lognormvariate(3.5, 0.9)
            if t >= self.span and j >= convert_at:
                break

    # -- identity and conversions -----------------------------------------------------
    def _new_person(self, v: _Visitor) -> Person:
        rng, persona = self.rng, v.persona
        title = dp.title_for(rng, persona)
        if persona == "competitor":
            return dp.make_person(rng, title, rng.choice(self.competitors), False, self.emails_taken)
        webmail = rng.random() < dp.WEBMAIL_P[persona]
        company = weighted(rng, self.companies, self.company_cum)
        if title == "Student" and self.schools:
            company = rng.choice(self.schools)
        if webmail and (persona in ("student", "job_seeker") or rng.random() < 0.5):
            company = None
        return dp.make_person(rng, title, company, webmail, self.emails_taken)

    def _identify(self, v: _Visitor, t: float, phone: bool) -> None:
        rng, p = self.rng, v.person
        assert p is not None
        traits: dict[str, Any] = {"email": p.email}
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
            traits["country"] = dp.country_as_sent(rng, p.country)
        if phone:
            traits["phone"] = p.phone
        self._browser(v, t, {"type": "identify", "traits": traits})

    def _group(self, v: _Visitor, t: float, plan: str) -> None:
        c = v.person.company  # type: ignore[union-attr]
        v.group_id = f"acct_{c.slug}"
        self._browser(v, t, {"type": "group", "groupId": v.group_id, "traits": {
            "name": c.name, "domain": c.domain, "industry": c.industry, "employees": c.employees,
            "country": dp.country_as_sent(self.rng, c.country), "plan": plan}})

    def _conversion(self, v: _Visitor, t: float, event: str) -> float:
        """A form fill: maybe a page to host it, identify (first time or re-sent), then track."""
        rng, page, props, attended = self.rng, None, {}, None
        if event in v.done and event != "Guide Downloaded":
            return t
        if event == "Newsletter Subscribed":
            props = {"source": {"/": "homepage"}.get(v.page[0], "blog" if v.page[0].startswith("/blog/") else "footer")}
        elif event == "Guide Downloaded":
            wanted = {"student": ("ebook-data-stack",), "job_seeker": ("ebook-data-stack",),
                      "buyer": ("comparison-guide", "roi-calculator"), "competitor": ("comparison-guide",)}
            options = [g for g in wanted.get(v.persona, GUIDES) if g not in v.done]
            if not options:
                return t
            props = {"guide": rng.choice(options)}
        elif event == "Webinar Registered":
            upcoming = [(s, w) for s, w in self.webinars if w > t + 3600]
            if not upcoming:
                return t if v.user_id else self._conversion(v, t, "Guide Downloaded")
            slug, when = upcoming[0] if rng.random() < 0.7 else rng.choice(upcoming)
            page, props = ("/webinars/" + slug, "Webinar", f"{slug.replace('-', ' ').title()} | Acme Analytics"), {"webinar": slug}
            if rng.random() < dp.ATTEND_P.get(v.persona, 0.35):
                attend_at = when + rng.uniform(0, 600)
                minutes = int(min(60, max(3, rng.gauss(38, 15))))
                attended = (attend_at, {"webinar": slug, "minutes": minutes})
        elif event == "Trial Started":
            page, props = self._page("pricing"), {"plan": rng.choice(("Team", "Team", "Business"))}
        if page and v.page[0] != page[0]:
            self._page_view(v, t, page, SITE + v.page[0])
            t += rng.lognormvariate(3.0, 0.7)
        first = v.user_id is None
        if first:
            v.person, v.user_id, v.identified_at = self._new_person(v), f"usr_{self.next_user}", t
            self.next_user += 1
        if first or rng.random() < 0.4:
            self._identify(v, t, phone=rng.random() < 0.15)
            t += rng.uniform(0.2, 2)
            if first and v.person.work_email and rng.random() < 0.3:  # type: ignore[union-attr]
                self._group(v, t, "trial" if event == "Trial Started" else "none")
                t += rng.uniform(0.1, 1)
        self._browser(v, t, {"type": "track", "event": event, "properties": props})
        v.done.append(event)
        if event == "Guide Downloaded":
            v.done.append(props["guide"])
        if attended:
            self._server(v, attended[0], "Webinar Attended", attended[1])
        return t + rng.uniform(2, 20)

    def _hand_raise(self, v: _Visitor) -> None:
        rng, t0 = self.rng, v.identified_at
        t = t0 + rng.expovariate(1 / (5 * 86400))
        if t >= self.span:
            t = t0 + rng.random() * max(0.0, self.span - t0)
        self._page_view(v, t, self._page(rng.choice(("case", "product", "compare"))), "https://www.google.com/")
        t += rng.lognormvariate(3.5, 0.6)
        quick = rng.random() < 0.6
        self._page_view(v, t, self._page("pricing" if quick else "product"), SITE + v.page[0])
        t += rng.uniform(60, 600) if quick else rng.lognormvariate(4, 0.5)
        self._identify(v, t, phone=True)
        t += rng.uniform(0.2, 2)
        c = v.person.company  # type: ignore[union-attr]
        size = c.employees if c else rng.randrange(5, 500)
        if rng.random() < 0.65:
            plan = "Enterprise" if size >= 1000 else rng.choice(("Team", "Business"))
            props = {"form": "demo", "plan_interest": plan}
            self._browser(v, t, {"type": "track", "event": "Demo Requested", "properties": props})
        else:
            props = {"form": "contact-sales", "message": rng.choice(_SALES_MESSAGES).format(n=size)}
            self._browser(v, t, {"type": "track", "event": "Contact Sales Submitted", "properties": props})

    def _email_lifecycle(self, v: _Visitor) -> None:
        rng, t0 = self.rng, v.identified_at
        sends = [(t0 + d * 86400 + rng.uniform(0, 3600), name, section) for name, d, section in _NURTURE]
        sends += [(s, name, "blog") for s, name in self.newsletters if s > t0]
        bounced = rng.random() < 0.012
        p_open, p_click = dp.EMAIL_ENGAGEMENT[v.persona]
        for s, campaign, section in sorted(x for x in sends if x[0] < self.span):
            if bounced:
                return self._server(v, s + rng.uniform(1, 60), "Email Bounced", {"campaign": campaign})
            if rng.random() >= p_open:
                continue
            t = s + rng.expovariate(1 / (4 * 3600))
            self._server(v, t, "Email Opened", {"campaign": campaign})
            if rng.random() < 0.01:
                return self._server(v, t + rng.uniform(5, 120), "Email Unsubscribed", {"campaign": campaign})
            if rng.random() < p_click and t < self.span:
                page = self._page(section)
                utm = {"name": campaign, "source": "nurture" if campaign.startswith("nurture") else "newsletter", "medium": "email"}
                t += rng.uniform(3, 90)
                self._server(v, t, "Email Clicked", {"campaign": campaign, "link": f"{SITE}{page[0]}?utm_source={utm['source']}&utm_medium=email&utm_campaign={campaign}"})
                if t + 5 < self.span:
                    self._session(v, t + rng.uniform(1, 5), landing=page, campaign=utm)

    # -- whole stream -----------------------------------------------------------------
    def visitor(self) -> None:
        rng = self.rng
        persona = weighted(rng, dp.PERSONAS, _PERSONA_CUM)
        ip = f"{rng.choice((23, 45, 63, 81, 98, 104, 142, 172, 185, 203))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        v = _Visitor(self._uuid(), persona, ip, rng.choice(dp.USER_AGENTS), rng.choice(dp.LOCALES))
        times = self._session_times(min(30, int(rng.paretovariate(dp.SESSION_ALPHA[persona]))))
        # Skewed early so identified people usually have later, stitched sessions too.
        id_idx = int(len(times) * rng.random() ** 1.5) if rng.random() < dp.IDENTIFY_P[persona] else -1
        for i, t in enumerate(times):
            self._session(v, t, identify_here=i == id_idx)
        if v.user_id:
            if rng.random() < dp.HAND_RAISE_P.get(v.person.title, .01 if v.persona != "competitor" else 0):  # type: ignore[union-attr]
                self._hand_raise(v)
            self._email_lifecycle(v)

    def transport_noise(self) -> list[dict[str, Any]]:
        """Late arrivals, SDK-retry duplicates and malformed messages, then arrival order."""
        rng, recs = self.rng, self.records
        n = len(recs)
        browser = [r for r in recs if "anonymousId" in r[3]]
        for r in rng.sample(browser, min(len(browser), round(0.02 * n))):
            r[0] = r[2] + math.exp(rng.uniform(math.log(2 * 3600), math.log(4 * 86400)))
            r[3]["sentAt"] = self._iso(r[0] - rng.uniform(0.05, 1))
        extra = []
        for r in rng.sample(recs, min(n, round(0.03 * n))):
            lag = rng.uniform(1, 300) if rng.random() < 0.9 else rng.uniform(3600, 86400)
            extra.append([r[0] + lag, 0, r[2], copy.deepcopy(r[3])])
        identifies = [r for r in recs if r[3]["type"] == "identify"]
        for i in range(max(4, round(0.005 * n)) if n else 0):
            kind = i % 4
            base = rng.choice(identifies if kind == 3 and identifies else recs)
            msg = copy.deepcopy(base[3])
            msg["messageId"] = self._uuid()
            if kind == 0:
                del msg["messageId"]
            elif kind == 1:
                msg["type"] = rng.choice(("pageview", "click", "event"))
            elif kind == 2:
                msg["timestamp"] = "yesterday"
            else:
                msg["traits"] = [msg.get("traits", {})]
            extra.append([base[0] + rng.uniform(0.5, 90), 0, base[2], msg])
        for i, r in enumerate(extra):
            r[1] = n + i
        return [r[3] for r in sorted(recs + extra, key=lambda r: (r[0], r[1]))]


def generate_demo_stream(
    *,
    seed: int = 7,
    visitors: int = 3000,
    start: datetime = datetime(2026, 9, 1, tzinfo=UTC),
    days: int = 60,
) -> list[dict[str, Any]]:
    """Generate the Acme Analytics demo stream as Segment-spec message dicts.

    The same arguments always give the same list. Messages are in arrival order, which is
    timestamp order except for late, duplicate and malformed ones (see the module
    docstring for every proportion). With the defaults it is roughly 30k-60k messages.
    """
    if visitors < 0 or days < 1:
        raise ValueError("visitors must be >= 0 and days >= 1")
    stream = _Stream(seed, visitors, start, days)
    for _ in range(visitors):
        stream.visitor()
    return stream.transport_noise()


def write_jsonl(messages: Iterable[dict[str, Any]], path: str | Path) -> int:
    """Write one JSON object per line (UTF-8), creating parent directories; return the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for message in messages:
            fh.write(json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count
