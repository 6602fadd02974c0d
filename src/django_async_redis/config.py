"""Settings: a CACHES entry's LOCATION and OPTIONS, validated once when the cache is built.

Every mistake is reported here, at startup, with the name of what was wrong:
an unknown OPTIONS key (with the closest valid one), a malformed URL, a value
of the wrong type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .nodes import (
    DEFAULT_BREAKER_COOLDOWN,
    DEFAULT_BREAKER_THRESHOLD,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SOCKET_TIMEOUT,
    TLSOptions,
    _flag,
    _global_setting,
    _positive_int,
    _protocol,
    _timeout,
    _tls_options,
    _unknown,
    parse_url,
    split_location,
)
from .nodes import Node as Node
from .nodes import redacted as redacted

DEFAULT_MAX_CONNECTIONS = 128
DEFAULT_ASYNC_CONNECTIONS = 1
DEFAULT_SCAN_ITERSIZE = 10
# OPTIONS keys we honour, django-redis's names first.
KNOWN_OPTIONS = frozenset(
    {
        "CLIENT_CLASS",
        "SERIALIZER",
        "COMPRESSOR",
        "PICKLE_VERSION",
        "IGNORE_EXCEPTIONS",
        "LOG_IGNORED_EXCEPTIONS",
        "SOCKET_TIMEOUT",
        "SOCKET_CONNECT_TIMEOUT",
        "PASSWORD",
        "USERNAME",
        "CONNECTION_POOL_KWARGS",
        "CLOSE_CONNECTION",
        # django-redis: writes go to the primary only. Always so here (True).
        "REPLICA_READ_ONLY",
        "REVERSE_KEY_FUNCTION",
        "COMPRESS_MIN_LENGTH",
        "COMPRESS_LEVEL",
        "ASYNC_CONNECTIONS",
        # Threads sharing this many connections per node (transport/shared.py); 0: off.
        "SYNC_CONNECTIONS",
        # The local tier in front of the servers (client_cache/), off by default.
        "CLIENT_CACHE",
        # Counters and tracing spans (metrics.py), off by default.
        "METRICS",
        "TRACING",
        "PROTOCOL",
        # Reading values back (codec.py, signing.py, docs/security.md).
        "SIGNING",
        "ON_DECODE_ERROR",
        "MAX_VALUE_SIZE",
        "BREAKER_THRESHOLD",
        "BREAKER_COOLDOWN",
        # Topologies (docs/topologies.md).
        "SENTINELS",
        "SENTINEL_KWARGS",
        "READ_FROM_REPLICAS",
        "CONNECTION_FACTORY",
        # Django's generic culling options: Redis evicts by its own
        # maxmemory-policy, so these have no effect (as with Django's backend).
        "MAX_ENTRIES",
        "CULL_FREQUENCY",
        # The herd and the get_or_set lock (client/herd.py, parse_herd_options).
        "HERD",
        "HERD_TIMEOUT",
        "STAMPEDE_LOCK",
        "STAMPEDE_LOCK_TIMEOUT",
    }
)

# django-redis options that name a redis-py class or a topology we do not
# take this way; refusing them beats silently ignoring them.
UNSUPPORTED_OPTIONS = {
    "CONNECTION_POOL_CLASS": "connections are managed by django-async-redis's own transport",
    "PARSER_CLASS": "replies are always parsed with hiredis",
    "REDIS_CLIENT_CLASS": "raw clients come from get_redis_connection()",
    "REDIS_CLIENT_KWARGS": "raw clients come from get_redis_connection()",
    "DB": "put the database in LOCATION, e.g. redis://host:6379/2",
}

POOL_KWARGS = frozenset(
    {
        "max_connections",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "client_name",
        "protocol",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_keyfile_password",
        "ssl_check_hostname",
    }
)

DEFAULT_CLIENT = "django_async_redis.client.DefaultClient"
SENTINEL_CLIENT = "django_async_redis.client.SentinelClient"
_DEFAULT_CLIENT_PATHS = frozenset(
    {DEFAULT_CLIENT, "django_async_redis.client.default.DefaultClient"}
)
# django-redis picks Sentinel by connection factory; its settings keep working.
SENTINEL_FACTORIES = frozenset(
    {
        "django_redis.pool.SentinelConnectionFactory",
        "django_async_redis.pool.SentinelConnectionFactory",
    }
)
PLAIN_FACTORIES = frozenset(
    {"django_redis.pool.ConnectionFactory", "django_async_redis.pool.ConnectionFactory"}
)
# What SENTINEL_KWARGS may say about the connections to the sentinels.
SENTINEL_KWARGS_KEYS = frozenset(
    {
        "username",
        "password",
        "ssl",
        *(key for key in POOL_KWARGS if key not in ("max_connections", "protocol")),
    }
)


@dataclass(frozen=True)
class CacheConfig:
    """Everything the cache needs from its settings, validated."""

    nodes: tuple[Node, ...]
    # Not in the repr: OPTIONS may hold PASSWORD, LOCATION a password in its URL.
    options: Mapping[str, Any] = field(repr=False)
    client_class: str
    ignore_exceptions: bool
    log_ignored_exceptions: bool
    logger_name: str
    close_connection: bool
    max_connections: int
    async_connections: int
    scan_itersize: int
    reverse_key_function: str | None
    # SYNC_CONNECTIONS: connections per node the sync path's threads share (0: each
    # call borrows a connection of its own).
    sync_connections: int = 0
    # LOCATION's entries exactly as written (ShardClient's ring is named by them).
    locations: tuple[str, ...] = field(default=(), repr=False)
    # Sentinel: the sentinels to ask for the service's primary and replicas.
    sentinels: tuple[Node, ...] = ()
    # None: the client's own default (replicas in LOCATION read; Sentinel and
    # Cluster read from primaries, since replicas lag behind writes).
    read_from_replicas: bool | None = None

    @property
    def primary(self) -> Node:
        return self.nodes[0]

    @property
    def replicas(self) -> tuple[Node, ...]:
        return self.nodes[1:]


def _sync_connections(value: Any, pool_kwargs: Mapping[str, Any]) -> int:
    """SYNC_CONNECTIONS: 0 (off) or how many connections per node the threads share."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(
            f"OPTIONS 'SYNC_CONNECTIONS' must be 0 (off) or a positive integer, not {value!r}"
        )
    most = pool_kwargs.get("max_connections", DEFAULT_MAX_CONNECTIONS)
    if isinstance(most, int) and value > most:
        raise ImproperlyConfigured(
            f"OPTIONS 'SYNC_CONNECTIONS' ({value}) is more than "
            f"CONNECTION_POOL_KWARGS['max_connections'] ({most}) allows"
        )
    return value


