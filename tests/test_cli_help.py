"""Every command documents itself: --help works and shows at least one example."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from clickpulse.cli import app


def _is_group(cmd) -> bool:
    return hasattr(cmd, "commands")


def _commands(group, prefix=()):
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path, cmd
        if _is_group(cmd):
            yield from _commands(cmd, path)


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def test_there_are_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    for expected in ("stack up", "stack down", "stack status", "stack env", "stack stop", "demo"):
        assert expected in names, f"missing command: clickpulse {expected}"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_and_example(path, cmd):
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert (cmd.help or "").strip(), f"`clickpulse {' '.join(path)}` has no help text"
    if not _is_group(cmd):
        assert "Example" in (cmd.help or ""), f"`clickpulse {' '.join(path)}` --help shows no example"
