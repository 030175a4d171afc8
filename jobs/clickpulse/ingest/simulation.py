"""Synthetic traffic: visitors arrive on a daily cycle, each session walks the page graph
and sometimes goes down a funnel; every event comes out in event-time order as the exact
string that is sent to Kafka.

Speed matters here (100k+ events/s on two cores): sessions are drawn from a pool of
session scripts and users from a pool of segment combinations, both sampled once from the
profile, with their JSON fragments prebuilt; the per-event work is one heap operation and
one string concatenation.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import random
from functools import lru_cache
from typing import Iterator

import orjson

from .traffic import Profile

SESSION_GAP_MS = 30 * 60 * 1000
DAY_MS = 86_400_000
# a returning user is picked from the most recent users of a site
RETURNING_POOL = 5000
# distinct session scripts and segment combinations drawn from the profile
SCRIPT_POOL = 8192
SEGMENT_POOL = 4096
# Sessions that started before the first event are simulated too, so that the traffic is
# in its steady state from the start rather than ramping up over the first minutes.
WARMUP_MS = 10 * 60 * 1000
WARMUP_MAX_SESSIONS = 200_000
# event time per chunk, at most
SLICE_MS = 100


@lru_cache(maxsize=4096)
def js(value) -> str:
    """A value as a JSON literal."""
    return orjson.dumps(value).decode()


class Sampler:
    """Draws from a weighted mapping with one random number and a bisect."""

    def __init__(self, weights: dict, rng: random.Random):
        self.values = list(weights)
        total = float(sum(weights.values()))
        self.cum = list(itertools.accumulate(w / total for w in weights.values()))
        self.cum[-1] = 1.0
        self.random = rng.random

    def __call__(self):
        return self.values[bisect.bisect_right(self.cum, self.random())]


def price(product: int) -> float:
    return float(5 + (product * 37) % 200)


PLAN_PRICES = {"pro": 20.0, "enterprise": 200.0}
# The arms of the demo's A/B test: every event of a session, page views included, carries
# its arm as properties.experiment, and clicks carry properties.button, the two promoted
# properties of sql/properties.yaml, so their dimensions have data: in events_per_minute,
# and in funnel_breakdown, whose segment is that of the funnel's first step (a page view
# in both demo funnels). Arms alternate over the session scripts (no random draw, so the
# rest of the traffic is what it was before they existed).
EXPERIMENT_ARMS = ("control", "new_pricing")


class Simulation:
    """Iterate to get (key, value, ts) in event-time order, forever; the caller stops it."""

    def __init__(self, profile: Profile, sites: list[str], rate: float, start_ms: int, seed: int, id_prefix: str,
                 slice_ms: int = SLICE_MS):
        self.profile = profile
        self.sites = sites
        self.rate = rate
        self.start_ms = start_ms
        self.prefix = id_prefix
        self.slice_ms = max(1, min(slice_ms, SLICE_MS))
        self._ids = itertools.count(1)
        self._users: dict[str, list] = {s: [0] for s in sites}
        self._bind(random.Random(seed))
        self._script_no = itertools.count()
        self._scripts = [self._script() for _ in range(SCRIPT_POOL)]
        self._segments = [self._segment() for _ in range(SEGMENT_POOL)]
        self.events_per_session = sum(map(len, self._scripts)) / len(self._scripts)
        # sessions per millisecond of event time, before the daily cycle
        self._session_rate = rate / 1000 / self.events_per_session if rate > 0 else 0.0

    def _bind(self, rng: random.Random) -> None:
        profile, r = self.profile, rng
        self.rng = r
        self._site = Sampler({s: 1 / (i + 1) ** profile.site_skew for i, s in enumerate(self.sites)}, r)
        self._country = Sampler(profile.countries, r)
        self._device = Sampler(profile.devices, r)
        self._plan = Sampler(profile.plans, r)
        self._entry = Sampler(profile.entry_pages, r)
        self._referrer = Sampler(profile.referrers, r)
        self._campaign_source = Sampler(profile.campaign_sources, r)
        self._browse = Sampler({"product": 0.45, "home": 0.1, "pricing": 0.15, "blog": 0.15}, r)
        # products are not equally popular (Zipf-like), so top-pages tables have a shape
        self._product = Sampler({i: 1 / i ** 0.9 for i in range(1, profile.products + 1)}, r)

    # --- sessions ----------------------------------------------------------------------------
    def _page(self, kind: str) -> str:
        r = self.rng
        if kind == "home":
            return "/"
        if kind == "landing":
            return "/landing/" + r.choice(self.profile.campaigns)
        if kind == "product":
            return f"/products/{self._product()}"
        if kind == "blog":
            return "/blog/" + r.choice(self.profile.blog_posts)
        return "/" + kind

    def _campaign_tags(self, landing_page: str) -> dict:
        source, medium = self._campaign_source().split("/")
        return {"utm_source": source, "utm_medium": medium, "utm_campaign": landing_page.rsplit("/", 1)[1]}

    def _script(self) -> list[tuple[int, str]]:
        """One session as (offset ms, JSON fragment): the fragment continues the session's
        event_id with the step number and ends with the key of ts, whose value follows."""
        return [(t, f'-{i}",' + frag + ',"ts":') for i, (t, frag) in enumerate(self._steps())]

    def _steps(self) -> list[tuple[int, str]]:
        """One session as (offset ms, JSON fragment of event_type, page and its details)."""
        p, r = self.profile, self.rng
        rand, randint = r.random, r.randint
        think_rate = 1 / (p.think_time_s * 1000)
        steps: list[tuple[int, str]] = []
        t = 0
        arm = EXPERIMENT_ARMS[next(self._script_no) % len(EXPERIMENT_ARMS)]

        def think() -> int:
            return t + int(min(max(r.expovariate(think_rate), 1000), 300_000))

        def view(page: str, referrer=None, tags=None) -> None:
            frag = '"event_type":"page_view","page":' + js(page)
            if referrer:
                frag += ',"referrer":' + js(referrer)
            for tag, value in (tags or {}).items():
                frag += f',"{tag}":' + js(value)
            frag += ',"properties":' + orjson.dumps({"experiment": arm}).decode()
            steps.append((t, frag))

        def act(event_type: str, page: str, props=None) -> int:
            at = t + randint(300, 4000)
            frag = f'"event_type":"{event_type}","page":' + js(page)
            frag += ',"properties":' + orjson.dumps({**(props or {}), "experiment": arm}).decode()
            steps.append((at, frag))
            return at

        signup_rates = p.funnels["signup"]
        product_rates = p.funnels["product_purchase"]
        kind = self._entry()
        page = self._page(kind)
        view(page, self._referrer(), self._campaign_tags(page) if kind == "landing" else None)
        pages = 1
        while True:
            if kind in ("home", "landing"):
                if rand() < signup_rates[0]:
                    t = act("click", page, {"button": "signup_cta"})
                    t = think()
                    view("/signup")
                    t = act("form_submit", "/signup", {"form": "signup"})
                    plan = self._plan() or "free"
                    t = act("signup", "/signup", {"plan": plan})
                    page, pages = "/signup", pages + 1
                    if rand() < signup_rates[1]:
                        t = think()
                        view("/pricing")
                        t = act("click", "/pricing", {"button": "buy_plan"})
                        t = think()
                        view("/checkout")
                        tier = plan if plan in PLAN_PRICES else "pro"
                        t = act("purchase", "/checkout", {"plan": tier, "revenue": PLAN_PRICES[tier],
                                                          "currency": "USD"})
                        page, pages = "/checkout", pages + 2
            elif kind == "product":
                if rand() < product_rates[0]:
                    product = int(page.rsplit("/", 1)[1])
                    t = act("add_to_cart", page, {"product_id": product, "price": price(product)})
                    t = think()
                    view("/cart")
                    page, pages = "/cart", pages + 1
                    if rand() < product_rates[1]:
                        t = act("click", "/cart", {"button": "checkout"})
                        t = think()
                        view("/checkout")
                        t = act("purchase", "/checkout", {"product_id": product, "revenue": price(product),
                                                          "currency": "USD"})
                        page, pages = "/checkout", pages + 1
            elif kind == "blog":
                if rand() < 0.3:
                    t = act("video_play", page, {"video": page.rsplit("/", 1)[1]})
                if rand() < 0.05:
                    t = act("newsletter_subscribe", page)
            elif kind == "pricing" and rand() < 0.3:
                t = act("click", page, {"button": "compare_plans"})
            if pages >= p.max_pages or rand() < p.exit_rate:
                return steps
            kind = self._browse()
            page = self._page(kind)
            t = think()
            view(page)
            pages += 1

    def _segment(self) -> str:
        frag = ""
        for name, value in (("country", self._country()), ("device", self._device()), ("plan", self._plan())):
            if value is not None:
                frag += f',"{name}":' + js(value)
        return frag

    def _user(self, site: str, now: int) -> list:
        """[user_id, JSON fragment of the user's fields, end of their last session, Kafka key]
        of a returning user who is not in a session now, or of a new user."""
        r = self.rng
        pool = self._users[site]  # [write position, users...]: a ring of the latest users
        n = len(pool) - 1
        if n and r.random() < self.profile.returning_share:
            # a few tries: some of the pool are in a session, or were just here
            for _ in range(5):
                user = pool[1 + int(r.random() * n)]
                if user[2] + SESSION_GAP_MS < now:
                    user[2] = math.inf
                    return user
        user_id = f"u-{self.prefix}{next(self._ids):x}"
        segment = self._segments[int(r.random() * SEGMENT_POOL)]
        user = [user_id, '"site_id":' + js(site) + ',"user_id":"' + user_id + '"' + segment, math.inf,
                user_id.encode()]
        if n < RETURNING_POOL:
            pool.append(user)
        else:
            pool[1 + pool[0]] = user
            pool[0] = (pool[0] + 1) % RETURNING_POOL
        return user

    def _cycle(self, ts: float) -> float:
        p = self.profile
        if not p.daily_amplitude:
            return 1.0
        hour = (ts % DAY_MS) / 3_600_000
        return 1 + p.daily_amplitude * math.cos(2 * math.pi * (hour - p.peak_hour_utc) / 24)

    # --- the stream --------------------------------------------------------------------------
    def chunks(self) -> Iterator[list[tuple[bytes, str, int]]]:
        """Lists of (key, value, ts), each the events of one slice of event time in time
        order, forever. A session's events are all rendered when it starts (its times are
        known then) and wait in a calendar of slices: one sort per slice, and no per-event
        Python work after that. Memory: about `rate` x 30 s of pending events."""
        r = self.rng
        rand, expo = r.random, r.expovariate
        ids, prefix = self._ids, self.prefix
        site_of, user_of, cycle = self._site, self._user, self._cycle
        scripts, n_scripts = self._scripts, len(self._scripts)
        slice_ms = self.slice_ms
        calendar: dict[int, list] = {}
        get = calendar.get
        start = self.start_ms

        def begin(at: int) -> None:
            user = user_of(site_of(), at)
            script = scripts[int(rand() * n_scripts)]
            user[2] = at + script[-1][0]
            session_id = "s-" + prefix + format(next(ids), "x")
            head = "{" + user[1] + ',"session_id":"' + session_id + '","event_id":"' + session_id
            key = user[3]
            for offset, frag in script:
                t = at + offset
                if t < start:  # a session already under way at the start
                    continue
                item = (key, head + frag + str(t) + "}", t)
                bucket = get(t // slice_ms)
                if bucket is None:
                    calendar[t // slice_ms] = [item]
                else:
                    bucket.append(item)

        # sessions in progress at the start: only their events from the start on are sent
        arrival = start - min(WARMUP_MS, WARMUP_MAX_SESSIONS / self._session_rate)
        k = int(arrival) // slice_ms
        while True:
            end = (k + 1) * slice_ms
            while arrival < end:
                begin(int(arrival))
                arrival += expo(self._session_rate * cycle(arrival))
            bucket = calendar.pop(k, None)
            k += 1
            if bucket:
                bucket.sort(key=_TS)
                yield bucket

    def __iter__(self) -> Iterator[tuple[bytes, str, int]]:
        if self._session_rate <= 0:
            return
        for chunk in self.chunks():
            yield from chunk


_TS = operator.itemgetter(2)
