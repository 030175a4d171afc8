"""A metric file: `sql/metrics/<table>.sql`, a header of `-- name: value` lines and one
SELECT whose columns are the table's columns.

Header fields: the first line is the purpose; `grain:`, `window:`, `watermark:` document
the metric; `key:` (required) lists the primary-key columns of the table, which are also
the upsert key of the JDBC sink; `switch:` names a boolean setting (its environment
variable) that turns the metric off when false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import METRICS_DIR, ROOT
from .templates import render_template

HEADER_FIELD = re.compile(r"^--\s*([a-z_]+):\s*(.*)$")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@dataclass
class Metric:
    name: str
    path: Path
    sql: str  # the SELECT, with the header's lines blanked so line numbers match the file
    key: list[str]
    header: dict[str, str] = field(default_factory=dict)

    @property
    def rel(self) -> str:
        try:
            return str(self.path.relative_to(ROOT))
        except ValueError:
            return str(self.path)

    @property
    def table(self) -> str:
        return self.name

    @property
    def switch(self) -> str | None:
        return self.header.get("switch") or None


def render(path: Path, text: str) -> str:
    """Templated metrics (funnels) are rendered; plain files are returned as they are."""
    return render_template(path, text)


def load(path: Path) -> Metric:
    if not NAME.match(path.stem):
        raise ClickpulseError(f"{path}:1: metric files are named <table>.sql with a lower-case table name")
    text = render(path, path.read_text())
    header: dict[str, str] = {}
    body_lines = []
    in_header = True
    last_field = None
    for line in text.splitlines():
        stripped = line.strip()
        if in_header and (stripped.startswith("--") or not stripped):
            m = HEADER_FIELD.match(stripped)
            if m:
                last_field = m.group(1)
                header[last_field] = m.group(2).strip()
            elif last_field and stripped.startswith("--  "):
                # an indented comment line continues the field above it
                header[last_field] += " " + stripped[2:].strip()
            body_lines.append("")
            continue
        in_header = False
        body_lines.append(line)
    if "key" not in header:
        raise ClickpulseError(f"{path}:1: header has no `-- key: col, ...` line (the table's primary key)")
    key = [k.strip() for k in header["key"].split(",") if k.strip()]
    sql = "\n".join(body_lines).rstrip().rstrip(";")
    if not sql.strip():
        raise ClickpulseError(f"{path}:1: no SELECT after the header")
    if ";" in _strip_strings_and_comments(sql):
        line = sql[: sql.index(";")].count("\n") + 1
        raise ClickpulseError(f"{path}:{line}: one SELECT per metric file (found a `;` before the end)")
    return Metric(name=path.stem, path=path, sql=sql, key=key, header=header)


def _strip_strings_and_comments(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    return re.sub(r"--[^\n]*", "", sql)


def discover(names: list[str] | None = None, directory: Path | None = None) -> list[Metric]:
    directory = directory or METRICS_DIR
    paths = sorted(directory.glob("*.sql"))
    if names:
        wanted = set(names)
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            raise ClickpulseError(f"no metric file for {', '.join(sorted(unknown))} in {directory}")
        paths = [p for p in paths if p.stem in wanted]
    return [load(p) for p in paths]
