"""`clickpulse gateway`: the live gateway (Live page and Server-Sent Events)."""

from __future__ import annotations

import typer

from ..gateway import server
from ..stack.secrets import ensure_secrets


def gateway(
    host: str = typer.Option(None, "--host", help="Address to listen on (default GATEWAY_HOST)."),
    port: int = typer.Option(None, "--port", help="Port to listen on (default GATEWAY_PORT)."),
) -> None:
    """Serve the Live page: users right now, events per minute by type, top pages now and the
    live funnel, filterable by site and segment, pushed to the browser over Server-Sent
    Events. The live tables are read once per GATEWAY_TICK_MS for all viewers; sign-in uses
    the Superset users, and a site viewer receives only its own site's numbers.

    Example: clickpulse gateway --port 8095   (then open http://127.0.0.1:8095/)
    """
    settings = ensure_secrets()
    server.run(settings, host or settings.gateway_host, port or settings.gateway_port)
