"""The live gateway against the real PostgreSQL and Superset: sign-in with the Superset
users, one site viewer's stream carrying only its site, an admin seeing every site, and
a request for another site's numbers refused."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from .conftest import remove_rows, set_users, write_live_rows

pytestmark = pytest.mark.integration


def login(url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    r = client.post("/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client


def read_events(client: httpx.Client, path: str, until, timeout: float = 15) -> tuple[list[dict], bytes]:
    """The stream's `live` events (and every raw byte received) until `until(payload)` holds."""
    events, raw = [], b""
    deadline = time.monotonic() + timeout
    with client.stream("GET", path, timeout=httpx.Timeout(5, read=timeout)) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        buffer = b""
        for chunk in r.iter_raw():
            raw += chunk
            buffer += chunk
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                fields = dict(line.split(": ", 1) for line in message.decode().splitlines() if ": " in line
                              and not line.startswith(":"))
                if fields.get("event") == "live":
                    payload = json.loads(fields["data"])
                    payload["tick"] = int(fields["id"])
                    events.append(payload)
                    if until(payload):
                        return events, raw
            assert time.monotonic() < deadline, f"no event satisfied the condition in {timeout} s: {events[-1:]}"
    raise AssertionError("the stream ended")


def test_nothing_is_served_without_signing_in(gateway):
    anonymous = httpx.Client(base_url=gateway, timeout=10)
    page = anonymous.get("/")
    assert page.status_code == 302 and page.headers["location"] == "/login"
    assert anonymous.get("/stream").status_code == 401
    assert anonymous.get("/api/live").status_code == 401
    forged = httpx.Client(base_url=gateway, timeout=10, cookies={"clickpulse_live": "eyJ1IjoiYWRtaW4iLCJzIjpudWxsLCJlIjo5OTk5OTk5OTk5fQ.x"})
    assert forged.get("/api/live").status_code == 401


def test_a_wrong_password_is_refused(gateway, synced):
    r = httpx.post(gateway + "/login", json={"username": synced.superset_admin_user, "password": "not-it"})
    assert r.status_code == 401 and "clickpulse_live" not in r.cookies


def test_the_admin_sees_every_site(gateway, synced, live_sites):
    for site in live_sites:   # written now, as the job keeps rewriting them: this minute's rows
        remove_rows(synced, site.site_id)
        write_live_rows(synced, site)
    written_ms = time.time() * 1000
    admin = login(gateway, synced.superset_admin_user, synced.superset_admin_password)
    deadline = time.monotonic() + 15
    while True:   # the next tick's read has them
        payload = admin.get("/api/live").json()
        if payload["tick"] > written_ms or time.monotonic() > deadline:   # a tick that began after the writes
            break
        time.sleep(0.25)
    for site in live_sites:
        assert site.site_id in payload["sites"]
        assert payload["users_now"]["by_site"][site.site_id] == site.users
    one = admin.get("/api/live", params={"site": live_sites[1].site_id}).json()
    assert one["tick"] > written_ms
    assert one["sites"] == [live_sites[1].site_id]
    assert {s.site_id for s in live_sites} <= set(one["site_options"])   # the filter still offers the others
    assert one["users_now"] == {**one["users_now"], "value": live_sites[1].users, "provisional": True}
    assert [p["page"] for p in one["top_pages"]["rows"]] == [live_sites[1].page]
    assert sum(one["events"]["totals"]) == 3 * live_sites[1].users   # this minute (or, at its turn, the last)
    assert one["funnel"]["steps"][0]["users"] == live_sites[1].users


def test_a_site_viewers_stream_carries_only_its_site(gateway, synced, live_sites, site_viewer):
    username, password, site = site_viewer
    mine, other = live_sites
    assert site == mine.site_id
    viewer = login(gateway, username, password)
    # the unfiltered stream: all the sites this viewer may see, which is one
    events, raw = read_events(viewer, "/stream", lambda p: p["users_now"]["value"] == mine.users)
    assert events[-1]["sites"] == events[-1]["site_options"] == [mine.site_id]
    # a change to both sites reaches the viewer as its own site's number only
    set_users(synced, mine, 55)
    set_users(synced, other, 99)
    events, raw_after = read_events(viewer, "/stream", lambda p: p["users_now"]["value"] == 55)
    assert events[-1]["users_now"]["by_site"] == {mine.site_id: 55}
    assert [p["page"] for p in events[-1]["top_pages"]["rows"]] == [mine.page]
    for blob in (raw, raw_after):
        assert other.site_id.encode() not in blob and other.page.encode() not in blob
    for payload in events:   # not even inside a total
        assert payload["sites"] == [mine.site_id] and payload["users_now"]["value"] in (mine.users, 41, 55)
    # the admin's stream has both changes
    admin = login(gateway, synced.superset_admin_user, synced.superset_admin_password)
    read_events(admin, "/stream", lambda p: p["users_now"]["by_site"].get(other.site_id) == 99
                and p["users_now"]["by_site"].get(mine.site_id) == 55)


def test_a_site_viewer_asking_for_another_site_is_refused(gateway, live_sites, site_viewer):
    username, password, _ = site_viewer
    viewer = login(gateway, username, password)
    other = live_sites[1].site_id
    for path in ("/stream", "/api/live", "/"):
        assert viewer.get(path, params={"site": other}).status_code == 403, path
    assert viewer.get("/api/live", params={"site": live_sites[0].site_id}).status_code == 200
