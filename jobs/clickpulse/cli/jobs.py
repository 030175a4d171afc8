"""`clickpulse jobs` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="jobs commands", no_args_is_help=True)
