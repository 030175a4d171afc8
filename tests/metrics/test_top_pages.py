"""top_pages_1m / top_pages_1h: the 10 most viewed pages per site and window."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth
from scenarios import MIN, SEC, T0, event, records

# Minute 0 on site s1: /p0 gets 12 views, /p1 11, ... /p11 1 view; /a and /b tie at 5
# views with /p7; clicks on /p11 are not views. Minute 1: two pages, one user each.
ITEMS = []
n = 0
for i in range(12):
    for v in range(12 - i):
        ITEMS.append(event(f"v{n}", 1 * SEC + n * 10, user=f"u{v % 3}", page=f"/p{i}"))
        n += 1
for page in ("/b", "/a"):
    for v in range(5):
        ITEMS.append(event(f"v{n}", 1 * SEC + n * 10, user=f"u{v}", page=page))
        n += 1
ITEMS += [event(f"c{i}", 50 * SEC + i, "click", page="/p11") for i in range(20)]
ITEMS += [event("m1", 61 * SEC, user="x", page="/later"), event("m2", 62 * SEC, user="y", page="/later"),
          event("m3", 63 * SEC, user="y", page="/else")]
ITEMS.sort(key=lambda e: e["ts"])


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "top_pages_1m", "top_pages_1h")


def test_top_ten_of_a_minute_with_ties_broken_by_path(tables):
    minute0 = sorted((r for r in tables["top_pages_1m"] if r["window_start"] == ts_utc(T0)), key=lambda r: r["rank"])
    assert [(r["page"], r["views"]) for r in minute0] == [
        ("/p0", 12), ("/p1", 11), ("/p2", 10), ("/p3", 9), ("/p4", 8), ("/p5", 7), ("/p6", 6),
        ("/a", 5), ("/b", 5), ("/p7", 5),      # a three-way tie at 5 views: by path
    ]
    assert [r["rank"] for r in minute0] == list(range(1, 11))
    assert {r["page"]: r["unique_users"] for r in minute0}["/p0"] == 3    # u0, u1, u2
    assert {r["page"]: r["unique_users"] for r in minute0}["/a"] == 5


def test_next_minute(tables):
    minute1 = {r["page"]: (r["views"], r["unique_users"], r["rank"])
               for r in tables["top_pages_1m"] if r["window_start"] == ts_utc(T0 + MIN)}
    assert minute1 == {"/later": (2, 2, 1), "/else": (1, 1, 2)}


def test_hour_window(tables):
    hour = sorted(tables["top_pages_1h"], key=lambda r: r["rank"])
    assert hour[0]["page"] == "/p0" and hour[0]["views"] == 12
    assert len(hour) == 10 and all(r["window_end"] == ts_utc(T0 + 60 * MIN) for r in hour)


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
