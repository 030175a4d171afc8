"""Which events come from bots, and why: the rules the collector applies as events arrive
(and the generator, which stands in for the collector, applies to the traffic it makes).

An event judged to be a bot's is kept, not dropped: it carries the reason in its `bot`
field (schema/event.v1.json), the stream leaves it out of every user metric (`events_clean`
in sql/views.sql) and counts it in `bot_events` by site, minute and reason; clickpulse.truth
does the same from the same field.

Reasons:
- `user_agent`: the User-Agent matches a pattern of the crawler-user-agents list (the PyPI
  package `crawler-user-agents`, pinned in pyproject.toml; its maintained JSON of ~1,500
  crawler patterns ships inside the package, nothing is downloaded at run time): search
  engines, SEO tools, monitors, scanners, AI crawlers, headless browsers. Except the
  patterns tagged `http-library` (curl, python-requests, httpx, okhttp...): a server that
  posts its users' events to the collector sends them with its HTTP library, and a
  scraper using one runs no JavaScript, so never sends the snippet's events.
- `rate`: the same user, or the same client address, sent more than BOT_RATE_PER_S events
  within one second of receive time; the events past the limit in that second are marked
  (a person's browser sends a handful per second at most).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import crawleruseragents

USER_AGENT = "user_agent"
RATE = "rate"
REASONS = (USER_AGENT, RATE)
# User-Agent headers are capped before matching, as in ingest/useragent.py.
MAX_UA = 512
# Servers sending their users' events: not bots (see the module's docstring).
NOT_BOTS = {"http-library"}
# Patterns per compiled alternation, as the package itself does (one regex of all ~1,500
# is slower to build and to run).
CHUNK = 25


@lru_cache(maxsize=1)
def _patterns() -> list[re.Pattern]:
    pats = [d["pattern"] for d in crawleruseragents.CRAWLER_USER_AGENTS_DATA
            if not NOT_BOTS & set(d.get("tags") or [])]
    return [re.compile("|".join(pats[i:i + CHUNK])) for i in range(0, len(pats), CHUNK)]


@lru_cache(maxsize=8192)
def user_agent_reason(user_agent: str | None) -> str | None:
    """`user_agent` when the header names a known crawler, else None."""
    if not user_agent:
        return None
    ua = user_agent[:MAX_UA]
    return USER_AGENT if any(p.search(ua) for p in _patterns()) else None


def ip_hash(ip: str | None) -> str | None:
    """The key of a client address for the rate rule; the address itself is never kept."""
    return hashlib.sha256(ip.encode()).hexdigest()[:16] if ip else None


class RateRule:
    """More than `limit` events of one key (a user, an address hash) within one second.

    Seconds are whole seconds of the clock passed in (the collector's receive time, the
    generator's event time); counts are kept for the current second only, so memory is
    the keys seen within one second."""

    def __init__(self, limit: int):
        self.limit = limit
        self.second: int | None = None
        self.counts: dict[str, int] = {}

    def over(self, now_ms: int, *keys: str | None) -> bool:
        """Count one event for each key at `now_ms`; True when any key is past the limit."""
        second = now_ms // 1000
        if second != self.second:
            self.second, self.counts = second, {}
        over = False
        for key in keys:
            if key is None:
                continue
            n = self.counts.get(key, 0) + 1
            self.counts[key] = n
            over = over or n > self.limit
        return over
