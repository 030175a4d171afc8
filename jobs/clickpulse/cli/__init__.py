"""The `clickpulse` command line. `clickpulse --help` is the manual; every command has
an example in its help text (tests/test_cli_help.py checks that)."""

from __future__ import annotations

import sys

import typer

from . import bench, dashboards, db, demo, ingest, jobs, metrics, stack, verify

app = typer.Typer(
    name="clickpulse",
    help=(
        "Real-time product analytics: Kafka -> Flink SQL -> PostgreSQL/TimescaleDB -> Superset.\n\n"
        "Start everything with `make demo`, then point other tools at it with\n"
        "`eval \"$(clickpulse stack env)\"`."
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

app.add_typer(stack.app, name="stack")
app.add_typer(jobs.app, name="jobs")
app.add_typer(db.app, name="db")
app.add_typer(metrics.app, name="metrics")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(bench.app, name="bench")
ingest.register(app)
app.command("demo")(demo.demo)
app.command("verify")(verify.verify)


def main() -> None:
    from ..errors import run_cli

    sys.exit(run_cli(app))
