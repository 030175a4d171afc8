"""Pinned jars from Maven Central: the Flink connectors (connectors/jars.toml) and the
Kafka broker's classpath (infra/kafka/pom.xml). Downloads are verified and cached in
~/.cache/clickpulse so that `make clean` and fresh clones do not fetch them again."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import ClickpulseError
from .paths import CONNECTORS_DIR, INFRA_DIR, cache_dir

MAVEN_REPO = os.environ.get("MAVEN_REPO_URL", "https://repo1.maven.org/maven2").rstrip("/")
JARS_FILE = CONNECTORS_DIR / "jars.toml"


@dataclass(frozen=True)
class Jar:
    name: str
    coordinates: str
    sha1: str
    # "flink": linked into the local cluster's lib/ and shipped with jobs; "zookeeper": the
    # HA coordination server of the multi-node stack.
    use: str = "flink"

    @property
    def filename(self) -> str:
        _, artifact, version = self.coordinates.split(":")
        return f"{artifact}-{version}.jar"

    @property
    def url(self) -> str:
        group, artifact, version = self.coordinates.split(":")
        return f"{MAVEN_REPO}/{group.replace('.', '/')}/{artifact}/{version}/{self.filename}"


def pinned_jars() -> list[Jar]:
    try:
        data = tomllib.loads(JARS_FILE.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ClickpulseError(f"{JARS_FILE}: {e}") from e
    return [Jar(**entry) for entry in data["jar"]]


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(jar: Jar, dest: Path, progress=None) -> None:
    tmp = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(jar.url, timeout=60) as resp, tmp.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0)
            task = progress.add_task(f"download {jar.filename}", total=total or None) if progress else None
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                if task is not None:
                    progress.advance(task, len(chunk))
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ClickpulseError(
            f"could not download {jar.url}: {e} (set MAVEN_REPO_URL to a reachable Maven mirror)"
        ) from e
    got = _sha1(tmp)
    if got != jar.sha1:
        tmp.unlink(missing_ok=True)
        raise ClickpulseError(
            f"{jar.filename}: SHA-1 {got} does not match {jar.sha1} pinned in {JARS_FILE}"
        )
    tmp.replace(dest)


def connector_jars(progress=None) -> list[Path]:
    """The connector jars and the PostgreSQL driver, downloaded if missing."""
    return _fetch("flink", progress)


def zookeeper_jars(progress=None) -> list[Path]:
    """ZooKeeper's server jars (connectors/jars.toml, `use = "zookeeper"`), downloaded if missing."""
    return _fetch("zookeeper", progress)


def _fetch(use: str, progress=None) -> list[Path]:
    target = cache_dir() / "jars"
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in (j for j in pinned_jars() if j.use == use):
        dest = target / jar.filename
        if not dest.exists() or _sha1(dest) != jar.sha1:
            _download(jar, dest, progress)
        paths.append(dest)
    return paths


def _maven_version(pom: Path, prop: str) -> str:
    m = re.search(rf"<{prop}>([^<]+)</{prop}>", pom.read_text())
    if not m:
        raise ClickpulseError(f"{pom}: property <{prop}> not found")
    return m.group(1)


def kafka_version() -> str:
    return _maven_version(INFRA_DIR / "kafka" / "pom.xml", "kafka.version")


def kafka_classpath() -> Path:
    """A folder with the Kafka broker jars (resolved with Maven from infra/kafka/pom.xml)."""
    pom = INFRA_DIR / "kafka" / "pom.xml"
    libs = cache_dir() / f"kafka-{kafka_version()}" / "libs"
    stamp = libs / ".complete"
    if stamp.exists() and stamp.read_text() == _sha1(pom):
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise ClickpulseError("Maven (mvn) is needed to fetch Kafka's jars: apt-get install maven")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ClickpulseError(
            f"mvn could not resolve Kafka from {pom}: {(res.stdout + res.stderr).strip()[-400:]}"
        )
    stamp.write_text(_sha1(pom))
    return libs
