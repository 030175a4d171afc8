"""The event-parser UDF jar, built from connectors/event-parser with Maven when missing
or when its sources changed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import CONNECTORS_DIR

PROJECT = CONNECTORS_DIR / "event-parser"
JAR = PROJECT / "target" / "clickpulse-event-parser.jar"


def _source_hash() -> str:
    h = hashlib.sha256()
    for p in sorted([PROJECT / "pom.xml", *PROJECT.glob("src/**/*.java")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def event_parser_jar() -> Path:
    stamp = PROJECT / "target" / ".source-hash"
    want = _source_hash()
    if JAR.exists() and stamp.exists() and stamp.read_text() == want:
        return JAR
    mvn = shutil.which("mvn")
    if not mvn:
        if JAR.exists():  # a prebuilt jar (e.g. in the Docker image) is fine without Maven
            return JAR
        raise ClickpulseError("Maven (mvn) is needed to build connectors/event-parser: apt-get install maven")
    res = subprocess.run([mvn, "-q", "-B", "package", "-DskipTests"], cwd=PROJECT, capture_output=True, text=True)
    if res.returncode != 0:
        raise ClickpulseError(f"building {PROJECT} failed: {(res.stdout + res.stderr).strip()[-600:]}")
    stamp.write_text(want)
    return JAR
