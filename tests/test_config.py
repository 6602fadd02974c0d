"""LOCATION and OPTIONS: what they mean, and the startup errors for mistakes."""

from __future__ import annotations

import asyncio

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_async_redis.cache import RedisCache
from django_async_redis.config import parse_config, parse_url
from tests import servers


def build(location: object, **options: object) -> RedisCache:
    return RedisCache(location, {"OPTIONS": options})


def test_database_from_path_and_query() -> None:
    assert parse_url("redis://h:1/3", {}).db == 3
    assert parse_url("redis://h:1?db=4", {}).db == 4
    assert parse_url("redis://h:1/", {}).db == 0
    assert parse_url("unix:///tmp/r.sock?db=2", {}).db == 2
    assert parse_url("unix:///tmp/r.sock", {}).unix_path == "/tmp/r.sock"


def test_credentials_url_wins_over_options() -> None:
    node = parse_config("redis://alice:s%40cret@h:6379/0", {"OPTIONS": {"PASSWORD": "other"}})
    assert (node.primary.username, node.primary.password) == ("alice", "s@cret")
    node = parse_config("redis://h:6379/0", {"OPTIONS": {"USERNAME": "bob", "PASSWORD": "pw"}})
    assert (node.primary.username, node.primary.password) == ("bob", "pw")
    node = parse_config("redis://:only@h:6379/0", {"OPTIONS": {}})
    assert (node.primary.username, node.primary.password) == (None, "only")


def test_tls_scheme() -> None:
    node = parse_url("rediss://h:6380/0?ssl_cert_reqs=none", {})
    assert node.tls is not None and node.tls.cert_reqs == "none"
    assert parse_url("redis://h:6380/0", {}).tls is None


@pytest.mark.parametrize(
    "location",
    [
        ["redis://p:1/0", "redis://r1:2/0", "redis://r2:3/0"],
        "redis://p:1/0,redis://r1:2/0,redis://r2:3/0",
        "redis://p:1/0; redis://r1:2/0 ;redis://r2:3/0",
    ],
)
def test_primary_then_replicas(location: object) -> None:
    config = parse_config(location, {})
    assert config.primary.host == "p"
    assert [node.host for node in config.replicas] == ["r1", "r2"]


