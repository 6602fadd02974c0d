"""Key detail, every action and the server pages on every topology.

Single server, Sentinel, Cluster and shards: the page for a key decodes it
from the node that holds it (collections paged there too), each action lands
on that node (checked on the node itself with a raw client, never through the
backend), delete-by-pattern counts and deletes across every node, and each
node has its server page. The 100k-key walk is in test_admin_scale.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.cache import caches
from django.test import Client

from tests import admin_support as support
from tests.admin_support import BASE, key_url, keys_url

pytestmark = pytest.mark.django_db

SPREAD = 300  # keys for delete-by-pattern: enough to land on every node of every topology


@pytest.fixture
def topo_cache(request: pytest.FixtureRequest, settings: Any, redis_server: Any) -> Iterator[Any]:
    site = support.admin_cache_settings(request.param, redis_server, "topo", {"ITEMS_PER_PAGE": 20})
    for name, value in site.items():
        setattr(settings, name, value)
    cache = caches["default"]
    cache.clear()
    yield cache
    cache.clear()


@pytest.fixture
def superuser() -> Client:
    client = Client()
    client.force_login(support.User.objects.create_superuser("root", password=support.PASSWORD))
    return client


def holds(raw: redis.Redis, key: str) -> bool:
    try:
        return bool(raw.exists(key))
    except redis.exceptions.MovedError:  # a cluster node that does not own the key's slot
        return False


def holder(clients: dict[str, redis.Redis], key: str) -> redis.Redis:
    """The one node that holds ``key``."""
    holding = [raw for raw in clients.values() if holds(raw, key)]
    assert len(holding) == 1, (key, len(holding))
    return holding[0]


def page_text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def confirm(client: Client, url: str, **data: str) -> Any:
    return client.post(url, {**data, "confirm": "yes"})


@pytest.mark.parametrize("topo_cache", support.TOPOLOGIES, indirect=True)
def test_detail_and_actions_land_on_the_node_that_holds_the_key(
    topo_cache: Any, superuser: Client
) -> None:
    clients = support.node_clients(topo_cache)
    topo_cache.set("doc", {"title": "<b>hi</b>", "n": [1, 2]}, timeout=None)
    node = holder(clients, "topo:1:doc")

    text = page_text(superuser.get(key_url("topo:1:doc")))
    assert "&lt;b&gt;hi&lt;/b&gt;" in text and "&#x27;n&#x27;: [1, 2]" in text

    assert (
        confirm(superuser, key_url("topo:1:doc", action="expire"), seconds="90").status_code == 302
    )
    assert 85 <= node.ttl("topo:1:doc") <= 90
    assert confirm(superuser, key_url("topo:1:doc", action="persist")).status_code == 302
    assert node.ttl("topo:1:doc") == -1
    gone = confirm(superuser, key_url("topo:1:doc", action="delete"))
    assert gone.status_code == 302 and gone["Location"] == keys_url()
    assert not any(holds(raw, "topo:1:doc") for raw in clients.values())
    flags = list(LogEntry.objects.order_by("id").values_list("action_flag", flat=True))
    assert flags == [CHANGE, CHANGE, DELETION]


@pytest.mark.parametrize("topo_cache", support.TOPOLOGIES, indirect=True)
def test_a_collection_is_paged_on_its_node(topo_cache: Any, superuser: Client) -> None:
    clients = support.node_clients(topo_cache)
    fields = {f"f{i}": f"value-{i}" for i in range(70)}
    topo_cache.hset("h", mapping=fields)
    holder(clients, "topo:1:h")
    seen: list[str] = []
    params: dict[str, str] = {}
    for _ in range(100):
        text = page_text(superuser.get(key_url("topo:1:h"), params))
        assert ">hash" in text and "<th>Elements</th><td>70<" in text
        seen += re.findall(r"&#x27;(value-\d+)&#x27;", text)
        following = re.search(r'href="\?cursor=(\d+)" id="next-items"', text)
        if following is None:
            break
        params = {"cursor": following[1]}
    assert sorted(set(seen)) == sorted(fields.values())


@pytest.mark.parametrize("topo_cache", support.TOPOLOGIES, indirect=True)
def test_delete_by_pattern_covers_every_node(topo_cache: Any, superuser: Client) -> None:
    clients = support.node_clients(topo_cache)
    topo_cache.set_many({f"gone:{i}": i for i in range(SPREAD)})
    topo_cache.set_many({f"kept:{i}": i for i in range(10)})
    on_node = {
        address: sum(1 for _ in raw.scan_iter(match="topo:1:gone:*"))
        for address, raw in clients.items()
    }
    assert sum(on_node.values()) == SPREAD
    assert all(on_node.values()), on_node  # the pattern's keys are on every node
    url = f"{BASE}default/delete-pattern/"
    asked = superuser.get(url, {"pattern": "gone:*"})
    assert f'id="count">{SPREAD}<' in page_text(asked)
    assert confirm(superuser, url, pattern="gone:*").status_code == 302
    for raw in clients.values():
        assert not list(raw.scan_iter(match="topo:1:gone:*"))
    assert (
        sum(sum(1 for _ in raw.scan_iter(match="topo:1:kept:*")) for raw in clients.values()) == 10
    )
    entry = LogEntry.objects.get()
    assert entry.get_change_message() == f"Deleted {SPREAD} keys matching topo:1:gone:*"


@pytest.mark.parametrize("topo_cache", support.TOPOLOGIES, indirect=True)
def test_every_node_has_its_server_page(topo_cache: Any, superuser: Client) -> None:
    clients = support.node_clients(topo_cache)
    for address, raw in clients.items():
        response = superuser.get(f"{BASE}default/server/", {"node": address})
        text = page_text(response)
        assert response.status_code == 200, address
        assert 'id="info-server"' in text and 'id="info-memory"' in text
        port = raw.connection_pool.connection_kwargs["port"]
        assert re.search(rf"tcp_port</t[dh]> ?<td[^>]*>{port}<", text), address
