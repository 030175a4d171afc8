"""The README is checked against the code: every `clickpulse ...` command it shows exists,
and the banner it quotes is the one `make demo` prints."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from clickpulse.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COMMAND = typer.main.get_command(app)


def _exists(words: list[str]) -> bool:
    cmd = COMMAND
    for w in words:
        if not hasattr(cmd, "commands"):
            return True          # the rest are arguments
        if w.startswith("-"):
            return True
        if w not in cmd.commands:
            return False
        cmd = cmd.commands[w]
    return True


def test_every_command_in_the_readme_exists():
    shown = re.findall(r"(?<![\w/.-])clickpulse ((?:[a-z][a-z-]* ?){1,3})", README)
    assert len(shown) > 20
    prose = {"is running"}    # the banner's first line, not a command
    missing = sorted({s.strip() for s in shown if s.strip() not in prose and not _exists(s.split())})
    assert not missing, f"README shows commands that do not exist: {missing}"


def test_demo_banner_matches_the_code():
    demo = (ROOT / "jobs/clickpulse/cli/demo.py").read_text()
    banner = README[README.index("```\nclickpulse is running") + 4:]
    banner = banner[: banner.index("```")]
    for line in banner.splitlines():
        label = line.strip().split("  ")[0]
        if label:
            assert label in demo, f"README banner line {line!r} is not what demo prints"


def _command_table() -> list[str]:
    table = README[README.index("| command | what it does |"):]
    return [row for row in table[: table.index("\n\n")].splitlines()[2:]]


def test_the_command_table_lists_every_command_of_every_group():
    rows = _command_table()
    for group, command in COMMAND.commands.items():
        group_rows = [row for row in rows if row.startswith(f"| `clickpulse {group}")]
        assert group_rows, f"README's command table has no row for `clickpulse {group}`"
        for sub in getattr(command, "commands", {}):
            shown = re.compile(rf"`(?:clickpulse )?(?:{group} )?{re.escape(sub)}[` ]")
            assert any(shown.search(row) for row in group_rows), \
                f"README's command table does not show `clickpulse {group} {sub}`"
