"""Device class and browser family from a User-Agent header.

Deliberately coarse: the dashboards segment by desktop/mobile/tablet, and a handful of
ordered patterns classify the browsers that matter without a UA database to keep current.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Order matters: tablets also say "Android"/"Mobile", Edge and Opera also say "Chrome".
_TABLET = re.compile(r"iPad|Tablet|PlayBook|Kindle|Silk/|Nexus (?:7|9|10)\b|SM-T\d|\bTab\b", re.I)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Windows Phone|BlackBerry|BB10|Opera Mini|IEMobile|webOS", re.I)
_ANDROID = re.compile(r"Android", re.I)
_BROWSERS = [
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome Headless", re.compile(r"HeadlessChrome/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
    ("Internet Explorer", re.compile(r"MSIE |Trident/")),
]
_BOTS = re.compile(r"bot\b|crawler|spider|slurp|curl/|wget/|python-requests|httpx|aiohttp|Go-http-client", re.I)

# A UA longer than this is not a browser's; matching stays cheap whatever the client sends.
MAX_UA = 512


@lru_cache(maxsize=4096)
def parse(user_agent: str | None) -> tuple[str | None, str | None]:
    """(device, browser) for a User-Agent, each None when it cannot tell."""
    if not user_agent:
        return None, None
    ua = user_agent[:MAX_UA]
    if _BOTS.search(ua):
        return None, "bot"
    if _TABLET.search(ua) or (_ANDROID.search(ua) and not re.search(r"Mobile", ua)):
        device = "tablet"
    elif _MOBILE.search(ua):
        device = "mobile"
    elif "Mozilla/" in ua:
        device = "desktop"
    else:
        device = None
    browser = next((name for name, rx in _BROWSERS if rx.search(ua)), "other" if device else None)
    return device, browser
