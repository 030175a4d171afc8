"""Debian's Chromium (CLICKPULSE_CHROMIUM) for code that launches Playwright's own browser.

Superset's screenshots (Alerts & Reports, feature flag PLAYWRIGHT_REPORTS_AND_THUMBNAILS)
call `playwright.chromium.launch()` with no executable path, so Playwright looks for the
builds it downloads itself (`playwright install`), which cannot be fetched here. Playwright
finds those builds under PLAYWRIGHT_BROWSERS_PATH by name and revision (its package's
browsers.json); this module lays out such a folder whose "builds" are links to Debian's
Chromium, and points PLAYWRIGHT_BROWSERS_PATH at it. Headless launches use the
`chromium-headless-shell` entry, headed ones `chromium`; both get the same binary, which
takes Playwright's `--headless` switch like the real headless shell.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import state_dir
from ..settings import Settings

# Playwright's name for each build -> its folder prefix and executable inside it (linux-x64)
BUILDS = {
    "chromium": ("chromium", "chrome-linux64/chrome"),
    "chromium-headless-shell": ("chromium_headless_shell", "chrome-headless-shell-linux64/chrome-headless-shell"),
}


def _revisions() -> dict[str, str]:
    # lazy: Playwright is installed with Superset (and the tests), not with the bare package
    import playwright

    browsers = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    return {b["name"]: b["revision"] for b in json.loads(browsers.read_text())["browsers"]}


def browsers_dir(settings: Settings, home: Path | None = None) -> Path:
    """The PLAYWRIGHT_BROWSERS_PATH whose builds are CLICKPULSE_CHROMIUM (created once)."""
    chromium = shutil.which(settings.chromium_path) or settings.chromium_path
    if not Path(chromium).exists():
        raise ClickpulseError(f"{settings.chromium_path} not found (screenshots of scheduled reports): "
                              "apt-get install chromium, or set CLICKPULSE_CHROMIUM")
    root = home or state_dir() / "playwright-browsers"
    revisions = _revisions()
    for name, (prefix, exe) in BUILDS.items():
        build = root / f"{prefix}-{revisions[name]}"
        target = build / exe
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_symlink() or os.readlink(target) != chromium:
            target.unlink(missing_ok=True)
            target.symlink_to(chromium)
        # the marker of a finished `playwright install`
        (build / "INSTALLATION_COMPLETE").touch()
    return root


def use_debian_chromium(settings: Settings) -> Path:
    """Point this process (and its children) at Debian's Chromium for Playwright."""
    root = browsers_dir(settings)
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(root)
    return root
