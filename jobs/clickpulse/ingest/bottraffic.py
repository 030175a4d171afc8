"""Bot traffic for the generator (`clickpulse generate --bots FRACTION`), as the collector
would have passed it on: the generator writes to Kafka directly, so it marks the events
itself, by the collector's rules (clickpulse.bots), never by fiat.

Two patterns, about half the bot records each:
- crawlers: single page views spread over time from a few crawler "users" per site, each
  with a declared User-Agent of the crawler list (Googlebot, bingbot, AhrefsBot):
  `bot: user_agent`, because bots.user_agent_reason says so for that header;
- scrapers: bursts of BURST page views of one new user within one slice of event time
  (100 ms). The rate rule (COLLECTOR_BOT_RATE per second, default 20) marks the events past
  the limit `bot: rate`; the first ones of each second pass as a person's, exactly as the
  collector would let them through.

Records keep the simulation's shape, ending in `"ts":<ms>}` (faults.restamp relies on it).
"""

from __future__ import annotations

import itertools
import operator
import random
from typing import Iterable, Iterator

import orjson

from .. import bots

DECLARED_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
)
CRAWLERS_PER_SITE = 3
BURST = 40
_TS = operator.itemgetter(2)


class BotTraffic:
    def __init__(self, fraction: float, sites: list[str], seed: int, id_prefix: str, rate_limit: int,
                 products: int = 50):
        self.rng = random.Random(f"{seed}-bots")
        self.share = fraction / (1.0 - fraction)  # bot records per human record
        self.sites, self.prefix, self.products = sites, id_prefix, products
        self.rule = bots.RateRule(rate_limit)
        self.ids = itertools.count(1)
        self.owed = 0.0
        self.marked = {reason: 0 for reason in bots.REASONS}

    def wrap(self, chunks: Iterable[list[tuple[bytes, str, int]]]) -> Iterator[list[tuple[bytes, str, int]]]:
        """The simulation's chunks with bot records mixed in, each chunk still in time order."""
        for chunk in chunks:
            if not chunk:
                yield chunk
                continue
            self.owed += len(chunk) * self.share
            extra: list = []
            first, last = chunk[0][2], chunk[-1][2]
            while self.owed >= 1:
                made = self._crawl(first, last) if self.rng.random() < 0.5 else self._burst(first, last)
                self.owed -= len(made)
                extra += made
            if extra:
                chunk = sorted(chunk + extra, key=_TS)
            yield chunk

    def _record(self, user: str, site: str, ts: int, reason: str | None) -> tuple[bytes, str, int]:
        head = {"site_id": site, "user_id": user, "event_id": f"b-{self.prefix}{next(self.ids):x}",
                "event_type": "page_view", "page": f"/products/{self.rng.randint(1, self.products)}"}
        if reason:
            head["bot"] = reason
            self.marked[reason] += 1
        return user.encode(), orjson.dumps(head).decode()[:-1] + ',"ts":' + str(ts) + "}", ts

    def _crawl(self, first: int, last: int) -> list:
        site = self.rng.choice(self.sites)
        k = self.rng.randrange(CRAWLERS_PER_SITE)
        reason = bots.user_agent_reason(DECLARED_USER_AGENTS[k % len(DECLARED_USER_AGENTS)])
        return [self._record(f"crawler-{self.prefix}{site}-{k}", site, self.rng.randint(first, last), reason)]

    def _burst(self, first: int, last: int) -> list:
        site = self.rng.choice(self.sites)
        user = f"scraper-{self.prefix}{next(self.ids):x}"
        times = sorted(self.rng.randint(first, last) for _ in range(BURST))
        return [self._record(user, site, t, bots.RATE if self.rule.over(t, user) else None) for t in times]
