"""`make bench` runs `clickpulse bench all`, the quick version of every bench: each bench
command must take the arguments `all` gives it, so that a new bench cannot break it."""

from __future__ import annotations

import pytest
import typer.main

from clickpulse.cli import app
from clickpulse.cli.bench import QUICK_ARGS

BENCH = typer.main.get_command(app).commands["bench"]
NAMES = sorted(n for n in BENCH.commands if n != "all")


@pytest.mark.parametrize("name", NAMES)
def test_every_bench_takes_its_quick_arguments(name):
    command = BENCH.commands[name]
    # parsing alone: make_context raises on an unknown option or a bad value
    ctx = command.make_context(name, list(QUICK_ARGS.get(name, ["--quick"])))
    assert ctx.params, name


def test_quick_arguments_name_only_existing_benches():
    assert set(QUICK_ARGS) <= set(NAMES)
