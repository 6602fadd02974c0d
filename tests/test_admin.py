"""The admin's Cache section on the session server: pages, values, actions, permissions.

Every page is fetched through Django's admin site with Django's test client,
signed in as users holding exactly the permissions each case names. The
multi-server topologies are in test_admin_topologies.py (detail, actions, server
pages) and test_admin_scale.py (the 100k-key walk),
the real browser in test_admin_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from django_async_redis.admin import server as server_page
from django_async_redis.admin.conf import admin_settings
from tests import admin_support as support
from tests.admin_support import BASE, key_url, keys_url

pytestmark = pytest.mark.django_db

OURS = "django_async_redis.cache.RedisCache"


@pytest.fixture
def site(settings: Any, redis_server: Any, flushed_redis: redis.Redis) -> Iterator[redis.Redis]:
    """The admin site, with our default cache, a codec-heavy one and a foreign one."""
    for name, value in support.SITE_SETTINGS.items():
        setattr(settings, name, value)
    settings.CACHES = {
        "default": {"BACKEND": OURS, "LOCATION": redis_server.url(), "KEY_PREFIX": "site"},
        "packed": {
            "BACKEND": OURS,
            "LOCATION": redis_server.url(),
            "KEY_PREFIX": "packed",
            "VERSION": 3,
            "OPTIONS": {
                "SERIALIZER": "django_async_redis.serializers.json.JSONSerializer",
                "COMPRESSOR": "django_async_redis.compressors.zlib.ZlibCompressor",
                "SIGNING": True,
            },
        },
        "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    yield flushed_redis


@pytest.fixture
def superuser() -> Client:
    client = Client()
    client.force_login(support.User.objects.create_superuser("root", password=support.PASSWORD))
    return client


def page_text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# overview ---------------------------------------------------------------------------


def test_the_section_is_on_the_admin_index(site: redis.Redis, superuser: Client) -> None:
    index = superuser.get("/admin/")
    assert index.status_code == 200
    assert "Cache" in page_text(index)
    assert BASE in page_text(index)


def test_overview_lists_our_aliases_and_their_servers(
    site: redis.Redis, superuser: Client, redis_server: Any
) -> None:
    caches["default"].set_many({f"k{i}": i for i in range(7)})
    response = superuser.get(BASE)
    assert response.status_code == 200
    text = page_text(response)
    assert 'id="alias-default"' in text and 'id="alias-packed"' in text
    assert 'id="alias-local"' not in text  # not ours: not shown
    assert redis_server.address in text
    assert redis_server.version in text
    assert "JSONSerializer, ZlibCompressor, signing on" in text
    # DBSIZE of the database, as manage.py redis_cache info says.
    assert re.search(r'class="num keys">7<', text)


def test_overview_shows_metrics_when_they_are_on(
    site: redis.Redis, superuser: Client, settings: Any
) -> None:
    settings.CACHES["default"]["OPTIONS"] = {"METRICS": True}
    caches["default"].set("a", 1)
    caches["default"].get("a")
    caches["default"].get("missing")
    text = page_text(superuser.get(BASE))
    assert "METRICS (this process)" in text
    assert re.search(r"Hits / misses</th><td>\d+ / \d+", text)


def test_overview_shows_the_client_cache_when_it_is_on(
    site: redis.Redis, superuser: Client, settings: Any
) -> None:
    settings.CACHES["default"]["OPTIONS"] = {"CLIENT_CACHE": True}
    caches["default"].set("a", 1)
    assert caches["default"].get("a") == 1 and caches["default"].get("a") == 1
    text = page_text(superuser.get(BASE))
    assert "CLIENT_CACHE (this process)" in text
    assert "METRICS (this process)" not in text  # METRICS stays off
    assert re.search(r"Local hits / misses</th><td>[1-9]\d* / \d+", text)
    assert re.search(r"Tracking connections</th><td>1<", text)


def test_an_unreachable_server_is_a_row_not_a_failed_page(
    site: redis.Redis, superuser: Client, settings: Any
) -> None:
    from tests.servers import free_port

    settings.CACHES["down"] = {
        "BACKEND": OURS,
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
    }
    response = superuser.get(BASE)
    assert response.status_code == 200
    assert re.search(r'id="alias-down".*class="error"', page_text(response))


# key browser ------------------------------------------------------------------------


def test_browser_searches_within_the_alias_key_space(site: redis.Redis, superuser: Client) -> None:
    caches["default"].set_many({"user:1": "a", "user:2": "b", "other": "c"})
    site.set("user:outside", b"raw")  # no prefix: not the alias's key
    response = superuser.get(keys_url(), {"pattern": "user:*"})
    text = page_text(response)
    assert response.status_code == 200
    assert "site:1:user:1" in text and "site:1:user:2" in text
    assert "site:1:other" not in text and "user:outside" not in text
    assert 'id="glob">site:1:user:*<' in text
    raw = page_text(superuser.get(keys_url(), {"pattern": "user:*", "raw": "1"}))
    assert "user:outside" in raw and "site:1:user:1" not in raw


def test_browser_filters_by_type_and_shows_ttl_and_size(
    site: redis.Redis, superuser: Client
) -> None:
    cache = caches["default"]
    cache.set("plain", "x", timeout=None)
    cache.set("short", "x", timeout=3600)
    cache.hset("fields", "a", 1)
    text = page_text(superuser.get(keys_url(), {"type": "hash"}))
    assert "site:1:fields" in text and "site:1:plain" not in text
    rows = page_text(superuser.get(keys_url()))
    assert re.search(r"site:1:plain</a></td> <td>string</td><td class=\"num\">no expiry", rows)
    assert re.search(r"site:1:short</a></td> <td>string</td><td class=\"num\">(59|60) min", rows)
    assert re.search(r"site:1:fields</a></td> <td>hash</td>.*?\d+ bytes", rows)


def test_browser_walks_page_by_page_with_its_cursor(
    site: redis.Redis, superuser: Client, settings: Any
) -> None:
    settings.DJANGO_ASYNC_REDIS_ADMIN = {"SCAN_COUNT": 10}
    caches["default"].set_many({f"item:{i}": i for i in range(300)})
    seen: set[str] = set()
    params = {"pattern": "item:*"}
    pages = 0
    while True:
        text = page_text(superuser.get(keys_url(), params))
        pages += 1
        seen.update(re.findall(r"site:1:item:\d+", text))
        cursor = re.search(r'id="next-page"', text)
        if cursor is None:
            break
        params["cursor"] = re.search(r"cursor=([0-9.-]+)\"", text)[1]  # type: ignore[index]
        assert pages < 300, "the walk never ends"
    assert seen == {f"site:1:item:{i}" for i in range(300)}
    assert pages > 3  # COUNT 10 over 300 keys: many pages, each one batch


def test_a_bad_cursor_is_refused_clearly(site: redis.Redis, superuser: Client) -> None:
    response = superuser.get(keys_url(), {"cursor": "12.13"})
    assert response.status_code == 400
    assert "the cursor &#x27;12.13&#x27; has 2 parts, but this cache has 1" in page_text(response)
    bad = superuser.get(keys_url(), {"cursor": "abc"})
    assert bad.status_code == 400
    assert "is not a list of SCAN cursors" in page_text(bad)


def test_unknown_alias_is_404(site: redis.Redis, superuser: Client) -> None:
    assert superuser.get(keys_url("nope")).status_code == 404
    assert superuser.get(keys_url("local")).status_code == 404  # not ours


# key detail ---------------------------------------------------------------------------


def test_a_value_is_decoded_with_the_alias_codec_and_escaped(
    site: redis.Redis, superuser: Client
) -> None:
    document = {"title": "<script>alert(1)</script>", "n": [1, 2], "body": "words " * 500}
    caches["packed"].set("doc", document)
    stored = site.get("packed:3:doc")
    assert stored is not None and b"<script>" not in stored  # compressed (and signed)
    response = superuser.get(key_url("packed:3:doc", "packed"))
    text = page_text(response)
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert "&#x27;n&#x27;: [1, 2]" in text


def test_a_value_that_does_not_decode_says_why(site: redis.Redis, superuser: Client) -> None:
    site.set("site:1:broken", b"\x80\x05not a pickle")
    text = page_text(superuser.get(key_url("site:1:broken")))
    assert 'id="decode-error"' in text
    assert "PickleSerializer.loads failed" in text
    assert "\\x80\\x05not a pickle" in text  # the bytes, escaped
    # An unsigned value in a signing alias: refused before any deserializer runs.
    site.set("packed:3:forged", b'{"x": 1}')
    forged = page_text(superuser.get(key_url("packed:3:forged", "packed")))
    assert "the value is not signed" in forged


def test_large_values_are_cut_and_huge_ones_not_fetched(
    site: redis.Redis, superuser: Client, settings: Any
) -> None:
    settings.DJANGO_ASYNC_REDIS_ADMIN = {"MAX_SHOWN_CHARS": 100, "MAX_VALUE_BYTES": 10_000}
    caches["default"].set("long", "y" * 5000)
    text = page_text(superuser.get(key_url("site:1:long")))
    assert 'id="truncated"' in text and "Cut at 100 of 5002 characters" in text
    site.set("site:1:huge", b"z" * 20_000)
    huge = page_text(superuser.get(key_url("site:1:huge")))
    assert "20000 bytes, more than MAX_VALUE_BYTES (10000): not fetched whole" in huge


@pytest.mark.parametrize("kind", ["hash", "set", "zset", "list"])
def test_collections_are_paged(
    site: redis.Redis, superuser: Client, settings: Any, kind: str
) -> None:
    settings.DJANGO_ASYNC_REDIS_ADMIN = {"ITEMS_PER_PAGE": 20}
    cache = caches["default"]
    values = [f"value-{i}" for i in range(130)]
    if kind == "hash":
        cache.hset("c", mapping={f"f{i}": v for i, v in enumerate(values)})
    elif kind == "set":
        cache.sadd("c", *values)
    elif kind == "zset":
        cache.zadd("c", {v: i for i, v in enumerate(values)})
    else:
        cache.rpush("c", *values)
    seen: list[str] = []
    params: dict[str, str] = {}
    for _ in range(200):
        text = page_text(superuser.get(key_url("site:1:c"), params))
        assert f">{kind}" in text and "<th>Elements</th><td>130<" in text
        seen += re.findall(r"&#x27;(value-\d+)&#x27;", text)
        following = re.search(r'href="\?cursor=(\d+)" id="next-items"', text)
        if following is None:
            break
        params = {"cursor": following[1]}
    assert sorted(set(seen)) == sorted(values)
    if kind == "list":
        assert seen == values  # LRANGE pages, in order, each element once


def test_a_missing_key_is_404(site: redis.Redis, superuser: Client) -> None:
    response = superuser.get(key_url("site:1:nothing"))
    assert response.status_code == 404
    assert 'id="missing"' in page_text(response)


# actions ------------------------------------------------------------------------------


def confirm(client: Client, url: str, **data: str) -> Any:
    return client.post(url, {**data, "confirm": "yes"})


def test_set_ttl_asks_first_then_sets_it_and_logs(site: redis.Redis, superuser: Client) -> None:
    caches["default"].set("t", 1, timeout=None)
    asked = superuser.get(key_url("site:1:t", action="expire"), {"seconds": "90"})
    assert asked.status_code == 200
    assert "Set the TTL of" in page_text(asked) and site.ttl("site:1:t") == -1
    done = confirm(superuser, key_url("site:1:t", action="expire"), seconds="90")
    assert done.status_code == 302 and done["Location"] == key_url("site:1:t")
    assert 85 <= site.ttl("site:1:t") <= 90
    entry = LogEntry.objects.get()
    assert entry.action_flag == CHANGE
    assert entry.object_repr == "default:site:1:t"
    assert entry.get_change_message() == "Set the TTL of site:1:t to 90 s"
    assert entry.user.username == "root"


@pytest.mark.parametrize("seconds", ["", "0", "-5", "ten", "1.5"])
def test_a_bad_ttl_is_refused_naming_it(site: redis.Redis, superuser: Client, seconds: str) -> None:
    caches["default"].set("t", 1, timeout=None)
    response = confirm(superuser, key_url("site:1:t", action="expire"), seconds=seconds)
    assert response.status_code == 400
    assert f"at least 1, not &#x27;{seconds}&#x27;" in page_text(response)
    assert site.ttl("site:1:t") == -1


def test_persist_and_delete(site: redis.Redis, superuser: Client) -> None:
    caches["default"].set("p", 1, timeout=600)
    assert confirm(superuser, key_url("site:1:p", action="persist")).status_code == 302
    assert site.ttl("site:1:p") == -1
    gone = confirm(superuser, key_url("site:1:p", action="delete"))
    assert gone.status_code == 302 and gone["Location"] == keys_url()
    assert not site.exists("site:1:p")
    flags = list(LogEntry.objects.order_by("id").values_list("action_flag", flat=True))
    assert flags == [CHANGE, DELETION]


def test_delete_by_pattern_counts_first_then_deletes_in_batches(
    site: redis.Redis, superuser: Client
) -> None:
    caches["default"].set_many({f"gone:{i}": i for i in range(2500)})
    caches["default"].set_many({f"kept:{i}": i for i in range(10)})
    site.set("gone:outside", b"not the alias's")
    url = f"{BASE}default/delete-pattern/"
    before = support.command_calls(site, ["unlink", "flushdb", "flushall", "keys", "del"])
    asked = superuser.get(url, {"pattern": "gone:*"})
    assert 'id="count">2500<' in page_text(asked)
    assert site.dbsize() == 2511  # counting deleted nothing
    done = confirm(superuser, url, pattern="gone:*")
    assert done.status_code == 302
    after = support.command_calls(site, ["unlink", "flushdb", "flushall", "keys", "del"])
    assert site.dbsize() == 11 and site.exists("gone:outside")
    assert after["unlink"] - before["unlink"] >= 3  # 2500 keys, 1000 a page at most
    assert after["flushdb"] == before["flushdb"] and after["flushall"] == before["flushall"]
    assert after["keys"] == before["keys"] and after["del"] == before["del"]
    entry = LogEntry.objects.get()
    assert entry.action_flag == DELETION
    assert entry.get_change_message() == "Deleted 2500 keys matching site:1:gone:*"


def test_nothing_in_the_section_flushes(site: redis.Redis, superuser: Client) -> None:
    caches["default"].set("a", 1)
    for action in ("flush", "clear", "flushdb"):
        assert confirm(superuser, key_url("site:1:a", action=action)).status_code == 404
    assert superuser.post(f"{BASE}default/flush/").status_code == 404
    assert site.exists("site:1:a")


# permissions, CSRF, read-only -------------------------------------------------------------

VIEWS = ["overview", "keys", "key", "server"]
ACTIONS = {"expire": "change_cache", "persist": "change_cache", "delete": "delete_cache"}


def view_url(view: str) -> str:
    return {
        "overview": BASE,
        "keys": keys_url(),
        "key": key_url("site:1:perm"),
        "server": f"{BASE}default/server/",
    }[view]


def action_request(client: Client, action: str) -> Any:
    if action == "pattern":
        return confirm(client, f"{BASE}default/delete-pattern/", pattern="perm")
    return confirm(client, key_url("site:1:perm", action=action), seconds="60")


def assert_untouched(site: redis.Redis) -> None:
    # Still there, with (about) the TTL it was written with: 60 s would be the action's.
    assert 499_000 < site.ttl("site:1:perm") <= 500_000
    assert not LogEntry.objects.exists()


@pytest.fixture
def perm_key(site: redis.Redis) -> redis.Redis:
    caches["default"].set("perm", 1, timeout=500_000)
    return site


@pytest.mark.parametrize("view", VIEWS)
def test_views_need_sign_in_and_the_view_permission(perm_key: redis.Redis, view: str) -> None:
    anonymous = Client().get(view_url(view))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    not_staff = support.signed_in(support.user("plain", "view_cache", staff=False))
    assert not_staff.get(view_url(view)).status_code == 302
    bare = support.signed_in(support.user("bare"))
    assert bare.get(view_url(view)).status_code == 403
    for codename in ("view_cache", "change_cache"):  # change implies view
        allowed = support.signed_in(support.user(f"with-{codename}", codename))
        assert allowed.get(view_url(view)).status_code == 200


@pytest.mark.parametrize("action", [*ACTIONS, "pattern"])
def test_actions_need_their_own_permission(perm_key: redis.Redis, action: str) -> None:
    needed = ACTIONS.get(action, "delete_cache")
    anonymous = action_request(Client(), action)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/")
    for name, codenames in {
        "bare": (),
        "viewer": ("view_cache",),
        "other": ("view_cache", "delete_cache" if needed == "change_cache" else "change_cache"),
    }.items():
        client = support.signed_in(support.user(name, *codenames))
        assert action_request(client, action).status_code == 403, name
        # Nor may they see the confirmation page.
        if action != "pattern":
            asked = client.get(key_url("site:1:perm", action=action), {"seconds": "60"})
            assert asked.status_code == 403
        assert_untouched(perm_key)
    allowed = support.signed_in(support.user("allowed", "view_cache", needed))
    assert action_request(allowed, action).status_code == 302
    assert LogEntry.objects.count() == 1


def test_buttons_follow_the_permissions(perm_key: redis.Redis) -> None:
    viewer = page_text(support.signed_in(support.user("v", "view_cache")).get(view_url("key")))
    assert 'id="set-ttl"' not in viewer and 'id="delete-key"' not in viewer
    changer = page_text(support.signed_in(support.user("c", "change_cache")).get(view_url("key")))
    assert 'id="set-ttl"' in changer and 'id="delete-key"' not in changer
    deleter = support.signed_in(support.user("d", "view_cache", "delete_cache"))
    assert 'id="delete-key"' in page_text(deleter.get(view_url("key")))
    assert 'id="delete-pattern"' in page_text(deleter.get(keys_url()))


@pytest.mark.parametrize("action", [*ACTIONS, "pattern"])
def test_actions_are_csrf_protected(perm_key: redis.Redis, action: str) -> None:
    root = support.User.objects.create_superuser("root", password=support.PASSWORD)
    client = support.signed_in(root, enforce_csrf_checks=True)
    assert action_request(client, action).status_code == 403
    assert_untouched(perm_key)
    # The confirmation page's own form carries the token, and then it works.
    if action == "pattern":
        asked = client.get(f"{BASE}default/delete-pattern/", {"pattern": "perm"})
    else:
        asked = client.get(key_url("site:1:perm", action=action), {"seconds": "60"})
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', asked.content.decode())
    assert csrf is not None
    url = f"{BASE}default/delete-pattern/" if action == "pattern" else asked.request["PATH_INFO"]
    done = client.post(
        url, {"confirm": "yes", "seconds": "60", "pattern": "perm", "csrfmiddlewaretoken": csrf[1]}
    )
    assert done.status_code == 302


@pytest.mark.parametrize("action", [*ACTIONS, "pattern"])
def test_read_only_refuses_every_action_even_to_superusers(
    perm_key: redis.Redis, superuser: Client, settings: Any, action: str
) -> None:
    settings.DJANGO_ASYNC_REDIS_ADMIN = {"READ_ONLY": True}
    response = action_request(superuser, action)
    assert response.status_code == 403
    assert_untouched(perm_key)
    text = page_text(superuser.get(view_url("key")))
    assert 'id="read-only"' in text
    assert 'id="set-ttl"' not in text and 'id="delete-key"' not in text
    assert 'id="delete-pattern"' not in page_text(superuser.get(keys_url()))
    for view in VIEWS:
        assert superuser.get(view_url(view)).status_code == 200


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"READONLY": True}, "unknown key 'READONLY'"),
        ({"READ_ONLY": "yes"}, "READ_ONLY'] must be True or False"),
        ({"SCAN_COUNT": 0}, "SCAN_COUNT'] must be a whole number of at least 1, not 0"),
        ("on", "must be a dict, not str"),
    ],
)
def test_bad_settings_are_named(value: Any, message: str) -> None:
    with (
        override_settings(DJANGO_ASYNC_REDIS_ADMIN=value),
        pytest.raises(ImproperlyConfigured, match=re.escape(message)),
    ):
        admin_settings()


# server pages -----------------------------------------------------------------------------


def test_server_page_shows_info_slowlog_and_latency(
    site: redis.Redis, superuser: Client, redis_server: Any
) -> None:
    old = site.config_get("slowlog-log-slower-than")["slowlog-log-slower-than"]
    site.config_set("slowlog-log-slower-than", 0)
    try:
        site.slowlog_reset()
        site.set("slow-marker", "x")
        response = superuser.get(f"{BASE}default/server/", {"node": redis_server.address})
    finally:
        site.config_set("slowlog-log-slower-than", old)
    text = page_text(response)
    assert response.status_code == 200
    assert 'id="info-server"' in text and 'id="info-memory"' in text
    assert re.search(r'class="slow-entry">.*set slow-marker x', text, re.IGNORECASE)
    assert 'id="ping">PING from this web server: ' in text and " ms" in text
    assert superuser.get(f"{BASE}default/server/", {"node": "10.9.9.9:1"}).status_code == 404


def test_secrets_are_redacted() -> None:
    assert server_page.redact("redis://user:hunter2@host:6379/0") == "redis://user:***@host:6379/0"
    assert server_page.redact("a?password=hunter2&db=1") == "a?password=***&db=1"
    assert server_page.redact_command(["AUTH", "hunter2"]) == ["AUTH", "***"]
    assert server_page.redact_command(["auth", "me", "hunter2"]) == ["auth", "***", "***"]
    assert server_page.redact_command(["HELLO", "3", "AUTH", "me", "hunter2"]) == [
        "HELLO", "3", "AUTH", "me", "***",
    ]  # fmt: skip
    assert server_page.redact_command(
        ["MIGRATE", "h", "1", "", "0", "5", "AUTH2", "me", "hunter2", "KEYS", "a"]
    ) == ["MIGRATE", "h", "1", "", "0", "5", "AUTH2", "me", "***", "KEYS", "a"]
    assert server_page.redact_command(["CONFIG", "SET", "requirepass", "hunter2"]) == [
        "CONFIG", "SET", "requirepass", "***",
    ]  # fmt: skip
    assert server_page.redact_command(["ACL", "SETUSER", "bob", "on", ">hunter2"]) == [
        "ACL", "SETUSER", "bob", "***", "***",
    ]  # fmt: skip
    sections = server_page.info_sections(
        "# Replication\r\nmaster_host:h\r\nmasterauth:hunter2\r\nurl:redis://u:pw@h\r\n"
    )
    assert sections == {
        "Replication": [("master_host", "h"), ("masterauth", "***"), ("url", "redis://u:***@h")]
    }
