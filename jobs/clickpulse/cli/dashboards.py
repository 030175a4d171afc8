"""`clickpulse dashboards` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="dashboards commands", no_args_is_help=True)
