"""Seeded demo activity stream: a B2B SaaS site ("Acme Analytics") as Segment-spec messages.

`generate_demo_stream()` returns plain dicts shaped like the ones the Segment SDKs send
(analytics.js in the browser, analytics-python for email and webinar events), so the demo
exercises the real ingest path: identity stitching, dedup, late arrival and rejection.
Only the standard library and `random.Random`s seeded from `seed` are used, and nothing
iterates a set, so a seed fixes the stream exactly, whatever PYTHONHASHSEED is.

Distributions (tables in `people`; seed 7 / 3000 visitors gives ~35k messages):

* Personas: 12% economic buyers, 22% practitioners, 10% job seekers, 8% students, 1%
  competitor staff, 47% casual readers. The persona drives page mix (buyers: pricing, case
  studies, comparisons; job seekers: careers; students: blog, docs, the ebook), conversion,
  titles, email engagement and hand-raising.
* Sessions: min(30, Pareto(alpha)) planned per visitor, alpha 0.9 (buyers) to 1.4 (casual):
  most come once or twice, a few dozens of times. The first is uniform over the period,
  the rest spread over what remains; start hours peak 12:00-17:00 UTC and 70% of weekend
  visits move to Monday. Pages per session 1 + Exp(mean 3.2), at most 15; dwell
  log-normal, median ~35 s.
* Traffic: 30% direct, 32% organic search, 18% paid (UTM in `context.campaign` and the page
  `search`, landing page only, as analytics.js does), 10% review sites, 10% social.
* Identification (~23-25%): buyers 40%, practitioners 35%, students 30%, competitors 50%,
  casual 18%, job seekers 8%, via Newsletter Subscribed, Guide Downloaded, Webinar
  Registered or Trial Started, each right after an identify (email + traits). Earlier
  events keep only anonymousId; later ones add userId "usr_<n>". Identified people convert
  again on ~1-5% of pages; 40% of those forms re-send identify (15% with a phone).
* Sign-ups: ~12% webmail (mostly students and job seekers), ~2% competitor staff
  (rivalytics.com, funnelforge.io), ~8-9% unserved countries; the country trait is a full
  English name 10% of the time. Work email is first.last@<company domain>. There are
  visitors/4 companies of 1-20,000 employees (log-triangular, mode ~60); bigger ones send
  more people. 30% of identified people with a work email get a group call, and 60% of
  their later browser events carry `context.groupId`.
* Webinars: four, at 16/38/62/86% of the period; 35-55% of registrants attend.
* Email opens and clicks: 15-45% of mails opened and 5-35% of opens clicked, by persona; a
  click starts a UTM-tagged session. 1.2% of addresses bounce; 1% of opens unsubscribe.
* Email (server side, userId only): nurture mails 1/6/13/24 days after identifying plus a
  fortnightly newsletter; each nurture mail is an Email Delivered (the sequence's progress),
  all carry `email_id`.
* Hand-raisers (~3% of identified: 8% of economic titles, 2% of practitioners, 1% of the
  rest): a Form Viewed, then Demo Requested (65%) or Contact Sales Submitted, with an
  identify carrying a phone; 60% come 1-10 minutes after a /pricing view.
* Meetings (server side, a scheduler): every hand-raiser's form books a meeting 1-4 days later
  (Meeting Booked with meetingId and startTime); 58% are held, 22% no-shows, 10%
  rescheduled by a day and then held, 10% canceled.
* Form abandonment: 15% of other identified buyers open the demo form (Form Viewed) and leave.
* Trials (server side, the product): 45% of trialists use a key feature (dashboards, alerts,
  forecasts) within their first week (Feature Used); 25% only others (reports, exports) that
  week, half of them a key one one to three weeks in; 30% never come back. Drawn from a
  second `random.Random`, after the rest, so the rest of the stream does not depend on them.
* Transport noise: 2% of browser messages arrive 2 hours to 4 days late (sentAt is the
  late send, as after an offline queue flush); 3% duplicates (identical, same messageId;
  90% within 5 minutes, the rest hours later); 0.5% malformed (missing messageId, unknown
  type, timestamp "yesterday", traits as a list), all otherwise ordinary.
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

from leadrelay.core.time import utc_iso
from leadrelay.demo import people as dp
from leadrelay.demo.people import Person, weighted

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
    "Trial Started", "Email Unsubscribed", "Email Bounced", "Email Delivered", "Form Viewed",
    "Meeting Booked", "Meeting Rescheduled", "Meeting Held", "Meeting No Show", "Meeting Canceled", "Feature Used",
)

# section -> (path prefix or exact path, slugs or None, page name); order matches dp.PAGE_WEIGHTS
_SECTIONS = {
    "home": ("/", None, "Home"), "product": ("/product", None, "Product"),
    "feature": ("/product/", FEATURES, "Product Feature"), "pricing": ("/pricing", None, "Pricing"),
    "careers": ("/careers", None, "Careers"), "job": ("/careers/", JOBS, "Job Posting"),
    "blog": ("/blog/", BLOG_POSTS, "Blog Post"), "case": ("/case-studies/", CASE_STUDIES, "Case Study"),
    "compare": ("/compare/", COMPARISONS, "Comparison"), "docs": ("/docs/", DOCS, "Docs"),
    "webinar": ("/webinars/", tuple(w for w, _ in WEBINARS), "Webinar"),
}
_SECTION_KEYS = tuple(_SECTIONS)
assert _SECTION_KEYS == dp.PAGE_SECTIONS
KEY_FEATURES = ("dashboards", "alerts", "forecasts")  # what the starter playbook's PQL and trial follow-up read
OTHER_FEATURES = ("reports", "exports")
_CONVERSIONS = ("Newsletter Subscribed", "Guide Downloaded", "Webinar Registered", "Trial Started")
_TRIGGER_CUM = {p: list(accumulate(w)) for p, w in dp.CONVERSION_WEIGHTS.items()}
_PERSONA_CUM = list(accumulate(dp.PERSONA_SHARES))
# Students want the ebook, buyers the evaluation material, competitors what we say about them.
_GUIDES_FOR = {"student": ("ebook-data-stack",), "job_seeker": ("ebook-data-stack",),
               "buyer": ("comparison-guide", "roi-calculator"), "competitor": ("comparison-guide",)}
_NURTURE = (("nurture-welcome", 1, "product"), ("nurture-roi", 6, "feature"),
            ("nurture-case-studies", 13, "case"), ("nurture-pricing", 24, "pricing"))


@dataclass(slots=True)
class _Visitor:
    anon: str
    persona: str
    ip: str
    ua: str
    locale: str
    user_id: str | None = None
    person: Person = None  # type: ignore[assignment]  # set when the visitor identifies
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
        self.trials: list[tuple[str, float]] = []  # (user id, when) of each Trial Started
        self.seed = seed
        self.directory = dp.Directory(rng, max(20, visitors // 4))
        self.next_user = 10001
        self.page_cum = {p: list(accumulate(w)) for p, w in dp.PAGE_WEIGHTS.items()}
        self.webinars = [(slug, int(frac * days) * 86400.0 + 16 * 3600) for slug, frac in WEBINARS]
        self.newsletters = [(d * 86400.0 + 15 * 3600, f"newsletter-{(self.start + timedelta(days=d)):%Y-%m-%d}")
                            for d in range(6, days, 14)]

    # -- formatting -------------------------------------------------------------------
    def _iso(self, t: float) -> str:
        return utc_iso(self.start + timedelta(seconds=t), timespec="milliseconds")  # as analytics.js writes it

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
    def _page(self, section: str, slug: str | None = None) -> tuple[str, str, str]:
        base, slugs, name = _SECTIONS[section]
        if slugs is None:
            return base, name, ("Acme Analytics | B2B analytics for revenue teams" if base == "/"
                                else f"{name} | Acme Analytics")
        slug = slug or self.rng.choice(slugs)
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
            s = day * 86400 + dp.start_hour(rng) * 3600 + rng.random() * 3600
            if s < self.span:
                out.append(s)
            t += rng.expovariate(1 / gap)
        return sorted(out)

    def _session(self, v: _Visitor, t: float, identify_here: bool = False,
                 landing: tuple[str, str, str] | None = None, campaign: dict | None = None) -> None:
        rng = self.rng
        referrer = ""  # email clients send no referrer
        if landing is None:
            campaign, referrer = dp.traffic_source(rng)
        n = min(15, 1 + int(rng.expovariate(1 / 3.2)))
        convert_at = rng.randrange(n) if identify_here else -1
        for j in range(n):
            if j == 0 and landing:
                page = landing
            else:
                page = self._page(weighted(rng, _SECTION_KEYS, self.page_cum[v.persona]))
            self._page_view(v, t, page, referrer, campaign if j == 0 else None)
            t += rng.uniform(5, 40)
            if j == convert_at:
                t = self._conversion(v, t, weighted(rng, _CONVERSIONS, _TRIGGER_CUM[v.persona]))
            elif v.user_id and rng.random() < dp.RECONVERT_P[v.persona]:
                t = self._conversion(v, t, weighted(rng, _CONVERSIONS, _TRIGGER_CUM[v.persona]))
            referrer = SITE + v.page[0]
            t += rng.lognormvariate(3.5, 0.9)
            if t >= self.span:
                break

    # -- identity and conversions -----------------------------------------------------
    def _identify(self, v: _Visitor, t: float, phone: bool) -> None:
        self._browser(v, t, {"type": "identify", "traits": dp.person_traits(self.rng, v.person, phone)})

    def _conversion(self, v: _Visitor, t: float, event: str) -> float:
        """A form fill: maybe a page to host it, identify (first time or re-sent), then track."""
        rng, page, props, attended = self.rng, None, {}, None
        if event in v.done and event != "Guide Downloaded":
            return t
        if event == "Newsletter Subscribed":
            path = v.page[0]
            props = {"source": "homepage" if path == "/" else "blog" if path.startswith("/blog/") else "footer"}
        elif event == "Guide Downloaded":
            options = [g for g in _GUIDES_FOR.get(v.persona, GUIDES) if g not in v.done]
            if not options:
                return t
            props = {"guide": rng.choice(options)}
        elif event == "Webinar Registered":
            upcoming = [(s, w) for s, w in self.webinars if w > t + 3600]
            if not upcoming:
                return t if v.user_id else self._conversion(v, t, "Guide Downloaded")
            here = [u for u in upcoming if v.page[0] == "/webinars/" + u[0]]
            slug, when = here[0] if here else upcoming[0] if rng.random() < 0.7 else rng.choice(upcoming)
            page, props = self._page("webinar", slug), {"webinar": slug}
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
            v.person, v.user_id, v.identified_at = self.directory.new_person(v.persona), f"usr_{self.next_user}", t
            self.next_user += 1
        if first or rng.random() < 0.4:
            self._identify(v, t, phone=rng.random() < 0.15)
            t += rng.uniform(0.2, 2)
            if first and v.person.work_email and rng.random() < 0.3:
                c = v.person.company
                assert c is not None  # a work email is at its company (make_person)
                v.group_id = f"acct_{c.slug}"
                self._browser(v, t, {"type": "group", "groupId": v.group_id, "traits": dp.company_traits(
                    rng, c, "trial" if event == "Trial Started" else "none")})
                t += rng.uniform(0.1, 1)
        self._browser(v, t, {"type": "track", "event": event, "properties": props})
        if event == "Trial Started":
            assert v.user_id is not None  # identified just above
            self.trials.append((v.user_id, t))
        v.done.append(event)
        if event == "Guide Downloaded":
            v.done.append(props["guide"])
        if attended:
            self._server(v, attended[0], "Webinar Attended", attended[1])
        return t + rng.uniform(2, 20)

    def _hand_raise(self, v: _Visitor) -> None:
        rng, t0 = self.rng, v.identified_at
        t = t0 + rng.expovariate(1 / (5 * 86400))
        if t >= self.span - 3600:  # keep the form inside the period
            t = t0 + rng.random() * max(0.0, self.span - 3600 - t0)
        self._page_view(v, t, self._page(rng.choice(("case", "product", "compare"))), "https://www.google.com/")
        t += rng.lognormvariate(3.5, 0.6)
        quick = rng.random() < 0.6
        self._page_view(v, t, self._page("pricing" if quick else "product"), SITE + v.page[0])
        t += rng.uniform(60, 600) if quick else rng.lognormvariate(4, 0.5)
        self._identify(v, t, phone=True)
        t += rng.uniform(0.2, 2)
        c = v.person.company
        size = c.employees if c else rng.randrange(5, 500)
        demo = rng.random() < 0.65
        self._browser(v, t - rng.uniform(20, 90), {"type": "track", "event": "Form Viewed",
                                                   "properties": {"form": "demo" if demo else "contact-sales"}})
        if demo:
            plan = "Enterprise" if size >= 1000 else rng.choice(("Team", "Business"))
            props = {"form": "demo", "plan_interest": plan}
            self._browser(v, t, {"type": "track", "event": "Demo Requested", "properties": props})
        else:
            props = {"form": "contact-sales", "message": rng.choice(dp.SALES_MESSAGES).format(n=size)}
            self._browser(v, t, {"type": "track", "event": "Contact Sales Submitted", "properties": props})
        self._meeting(v, t + rng.uniform(30, 180))

    def _meeting(self, v: _Visitor, t: float) -> None:
        """The scheduler books the demo on the form, then reports how it went."""
        rng = self.rng
        meeting = f"cp-{self._uuid()[:8]}"
        day = int(t // 86400) + rng.randint(1, 4)
        starts = day * 86400 + rng.choice((10, 11, 14, 15, 16)) * 3600  # UTC hours the reps work
        self._server(v, t, "Meeting Booked", {"meetingId": meeting, "startTime": self._iso(starts)})
        roll = rng.random()
        if roll < 0.10:
            later = starts + 86400
            self._server(v, starts - rng.uniform(3600, 20 * 3600), "Meeting Rescheduled",
                         {"meetingId": meeting, "startTime": self._iso(later)})
            self._server(v, later + rng.uniform(1800, 3000), "Meeting Held", {"meetingId": meeting})
        elif roll < 0.20:
            self._server(v, starts - rng.uniform(3600, 20 * 3600), "Meeting Canceled", {"meetingId": meeting})
        else:
            event = "Meeting Held" if roll < 0.78 else "Meeting No Show"
            self._server(v, starts + rng.uniform(1800, 3000), event, {"meetingId": meeting})

    def _form_abandon(self, v: _Visitor) -> None:
        """A buyer opens the demo form from the pricing page and leaves without sending it."""
        rng = self.rng
        t = v.identified_at + rng.expovariate(1 / (7 * 86400))
        if t >= self.span - 3600:
            return
        self._page_view(v, t, self._page("pricing"), SITE + v.page[0])
        self._browser(v, t + rng.uniform(20, 120), {"type": "track", "event": "Form Viewed",
                                                    "properties": {"form": "demo"}})

    def _email_lifecycle(self, v: _Visitor) -> None:
        rng, t0 = self.rng, v.identified_at
        sends = [(t0 + d * 86400 + rng.uniform(0, 3600), name, section) for name, d, section in _NURTURE]
        sends += [(s, name, "blog") for s, name in self.newsletters if s > t0]
        bounced = rng.random() < 0.012
        p_open, p_click = dp.EMAIL_ENGAGEMENT[v.persona]
        for s, campaign, section in sorted(x for x in sends if x[0] < self.span):
            if bounced:
                return self._server(v, s + rng.uniform(1, 60), "Email Bounced", {"campaign": campaign})
            if campaign.startswith("nurture-"):
                self._server(v, s, "Email Delivered", {"campaign": campaign, "email_id": campaign})
            if rng.random() >= p_open:
                continue
            t = s + rng.expovariate(1 / (4 * 3600))
            self._server(v, t, "Email Opened", {"campaign": campaign, "email_id": campaign})
            if rng.random() < 0.01:
                return self._server(v, t + rng.uniform(5, 120), "Email Unsubscribed", {"campaign": campaign})
            if rng.random() < p_click and t < self.span:
                page = self._page(section)
                source = "nurture" if campaign.startswith("nurture") else "newsletter"
                utm = {"name": campaign, "source": source, "medium": "email"}
                link = f"{SITE}{page[0]}?utm_source={source}&utm_medium=email&utm_campaign={campaign}"
                t += rng.uniform(3, 90)
                self._server(v, t, "Email Clicked", {"campaign": campaign, "link": link, "email_id": campaign})
                if t + 5 < self.span:
                    self._session(v, t + rng.uniform(1, 5), landing=page, campaign=utm)

    # -- whole stream -----------------------------------------------------------------
    def visitor(self) -> None:
        rng = self.rng
        persona = weighted(rng, dp.PERSONAS, _PERSONA_CUM)
        v = _Visitor(self._uuid(), persona, dp.make_ip(rng), rng.choice(dp.USER_AGENTS), rng.choice(dp.LOCALES))
        times = self._session_times(min(30, int(rng.paretovariate(dp.SESSION_ALPHA[persona]))))
        # Skewed early so identified people usually have later, stitched sessions too.
        id_idx = int(len(times) * rng.random() ** 1.5) if rng.random() < dp.IDENTIFY_P[persona] else -1
        for i, t in enumerate(times):
            self._session(v, t, identify_here=i == id_idx)
        if v.user_id:
            if rng.random() < dp.HAND_RAISE_P.get(v.person.title, .005 if v.persona != "competitor" else 0):
                self._hand_raise(v)
            elif v.persona == "buyer" and rng.random() < 0.15:
                self._form_abandon(v)
            self._email_lifecycle(v)

    def transport_noise(self) -> list[list[Any]]:
        """Late arrivals, SDK-retry duplicates and malformed messages, then the records in arrival order."""
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
        return sorted(recs + extra, key=lambda r: (r[0], r[1]))

    def product_usage(self) -> list[list[Any]]:
        """The product's own events for trialists (server side, arriving on time): Feature Used. With its own
        `random.Random`, drawn after everything else, so the rest of the stream is what it was without them."""
        rng, out = random.Random(f"product usage {self.seed}"), []
        for user_id, started in self.trials:
            roll = rng.random()
            if roll < 0.45:  # a key feature within the first week (the follow-up never fires)
                uses = [(started + rng.uniform(1800, 6.5 * 86400), rng.choice(KEY_FEATURES))]
            elif roll < 0.7:  # other features only that week; some find a key one later
                uses = [(started + rng.uniform(1800, 6.5 * 86400), rng.choice(OTHER_FEATURES))]
                if rng.random() < 0.5:
                    uses.append((started + rng.uniform(7.5 * 86400, 20 * 86400), rng.choice(KEY_FEATURES)))
            else:  # signed up and never came back
                uses = []
            for at, feature in uses:
                if at < self.span:
                    lag = rng.uniform(0.05, 5.0)
                    message = {"type": "track", "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                               "userId": user_id, "event": "Feature Used", "properties": {"feature": feature},
                               "context": {"library": {"name": "analytics-python", "version": "2.3.3"}},
                               "timestamp": self._iso(at), "sentAt": self._iso(at + lag)}
                    out.append([at + lag, 0, at, message])
        return out


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
    arrived = stream.transport_noise()
    usage = stream.product_usage()
    for i, record in enumerate(usage):
        record[1] = len(arrived) + i
    return [record[3] for record in sorted(arrived + usage, key=lambda r: (r[0], r[1]))]


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
