"""`clickpulse generate` and `clickpulse collect`: the two ways events get into Kafka."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    pass
