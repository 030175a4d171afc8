"""`clickpulse bench viewers` measures what it claims: every simulated viewer holds a stream
of its own gateway, every message it counts was received, and the gateway it started is
gone afterwards (the figures themselves are not tested)."""

from __future__ import annotations

import httpx
import pytest

from clickpulse.gateway import bench

pytestmark = pytest.mark.integration


def test_bench_viewers_holds_every_viewer_and_stops_its_gateway(synced, live_sites):
    gateway = bench.GatewayProcess(synced)
    try:
        logins = bench.gateway_logins(gateway.url, synced)
        assert logins[0].sites is None and logins[1].sites == [synced.superset_site_viewer_site]
        sites = bench.current_sites(gateway.url, logins[0].cookie)
        assert {s.site_id for s in live_sites} <= set(sites)
        run = bench.run_sse(synced, 40, 4, gateway, logins, sites, gateway.idle(1))
    finally:
        gateway.stop()
    assert (run.viewers, run.connected, run.refused, run.errors, run.dropped) == (40, 40, 0, 0, 0)
    assert run.messages >= 40            # at least the state each stream gets on connecting
    assert run.rss_mb > 0 and run.cpu_pct >= 0
    assert all(d >= 0 for d in run.delays_ms)
    assert gateway.proc.poll() is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(gateway.url + "/health", timeout=2)
