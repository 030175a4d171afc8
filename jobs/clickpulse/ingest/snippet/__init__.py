"""The browser snippet and the demo shop, as the collector serves them.

The snippet is hand-written small and minified here by dropping comment lines and
indentation (its source follows the two rules stated at its top), so serving it needs
no JavaScript toolchain. tests/ingest/test_snippet.py checks the served size and runs it
in Chromium.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
SITE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEMO_SITE = "demo"


_PUNCT = set("{}()[];,=:+-*<>!?&|")


def _squeeze(code: str) -> str:
    """Join lines and drop blanks next to punctuation, leaving string literals alone."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if c in "'\"":
            j = i + 1
            while code[j] != c:
                j += 2 if code[j] == "\\" else 1
            out.append(code[i:j + 1])
            i = j + 1
        elif c.isspace():
            while i < n and code[i].isspace():
                i += 1
            prev = out[-1][-1] if out else ";"
            nxt = code[i] if i < n else ";"
            if prev not in _PUNCT and nxt not in _PUNCT:
                out.append(" ")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def minify(source: str) -> str:
    """Drop comment lines (block comments start a line, line comments fill one), then
    blanks. Sound because the source ends every statement with a semicolon and has no
    template literals; tests/ingest/test_snippet.py runs the result in Chromium."""
    lines, in_block = [], False
    for line in source.splitlines():
        s = line.strip()
        if in_block:
            in_block = not s.endswith("*/")
            continue
        if s.startswith("/*"):
            in_block = not s.endswith("*/")
            continue
        if not s or s.startswith("//"):
            continue
        lines.append(s)
    return _squeeze("\n".join(lines)) + "\n"


@lru_cache(maxsize=1)
def snippet() -> bytes:
    return minify((HERE / "clickpulse.js").read_text()).encode()


@lru_cache(maxsize=1)
def _demo_template() -> str:
    return (HERE / "demo.html").read_text()


def demo_page(site: str | None, write_key: str | None) -> str:
    """The demo shop for `site` (default `demo`); links keep an explicit ?site= so that a
    test's clicks stay under its own site id."""
    qs = ""
    if site and SITE_RE.match(site):
        qs = "?site=" + site
    else:
        site = DEMO_SITE
    key_attr = f' data-key="{html.escape(write_key)}"' if write_key else ""
    return (_demo_template().replace("{{SITE}}", html.escape(site)).replace("{{QS}}", html.escape(qs))
            .replace("{{KEY_ATTR}}", key_attr))
