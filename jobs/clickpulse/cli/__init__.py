"""The `clickpulse` command line. `clickpulse --help` is the manual; every command has
an example in its help text (tests/test_cli_help.py checks that)."""

from __future__ import annotations

import sys

import typer

from ..errors import ClickpulseError
from ..settings import SettingsError
from . import alerts, bench, dashboards, db, demo, gateway, ingest, jobs, metrics, stack, verify

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
app.add_typer(alerts.app, name="alerts")
ingest.register(app)
app.command("demo")(demo.demo)
app.command("verify")(verify.verify)
app.command("gateway")(gateway.gateway)


def main() -> None:
    sys.exit(run_cli(app))


def run_cli(app) -> int:
    try:
        # with standalone_mode=False click returns the code of typer.Exit instead of exiting
        rv = app(standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except (ClickpulseError, SettingsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        # click's usage errors (typer vendors click, so match by shape, not by class)
        if hasattr(e, "show") and hasattr(e, "exit_code"):
            e.show()
            return e.exit_code
        if type(e).__name__ == "Abort":
            return 1
        raise
