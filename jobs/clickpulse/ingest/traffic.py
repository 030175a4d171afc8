"""What the synthetic traffic looks like: segments, pages, funnel conversion rates and the
daily cycle. Defaults here; a YAML file (`clickpulse generate --profile FILE`) overrides any
key, e.g.

    countries: {US: 0.5, DE: 0.3, null: 0.2}     # null: no country sent
    funnels: {signup: [0.3, 0.4]}               # landing->signup, signup->purchase
    daily_amplitude: 0.0                        # flat traffic

Pages and events follow sql/funnels.yaml: landing pages `/` and `/landing/<campaign>`,
product pages `/products/<id>`, events `signup`, `add_to_cart` and `purchase`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import ClickpulseError


def _countries() -> dict:
    return {"US": 0.30, "DE": 0.10, "GB": 0.09, "FR": 0.07, "IN": 0.10, "BR": 0.07, "JP": 0.06, "CA": 0.05,
            "ES": 0.04, "NL": 0.03, "AU": 0.03, None: 0.06}


def _devices() -> dict:
    return {"desktop": 0.55, "mobile": 0.38, "tablet": 0.05, None: 0.02}


def _plans() -> dict:
    return {"free": 0.45, "pro": 0.18, "enterprise": 0.04, None: 0.33}


def _funnels() -> dict:
    # per step: the chance that an attempt goes on to the next step
    return {"signup": [0.25, 0.30], "product_purchase": [0.20, 0.45]}


def _entry_pages() -> dict:
    return {"home": 0.28, "landing": 0.20, "product": 0.27, "blog": 0.15, "pricing": 0.10}


@dataclass
class Profile:
    countries: dict = field(default_factory=_countries)
    devices: dict = field(default_factory=_devices)
    plans: dict = field(default_factory=_plans)
    funnels: dict = field(default_factory=_funnels)
    entry_pages: dict = field(default_factory=_entry_pages)
    campaigns: list = field(default_factory=lambda: ["spring", "black-friday", "newsletter", "partner"])
    # where a landing page's visitors come from, as "utm_source/utm_medium" (the campaign is
    # the landing page's): acquisition_1h's channels
    campaign_sources: dict = field(default_factory=lambda: {
        "newsletter/email": 0.35, "google/cpc": 0.35, "facebook/social": 0.2, "partner/affiliate": 0.1})
    products: int = 40
    blog_posts: list = field(default_factory=lambda: ["launch-week", "funnels-101", "realtime-dashboards",
                                                      "pricing-update", "case-study-acme"])
    referrers: dict = field(default_factory=lambda: {
        "https://www.google.com/": 0.4, "https://news.ycombinator.com/": 0.05, "https://t.co/": 0.08,
        "https://www.facebook.com/": 0.07, None: 0.4})
    # chance that a session belongs to a user seen before (who keeps their segments)
    returning_share: float = 0.35
    # mean seconds between two page views of a session (exponential, 1 s..5 min)
    think_time_s: float = 20.0
    # chance of leaving after a page view that starts no funnel step
    exit_rate: float = 0.35
    max_pages: int = 15
    # the daily cycle: rate x (1 + amplitude * cos(2 pi (hour - peak_hour) / 24))
    daily_amplitude: float = 0.5
    peak_hour_utc: float = 15.0
    site_skew: float = 0.8  # site i gets a share proportional to 1 / i**site_skew

    @classmethod
    def load(cls, path: Path | None, **overrides) -> "Profile":
        p = cls()
        data = {}
        if path:
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as e:
                raise ClickpulseError(f"cannot read the traffic profile {path}: {e}") from e
            if not isinstance(data, dict):
                raise ClickpulseError(f"{path}: expected a mapping of profile keys")
        known = {f.name for f in fields(cls)}
        # the file's keys, then the command line's; funnels merge funnel by funnel
        for layer in (data, {k: v for k, v in overrides.items() if v is not None}):
            for key, value in layer.items():
                if key not in known:
                    raise ClickpulseError(f"{path or 'profile'}: unknown key {key!r} (known: {', '.join(sorted(known))})")
                if key == "funnels":
                    if not isinstance(value, dict):
                        raise ClickpulseError(f"{path or 'profile'}: funnels must map funnel names to rates")
                    value = {**p.funnels, **value}
                setattr(p, key, value)
        p.check(path)
        return p

    def check(self, path) -> None:
        where = str(path or "profile")
        for name in ("countries", "devices", "plans", "entry_pages", "referrers", "campaign_sources"):
            dist = getattr(self, name)
            if not isinstance(dist, dict) or not dist or any(not isinstance(v, (int, float)) or v < 0
                                                            for v in dist.values()) or sum(dist.values()) <= 0:
                raise ClickpulseError(f"{where}: {name} must map values to non-negative weights")
        if any(not isinstance(k, str) or k.count("/") != 1 for k in self.campaign_sources):
            raise ClickpulseError(f"{where}: campaign_sources keys are utm_source/utm_medium, e.g. google/cpc")
        unknown = set(self.entry_pages) - set(_entry_pages())
        if unknown:
            raise ClickpulseError(f"{where}: entry_pages {', '.join(map(str, unknown))} unknown; "
                                  f"use {', '.join(_entry_pages())}")
        for name, rates in self.funnels.items():
            if name not in _funnels():
                raise ClickpulseError(f"{where}: funnel {name!r} is not simulated; known: {', '.join(_funnels())}")
            if (not isinstance(rates, (list, tuple)) or len(rates) != len(_funnels()[name])
                    or any(not isinstance(r, (int, float)) or not 0 <= r <= 1 for r in rates)):
                raise ClickpulseError(f"{where}: funnel {name} needs {len(_funnels()[name])} rates in 0..1")
        if not 0 <= self.daily_amplitude <= 1:
            raise ClickpulseError(f"{where}: daily_amplitude must be within 0..1")
        if self.products < 1 or not self.campaigns or not self.blog_posts:
            raise ClickpulseError(f"{where}: products, campaigns and blog_posts must not be empty")


def parse_funnel_option(values: list[str] | None) -> dict | None:
    """--funnel signup=0.3,0.4 (repeatable) as {"signup": [0.3, 0.4]}."""
    if not values:
        return None
    out = {}
    for v in values:
        name, sep, rates = v.partition("=")
        try:
            out[name.strip()] = [float(r) for r in rates.split(",")]
        except ValueError:
            sep = ""
        if not sep:
            raise ClickpulseError(f"--funnel {v!r}: expected NAME=RATE,RATE e.g. signup=0.3,0.4")
    return out