def parse_config(location: Any, params: Mapping[str, Any]) -> CacheConfig:
    """Validate a CACHES entry's LOCATION and OPTIONS."""
    options = params.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise ImproperlyConfigured(f"OPTIONS must be a dict, not {type(options).__name__}")
    for key in options:
        if key in UNSUPPORTED_OPTIONS:
            raise ImproperlyConfigured(
                f"OPTIONS {key!r} is not supported by django-async-redis: "
                f"{UNSUPPORTED_OPTIONS[key]}."
            )
        if key not in KNOWN_OPTIONS:
            raise _unknown("OPTIONS key", key, KNOWN_OPTIONS)

    pool_kwargs = options.get("CONNECTION_POOL_KWARGS") or {}
    if not isinstance(pool_kwargs, Mapping):
        raise ImproperlyConfigured(
            f"CONNECTION_POOL_KWARGS must be a dict, not {type(pool_kwargs).__name__}"
        )
    for key in pool_kwargs:
        if key not in POOL_KWARGS:
            raise _unknown("CONNECTION_POOL_KWARGS key", key, POOL_KWARGS)

    defaults: dict[str, Any] = {
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT,
        "socket_connect_timeout": DEFAULT_CONNECT_TIMEOUT,
    }
    defaults.update({k: v for k, v in pool_kwargs.items() if k != "max_connections"})
    if "SOCKET_TIMEOUT" in options:
        defaults["socket_timeout"] = options["SOCKET_TIMEOUT"]
    if "SOCKET_CONNECT_TIMEOUT" in options:
        defaults["socket_connect_timeout"] = options["SOCKET_CONNECT_TIMEOUT"]
    elif "socket_connect_timeout" not in pool_kwargs and defaults["socket_timeout"] is not None:
        # Unless asked otherwise, connecting is bounded like every other wait: a
        # call never waits past SOCKET_TIMEOUT because it had to connect first.
        defaults["socket_connect_timeout"] = defaults["socket_timeout"]
    if options.get("USERNAME") is not None:
        defaults["username"] = str(options["USERNAME"])
    if options.get("PASSWORD") is not None:
        defaults["password"] = str(options["PASSWORD"])
    if "PROTOCOL" in options:
        defaults["protocol"] = _protocol(options["PROTOCOL"])
    threshold = options.get("BREAKER_THRESHOLD", DEFAULT_BREAKER_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ImproperlyConfigured(
            "BREAKER_THRESHOLD must be a whole number of failures (0: no breaker), "
            f"not {threshold!r}"
        )
    defaults["breaker_threshold"] = threshold
    cooldown = _timeout(
        "BREAKER_COOLDOWN", options.get("BREAKER_COOLDOWN", DEFAULT_BREAKER_COOLDOWN)
    )
    defaults["breaker_cooldown"] = cooldown or DEFAULT_BREAKER_COOLDOWN

    locations = tuple(split_location(location))
    nodes = tuple(parse_url(url, defaults) for url in locations)
    sentinels = _sentinel_nodes(options)
    client_class = _client_class(options, sentinels)
    read_from_replicas = options.get("READ_FROM_REPLICAS")
    if read_from_replicas is not None:
        _flag("READ_FROM_REPLICAS", read_from_replicas)

    ignore = _global_setting("IGNORE_EXCEPTIONS", False)
    log_ignored = _global_setting("LOG_IGNORED_EXCEPTIONS", False)
    reverse_key = options.get("REVERSE_KEY_FUNCTION", params.get("REVERSE_KEY_FUNCTION"))
    itersize = _global_setting("SCAN_ITERSIZE", DEFAULT_SCAN_ITERSIZE)
    logger_name = _global_setting("LOGGER", "django_async_redis")
    return CacheConfig(
        nodes=nodes,
        options=options,
        client_class=client_class,
        ignore_exceptions=_flag("IGNORE_EXCEPTIONS", options.get("IGNORE_EXCEPTIONS", ignore)),
        log_ignored_exceptions=_flag(
            "LOG_IGNORED_EXCEPTIONS", options.get("LOG_IGNORED_EXCEPTIONS", log_ignored)
        ),
        logger_name=str(logger_name),
        close_connection=_flag(
            "CLOSE_CONNECTION",
            options.get("CLOSE_CONNECTION", _global_setting("CLOSE_CONNECTION", False)),
        ),
        max_connections=_positive_int(
            "CONNECTION_POOL_KWARGS['max_connections']",
            pool_kwargs.get("max_connections", DEFAULT_MAX_CONNECTIONS),
        ),
        async_connections=_positive_int(
            "ASYNC_CONNECTIONS", options.get("ASYNC_CONNECTIONS", DEFAULT_ASYNC_CONNECTIONS)
        ),
        scan_itersize=_positive_int("SCAN_ITERSIZE", itersize),
        sync_connections=_sync_connections(options.get("SYNC_CONNECTIONS", 0), pool_kwargs),
        reverse_key_function=reverse_key,
        locations=locations,
        sentinels=sentinels,
        read_from_replicas=read_from_replicas,
    )


# django-redis's clients by its dotted paths: the same clients here, so its
# settings need only the BACKEND changed.
DJANGO_REDIS_CLIENTS = {
    f"django_redis.client.{path}": f"django_async_redis.client.{name}"
    for name, module in (
        ("DefaultClient", "default"),
        ("HerdClient", "herd"),
        ("SentinelClient", "sentinel"),
        ("ShardClient", "sharded"),
    )
    for path in (name, f"{module}.{name}")
}


def _client_class(options: Mapping[str, Any], sentinels: tuple[Node, ...]) -> str:
    """CLIENT_CLASS, with django-redis's names and way of asking for Sentinel mapped to ours."""
    client_class = options.get("CLIENT_CLASS", DEFAULT_CLIENT)
    if not isinstance(client_class, str):
        raise ImproperlyConfigured(f"CLIENT_CLASS must be a dotted path, not {client_class!r}")
    client_class = DJANGO_REDIS_CLIENTS.get(client_class, client_class)
    if options.get("REPLICA_READ_ONLY", True) is not True:
        raise ImproperlyConfigured(
            "REPLICA_READ_ONLY=False is not supported: writes always go to the primary "
            "(replicas refuse writes, and a write there would not reach the primary)"
        )
    factory = options.get("CONNECTION_FACTORY", _global_setting("CONNECTION_FACTORY", None))
    if factory is not None and factory not in SENTINEL_FACTORIES | PLAIN_FACTORIES:
        raise ImproperlyConfigured(
            f"CONNECTION_FACTORY {factory!r} is not supported: connections are managed by "
            "django-async-redis's own transport. For Sentinel, set "
            f"CLIENT_CLASS={SENTINEL_CLIENT!r} (django-redis's SentinelConnectionFactory "
            "is understood too)."
        )
    if client_class in _DEFAULT_CLIENT_PATHS and (factory in SENTINEL_FACTORIES or sentinels):
        # django-redis: DefaultClient + SENTINELS + SentinelConnectionFactory.
        return SENTINEL_CLIENT
    if factory in SENTINEL_FACTORIES and client_class != SENTINEL_CLIENT:
        raise ImproperlyConfigured(
            f"CONNECTION_FACTORY {factory!r} asks for Sentinel, but CLIENT_CLASS is "
            f"{client_class!r}: use {SENTINEL_CLIENT!r} (or DefaultClient)"
        )
    return client_class


def _sentinel_nodes(options: Mapping[str, Any]) -> tuple[Node, ...]:
    """OPTIONS["SENTINELS"] as nodes, connected as SENTINEL_KWARGS says."""
    entries = options.get("SENTINELS")
    kwargs = options.get("SENTINEL_KWARGS") or {}
    if not isinstance(kwargs, Mapping):
        raise ImproperlyConfigured(f"SENTINEL_KWARGS must be a dict, not {type(kwargs).__name__}")
    for key in kwargs:
        if key not in SENTINEL_KWARGS_KEYS:
            raise _unknown("SENTINEL_KWARGS key", key, SENTINEL_KWARGS_KEYS)
    if entries is None:
        if kwargs:
            raise ImproperlyConfigured("SENTINEL_KWARGS is set but SENTINELS is not")
        return ()
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ImproperlyConfigured(
            f"SENTINELS must be a list of (host, port) pairs, not {entries!r}"
        )
    tls = TLSOptions(**_tls_options(kwargs, "SENTINEL_KWARGS")) if kwargs.get("ssl") else None
    nodes = []
    for entry in entries:
        if (
            not isinstance(entry, (list, tuple))
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or isinstance(entry[1], bool)
            or not isinstance(entry[1], int)
        ):
            raise ImproperlyConfigured(
                f"SENTINELS entry {entry!r} must be a (host, port) pair, e.g. ('10.0.0.5', 26379)"
            )
        nodes.append(
            Node(
                host=entry[0],
                port=entry[1],
                username=kwargs.get("username"),
                password=kwargs.get("password"),
                tls=tls,
                socket_timeout=_timeout(
                    "SENTINEL_KWARGS['socket_timeout']",
                    kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT),
                ),
                connect_timeout=_timeout(
                    "SENTINEL_KWARGS['socket_connect_timeout']",
                    kwargs.get("socket_connect_timeout", DEFAULT_CONNECT_TIMEOUT),
                ),
                keepalive=bool(kwargs.get("socket_keepalive", True)),
                client_name=kwargs.get("client_name"),
            )
        )
    return tuple(nodes)


# The validators, for option parsers that live beside what they configure.
seconds_setting = _timeout
flag_setting = _flag
