"""The key browser on a 100k-key keyspace, on every topology: a page is one bounded batch.

What the servers ran is read from their own INFO commandstats before and
after a page, per node: exactly one SCAN on each node that is not done (with
the page's COUNT), no KEYS, and per key found one TYPE, one PTTL and one
MEMORY USAGE on the node that holds it, nothing else. On Cluster and shards
every part of the key space is walked and each key names its node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.test import Client

from tests import admin_support as support
from tests.admin_support import keys_url

pytestmark = pytest.mark.django_db

KEYS = 100_000
NEEDLES = 7
# Big enough that a walk is a couple of hundred pages (each page is a request
# and two INFO readings per node), small enough that 100k keys take many pages.
SCAN_COUNT = 500
COUNTED = ["scan", "keys", "type", "pttl", "memory|usage", "get", "dbsize"]


def fill(cache: Any) -> None:
    for start in range(0, KEYS, 5000):
        cache.set_many({f"hay:{i}": i for i in range(start, start + 5000)}, timeout=None)
    cache.set_many({f"needle:{i}": i for i in range(NEEDLES)}, timeout=None)


@pytest.fixture
def big_cache(request: pytest.FixtureRequest, settings: Any, redis_server: Any) -> Iterator[Any]:
    site = support.admin_cache_settings(
        request.param, redis_server, "scale", {"SCAN_COUNT": SCAN_COUNT}
    )
    for name, value in site.items():
        setattr(settings, name, value)
    cache = caches["default"]
    cache.clear()
    fill(cache)
    yield cache
    cache.clear()


def counts(clients: dict[str, redis.Redis]) -> dict[str, dict[str, int]]:
    return {address: support.command_calls(raw, COUNTED) for address, raw in clients.items()}


@pytest.mark.parametrize("big_cache", support.TOPOLOGIES, indirect=True)
def test_a_page_is_one_bounded_scan_batch_per_node(big_cache: Any) -> None:
    clients = support.node_clients(big_cache)
    assert sum(raw.dbsize() for raw in clients.values()) == KEYS + NEEDLES
    root = support.User.objects.create_superuser("root", password=support.PASSWORD)
    browser = Client()
    browser.force_login(root)
    params = {"pattern": "needle:*"}
    found: dict[str, str] = {}
    pages = 0
    while True:
        before = counts(clients)
        response = browser.get(keys_url(), params)
        after = counts(clients)
        assert response.status_code == 200
        text = re.sub(r"\s+", " ", response.content.decode())
        pages += 1
        cursor = re.search(r'cursor=([0-9.-]+)" id="next-page"', text)
        expected_scans = _not_done(params.get("cursor", ""), len(clients))
        rows = re.findall(
            r'class="key-row"> <td class="mono"><a [^>]+>(scale:1:needle:\d+)</a>'
            r"(?:.*?<td class=\"mono\">([^<]+)</td>)?",
            text,
        )
        on_page: dict[str, int] = dict.fromkeys(clients, 0)
        for key, node in rows:
            node = node or next(iter(clients))
            on_page[node] += 1
            found[key] = node
        for (address, was), now, scans in zip(
            before.items(), after.values(), expected_scans, strict=True
        ):
            delta = {name: now[name] - was[name] for name in COUNTED}
            assert delta["scan"] == scans, (address, delta)
            assert delta["keys"] == 0 and delta["get"] == 0 and delta["dbsize"] == 0
            for name in ("type", "pttl", "memory|usage"):
                assert delta[name] == on_page[address], (address, name, delta)
        if cursor is None:
            break
        params["cursor"] = cursor[1]
        assert pages < KEYS, "the walk never ends"
    # The walk covered every node and named the node of each key.
    assert sorted(found) == sorted(f"scale:1:needle:{i}" for i in range(NEEDLES))
    for key, node in found.items():
        assert clients[node].exists(key), (key, node)
    # COUNT bounds each page: a node's 100k / n keys take about that over COUNT
    # pages (SCAN looks at about COUNT buckets a call), never one big batch.
    print(f"{pages} pages over {len(clients)} nodes")
    assert pages >= KEYS // len(clients) // (SCAN_COUNT * 4)
    if len(clients) > 1:
        assert "th>Node</th>" in text


def _not_done(cursor: str, nodes: int) -> list[int]:
    """1 for each node the page scans (its cursor is not ``-``), 0 for the others."""
    pieces = cursor.split(".") if cursor else ["0"] * nodes
    return [0 if piece == "-" else 1 for piece in pieces]
