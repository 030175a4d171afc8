"""Errors that users can act on: one line that names the file, line, port or setting to fix."""

from __future__ import annotations

import sys


class ClickpulseError(Exception):
    """An error with a message a user can act on; printed without a traceback."""


def run_cli(app) -> int:
    try:
        # with standalone_mode=False click returns the code of typer.Exit instead of exiting
        rv = app(standalone_mode=False)
        if isinstance(rv, int):
            return rv
    except ClickpulseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SystemExit as e:  # click's own exits (usage errors, --help)
        return e.code if isinstance(e.code, int) else 0
    except Exception as e:  # noqa: BLE001 - keep errors that name a setting readable
        from .settings import SettingsError

        if isinstance(e, SettingsError):
            print(f"error: {e}", file=sys.stderr)
            return 1
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return e.exit_code
        if isinstance(e, click.exceptions.Abort):
            return 1
        raise
    return 0