def test_timeouts_and_pool_kwargs() -> None:
    config = parse_config(
        "redis://h:1/0",
        {
            "OPTIONS": {
                "SOCKET_TIMEOUT": 0.25,
                "SOCKET_CONNECT_TIMEOUT": 2,
                "CONNECTION_POOL_KWARGS": {"max_connections": 7, "client_name": "web"},
            }
        },
    )
    assert config.primary.socket_timeout == 0.25
    assert config.primary.connect_timeout == 2.0
    assert config.primary.client_name == "web"
    assert config.max_connections == 7


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"SERIALISER": "x"}, "Unknown OPTIONS key 'SERIALISER'. Did you mean 'SERIALIZER'?"),
        ({"IGNORE_EXCEPTION": True}, "Did you mean 'IGNORE_EXCEPTIONS'?"),
        ({"CONNECTION_POOL_KWARGS": {"max_conections": 3}}, "Did you mean 'max_connections'?"),
        ({"CONNECTION_POOL_KWARGS": {"max_connections": 0}}, "max_connections"),
        ({"SOCKET_TIMEOUT": "soon"}, "SOCKET_TIMEOUT"),
        ({"SOCKET_TIMEOUT": -1}, "SOCKET_TIMEOUT must be positive"),
        ({"IGNORE_EXCEPTIONS": "yes"}, "IGNORE_EXCEPTIONS must be True or False"),
        ({"PARSER_CLASS": "x"}, "PARSER_CLASS"),
        ({"CLIENT_CLASS": "no.such.Client"}, "no.such.Client"),
        ({"SERIALIZER": "no.such.Serializer"}, "no.such.Serializer"),
        ({"COMPRESSOR": "no.such.Compressor"}, "no.such.Compressor"),
        ({"ASYNC_CONNECTIONS": 0}, "ASYNC_CONNECTIONS"),
    ],
)
def test_bad_options_fail_at_startup(options: dict[str, object], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        build("redis://127.0.0.1:6379/0", **options)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("http://h:1/0", "must start with redis://"),
        ("redis://h:notaport/0", "invalid port"),
        ("redis://h:1/zero", "the database must be a number"),
        ("redis://h:1/0?dbb=1", "Did you mean 'db'?"),
        ("unix://", "names no socket path"),
        ("", "LOCATION is empty"),
        (42, "LOCATION must be a URL"),
    ],
)
def test_bad_location_fails_at_startup(location: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        build(location)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("redis://", ("localhost", 6379, 0, None, None)),
        ("redis:///", ("localhost", 6379, 0, None, None)),
        ("redis:///3", ("localhost", 6379, 3, None, None)),
        ("redis://:secret@", ("localhost", 6379, 0, None, "secret")),
        ("redis://alice:secret@/2", ("localhost", 6379, 2, "alice", "secret")),
        ("redis://:6380/1", ("localhost", 6380, 1, None, None)),
        ("valkey://", ("localhost", 6379, 0, None, None)),
        ("redis://?db=4", ("localhost", 6379, 4, None, None)),
    ],
)
def test_a_url_without_a_host_means_localhost(location: str, expected: tuple[object, ...]) -> None:
    """As redis-py reads them (and the seed's README shows ``redis://``)."""
    (node,) = parse_config(location, {}).nodes
    assert (node.host, node.port, node.db, node.username, node.password) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        # Every form the seed's (django-async-redis 0.2) README documents.
        ("redis://127.0.0.1:6379/1", ("127.0.0.1", 6379, None, 1, None, False)),
        ("redis://:pw@localhost:6379/0", ("localhost", 6379, None, 0, "pw", False)),
        ("rediss://:pw@localhost:6379/0", ("localhost", 6379, None, 0, "pw", True)),
        (
            "unix://:pw@/path/to/socket.sock?db=0",
            (None, None, "/path/to/socket.sock", 0, "pw", False),
        ),
        ("redis://localhost?db=0", ("localhost", 6379, None, 0, None, False)),
        ("redis://localhost/0", ("localhost", 6379, None, 0, None, False)),
        ("redis://", ("localhost", 6379, None, 0, None, False)),
    ],
)
def test_the_seeds_readme_urls(location: str, expected: tuple[object, ...]) -> None:
    (node,) = parse_config(location, {}).nodes
    unix = node.unix_path is not None
    host, port = (None, None) if unix else (node.host, node.port)
    found = (host, port, node.unix_path, node.db, node.password, node.tls is not None)
    assert found == expected


def test_a_url_without_a_host_reaches_localhost(redis_server: servers.Server) -> None:
    cache = RedisCache(f"redis://:{redis_server.port}/3", {})
    cache.set("no-host", 1)
    assert cache.get("no-host") == 1 and asyncio.run(cache.aget("no-host")) == 1
    with redis_server.client(db=3) as raw:
        assert raw.exists(":1:no-host") == 1
    cache.delete("no-host")


def test_global_settings_under_both_spellings() -> None:
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True, DJANGO_REDIS_SCAN_ITERSIZE=50):
        config = parse_config("redis://h:1/0", {})
        assert config.ignore_exceptions is True
        assert config.scan_itersize == 50
    with override_settings(
        DJANGO_ASYNC_REDIS_IGNORE_EXCEPTIONS=True,
        DJANGO_ASYNC_REDIS_LOG_IGNORED_EXCEPTIONS=True,
        DJANGO_ASYNC_REDIS_LOGGER="my.logger",
    ):
        config = parse_config("redis://h:1/0", {})
        assert config.ignore_exceptions and config.log_ignored_exceptions
        assert config.logger_name == "my.logger"
    # OPTIONS beat the project-wide default.
    with override_settings(DJANGO_REDIS_IGNORE_EXCEPTIONS=True):
        config = parse_config("redis://h:1/0", {"OPTIONS": {"IGNORE_EXCEPTIONS": False}})
        assert config.ignore_exceptions is False


def test_seed_import_paths() -> None:
    from django_async_redis.client import DefaultClient

    cache = build("redis://127.0.0.1:1/0", CLIENT_CLASS="django_async_redis.client.DefaultClient")
    assert isinstance(cache.client, DefaultClient)
