"""docs/design.md is the contract between the modules; these checks keep the parts of it
that can be checked true: the table of grains (against the metric files' `-- key:` headers
and the migrations' tables), every path and Python name it mentions, and the layer order
of the package's imports."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from clickpulse.runner.metric import discover

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jobs" / "clickpulse"
DESIGN = (ROOT / "docs" / "design.md").read_text()


def _section(title: str) -> str:
    start = DESIGN.index(f"\n## {title}")
    end = DESIGN.find("\n## ", start + 1)
    return DESIGN[start:end if end > 0 else None]


def _table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def grain_table() -> dict[str, dict]:
    """table -> key, the other columns the grain cell names ("(+ window_end)"), value columns."""
    out = {}
    for tables, grain, values in _table_rows(_section("Tables")):
        key = _names(grain.split("(")[0])
        extra = [n for part in re.findall(r"\(\+ ([^;)]*)", grain) for n in _names(part)]
        value_columns = _names(re.sub(r"\([^)]*\)", "", values))
        for table in re.findall(r"`(\w+)`", tables):
            out[table] = {"key": key, "extra": extra, "values": value_columns}
    return out


def migrated_tables() -> dict[str, dict]:
    """table -> columns and primary key, from every CREATE TABLE in sql/migrations/, the
    columns later ALTER TABLE ... ADD COLUMN statements add and the keys later ALTER TABLE
    ... ADD PRIMARY KEY statements replace (V160: the promoted properties)."""
    out = {}
    for path in sorted((ROOT / "sql" / "migrations").glob("*.sql")):
        text = path.read_text()
        for name, body in re.findall(r"ALTER TABLE (\w+)\s+(ADD COLUMN .*?);", text, re.S):
            out[name]["columns"] += re.findall(r"ADD COLUMN (?:IF NOT EXISTS )?(\w+)", body)
        for name, key in re.findall(r"ALTER TABLE (\w+)\s+DROP CONSTRAINT \w+,\s*ADD PRIMARY KEY \(([^)]*)\);", text):
            out[name]["key"] = _names(key)
        for name, body in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*?)\n\);", text, re.S):
            lines = [line.strip() for line in body.strip().splitlines() if line.strip() and not line.strip().startswith("--")]
            columns = [line for line in lines if not re.match(r"(primary key|unique|check|constraint)\b", line, re.I)]
            pk = next((line for line in lines if line.upper().startswith("PRIMARY KEY")), "")
            key = _names(pk[pk.index("(") + 1:pk.rindex(")")]) if pk else \
                [line.split()[0] for line in columns if "PRIMARY KEY" in line.upper()]
            out[name] = {"columns": [line.split()[0] for line in columns], "key": key}
    return out


def test_the_grain_table_has_one_row_per_metric_file():
    assert sorted(grain_table()) == sorted(m.name for m in discover())


@pytest.mark.parametrize("metric", discover(), ids=lambda m: m.name)
def test_a_tables_grain_is_its_metric_key_and_its_primary_key(metric):
    documented, table = grain_table()[metric.name], migrated_tables()[metric.table]
    assert documented["key"] == metric.key == table["key"], \
        f"docs/design.md, {metric.rel} `-- key:` and the migration disagree on {metric.table}'s key"
    assert sorted(documented["key"] + documented["extra"] + documented["values"]) == sorted(table["columns"]), \
        f"docs/design.md's columns of {metric.table} are not the migration's"


# --- paths and names ---------------------------------------------------------------------------

RUNTIME = ("reports/", ".clickpulse", "~", "bench-")  # made when the stack or a bench runs
MODULE_NAME = re.compile(r"^[\w-]+\.(io|org|com|net|dev)/")  # a Go or Java module, not a path
PATH = re.compile(r"`([\w.<>*-]*/[\w./<>*-]*|[\w<>*-]+\.(?:py|sql|yaml|json|toml|java|md|sh))`")


def _exists(named: str) -> bool:
    """At the repository's root, in the package, or (a path relative to the folder its row
    is about, such as `runner/jars.py`) below some folder of the repository."""
    pattern = re.sub(r"<[^>]*>", "*", named.rstrip("/"))
    for base in (ROOT, PACKAGE):
        if list(base.glob(pattern)):
            return True
    return any(ROOT.glob(f"[!.]*/**/{pattern}"))


def test_every_path_the_page_names_exists():
    named = {p for p in PATH.findall(DESIGN)
             if re.match(r"\w", p) and not p.startswith(RUNTIME) and not MODULE_NAME.match(p)}
    assert len(named) > 20
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"docs/design.md names paths that do not exist: {missing}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_python_name_the_page_names_exists():
    dotted = set(re.findall(r"(?<![\w.])(clickpulse(?:\.\w+)+)", DESIGN))  # not Java's dev.clickpulse...
    dotted |= {f"clickpulse.{m}" for m in re.findall(r"`(reports\.\w+|db\.\w+)", DESIGN)}
    dotted |= {f"clickpulse.stack.services.{f}" for f in re.findall(r"services\.(\w+)\(", DESIGN)}
    assert len(dotted) > 5
    missing = sorted(d for d in dotted if not _resolves(d))
    assert not missing, f"docs/design.md names Python objects that do not exist: {missing}"


# --- layers ------------------------------------------------------------------------------------

def layers() -> dict[str, int]:
    """The order the page gives: `cli | ingest, dashboards | ... | paths, errors` -> rank."""
    line = next(line.strip() for line in DESIGN.splitlines() if line.strip().startswith("cli |"))
    return {name: rank for rank, layer in enumerate(line.split("|")) for name in _names(layer)}


def _part(module: str) -> str:
    """The layer a module of the package belongs to: its subpackage or top-level module."""
    return module.split(".")[1] if "." in module else module


def import_edges() -> set[tuple[str, str, str]]:
    """(importing file, its part, imported part) for the package's module-level imports
    (imports only for type annotations, under `if TYPE_CHECKING:`, do not count)."""
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                targets = [".".join(base + ([node.module] if node.module else []) + ([a.name] if not node.module else []))
                           for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module.startswith("clickpulse."):
                targets = [node.module]
            else:
                continue
            for target in targets:
                if _part(target) != _part(module):
                    edges.add((str(rel), _part(module), _part(target)))
    return edges


def test_the_package_imports_only_downward():
    rank = layers()
    edges = import_edges()
    assert len(edges) > 20
    unknown = sorted({p for _, a, b in edges for p in (a, b)} - set(rank) - {"__main__"})
    assert not unknown, f"parts of the package missing from docs/design.md's layers: {unknown}"
    upward = sorted(f"{f}: {a} -> {b}" for f, a, b in edges if a != "__main__" and rank[a] >= rank[b])
    assert not upward, f"imports against the layer order of docs/design.md: {upward}"
