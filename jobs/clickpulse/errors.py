"""Errors that users can act on: one line that names the file, line, port or setting to fix."""

from __future__ import annotations

import sys


class ClickpulseError(Exception):
    """An error with a message a user can act on; printed without a traceback."""


def run_cli(app) -> int:
    from .settings import SettingsError

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
