"""Settings: LOCATION and OPTIONS, validated once when the cache is built.

Every mistake is reported here, at startup, with the name of what was wrong:
an unknown OPTIONS key (with the closest valid one), a malformed URL, a value
of the wrong type.
"""

from __future__ import annotations

import difflib
import re
import ssl
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULT_SOCKET_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_CONNECTIONS = 128
DEFAULT_ASYNC_CONNECTIONS = 1
DEFAULT_SCAN_ITERSIZE = 10
# The circuit breaker (transport/breaker.py): node failures in a row that open
# it, and seconds before a trial call.
DEFAULT_BREAKER_THRESHOLD = 3
DEFAULT_BREAKER_COOLDOWN = 1.0

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
        # Counters and tracing spans (metrics.py), off by default.
        "METRICS",
        "TRACING",
        "PROTOCOL",
        # Reading values back (codec.py, signing.py, docs/security.md).
        "SIGNING",
        "ON_DECODE_ERROR",
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

URL_QUERY_KEYS = frozenset(
    {
        "db",
        "socket_timeout",
        "socket_connect_timeout",
        "client_name",
        "protocol",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)

SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")

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


def _unknown(kind: str, key: str, known: frozenset[str]) -> ImproperlyConfigured:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ImproperlyConfigured(f"Unknown {kind} {key!r}.{hint}")


def redacted(url: str) -> str:
    """``url`` with any password shown as ***: for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        parts = parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}")
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", urlunsplit(parts))


def _timeout(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ImproperlyConfigured(f"{name} must be a number of seconds or None, not {value!r}")
    try:
        seconds = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds <= 0:
        raise ImproperlyConfigured(f"{name} must be positive, not {value!r}")
    return seconds


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, not {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value


def _global_setting(suffix: str, default: Any) -> Any:
    """A project-wide setting under django-redis's name or the seed's spelling."""
    for prefix in ("DJANGO_REDIS_", "DJANGO_ASYNC_REDIS_"):
        name = prefix + suffix
        if hasattr(settings, name):
            return getattr(settings, name)
    return default


@dataclass(frozen=True)
class TLSOptions:
    cert_reqs: str = "required"
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = field(default=None, repr=False)
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        """An SSL context built from these options (made per connection set, not per call)."""
        context = ssl.create_default_context(cafile=self.ca_certs)
        reqs = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
        context.check_hostname = self.check_hostname and self.cert_reqs != "none"
        context.verify_mode = reqs[self.cert_reqs]
        if self.certfile:
            context.load_cert_chain(self.certfile, self.keyfile, self.keyfile_password)
        return context


@dataclass(frozen=True)
class Node:
    """One server and how to talk to it; equal nodes share connections."""

    host: str = "127.0.0.1"
    port: int = 6379
    unix_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TLSOptions | None = None
    socket_timeout: float | None = DEFAULT_SOCKET_TIMEOUT
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    keepalive: bool = True
    client_name: str | None = None
    # A cluster replica that should serve reads (READONLY on connect).
    readonly: bool = False
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD
    breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN
    # RESP2, or RESP3 (HELLO 3) with PROTOCOL: 3.
    protocol: int = 2

    if TYPE_CHECKING:
        # Not a real field (it would join astuple, which __post_init__ hashes):
        # set once in __post_init__, declared here only for the type checker.
        _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Nodes key the connection registries on every call: hash once, not per lookup.
        object.__setattr__(self, "_hash", hash(astuple(self)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def call_budget(self) -> float | None:
        """How long one call may wait in all, connecting included (None: no bound).

        SOCKET_TIMEOUT, or SOCKET_CONNECT_TIMEOUT when that was set longer.
        """
        if self.socket_timeout is None:
            return None
        return max(self.socket_timeout, self.connect_timeout or 0.0)

    @property
    def address(self) -> str:
        return self.unix_path or f"{self.host}:{self.port}"

    def handshake(self) -> list[tuple[Any, ...]]:
        """Commands that prepare a new connection: AUTH, SELECT, CLIENT SETNAME."""
        commands: list[tuple[Any, ...]] = []
        if self.protocol == 3:
            # HELLO switches the protocol, authenticates and names in one go.
            hello: tuple[Any, ...] = (b"HELLO", 3)
            if self.password is not None:
                hello += (b"AUTH", self.username or b"default", self.password)
            if self.client_name:
                hello += (b"SETNAME", self.client_name)
            commands.append(hello)
            if self.db:
                commands.append((b"SELECT", self.db))
            if self.readonly:
                commands.append((b"READONLY",))
            return commands
        if self.password is not None:
            if self.username:
                commands.append((b"AUTH", self.username, self.password))
            else:
                commands.append((b"AUTH", self.password))
        if self.db:
            commands.append((b"SELECT", self.db))
        if self.client_name:
            commands.append((b"CLIENT", b"SETNAME", self.client_name))
        if self.readonly:
            commands.append((b"READONLY",))
        return commands


def _tls_options(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "ssl_cert_reqs" in values:
        reqs = values["ssl_cert_reqs"]
        if reqs is None:
            reqs = "none"
        elif isinstance(reqs, int) and not isinstance(reqs, bool):
            reqs = {int(ssl.CERT_NONE): "none", int(ssl.CERT_OPTIONAL): "optional"}.get(
                reqs, "required"
            )
        if reqs not in ("none", "optional", "required"):
            raise ImproperlyConfigured(
                f"ssl_cert_reqs in {where} must be 'none', 'optional' or 'required', not {reqs!r}"
            )
        options["cert_reqs"] = reqs
    for key in ("ca_certs", "certfile", "keyfile", "keyfile_password"):
        if values.get("ssl_" + key) is not None:
            options[key] = str(values["ssl_" + key])
    if "ssl_check_hostname" in values:
        check = values["ssl_check_hostname"]
        if isinstance(check, str):
            check = check.lower() in ("1", "true", "yes")
        options["check_hostname"] = bool(check)
    return options


def _protocol(value: Any) -> int:
    if value in (2, 3, "2", "3"):
        return int(value)
    raise ImproperlyConfigured(f"PROTOCOL must be 2 (RESP2) or 3 (RESP3), not {value!r}")


def parse_url(url: str, defaults: Mapping[str, Any]) -> Node:
    """A Node from one LOCATION URL; ``defaults`` carries OPTIONS-level values."""
    if not isinstance(url, str) or not url.strip():
        raise ImproperlyConfigured(f"LOCATION entry {url!r} is not a Redis URL")
    url = url.strip()
    parts = urlsplit(url)
    shown = redacted(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ImproperlyConfigured(
            f"LOCATION {shown!r} must start with redis://, rediss:// or unix:// "
            f"(got scheme {parts.scheme!r})"
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    for key in query:
        if key not in URL_QUERY_KEYS:
            raise _unknown(f"query parameter in LOCATION {shown!r}:", key, URL_QUERY_KEYS)

    values = dict(defaults)
    values.update({key: value for key, value in query.items() if key != "db"})
    username = unquote(parts.username) if parts.username else defaults.get("username")
    password = unquote(parts.password) if parts.password is not None else defaults.get("password")

    db_text = query.get("db")
    path = parts.path
    if scheme == "unix":
        if not path:
            raise ImproperlyConfigured(f"LOCATION {shown!r} names no socket path")
    elif path and path != "/" and db_text is None:
        db_text = path.lstrip("/")
    db = 0
    if db_text not in (None, ""):
        try:
            db = int(str(db_text))
        except ValueError:
            raise ImproperlyConfigured(
                f"LOCATION {shown!r}: the database must be a number, not {db_text!r}"
            ) from None
        if db < 0:
            raise ImproperlyConfigured(f"LOCATION {shown!r}: the database must not be negative")

    node_kwargs: dict[str, Any] = {
        "db": db,
        "username": username or None,
        "password": password,
        "socket_timeout": _timeout("SOCKET_TIMEOUT", values.get("socket_timeout")),
        "connect_timeout": _timeout("SOCKET_CONNECT_TIMEOUT", values.get("socket_connect_timeout")),
        "keepalive": bool(values.get("socket_keepalive", True)),
        "client_name": values.get("client_name"),
        "breaker_threshold": values.get("breaker_threshold", DEFAULT_BREAKER_THRESHOLD),
        "protocol": _protocol(values.get("protocol", 2)),
        "breaker_cooldown": values.get("breaker_cooldown", DEFAULT_BREAKER_COOLDOWN),
    }
    if scheme == "unix":
        node_kwargs["unix_path"] = path
    else:
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"LOCATION {shown!r} has an invalid port") from None
        if not parts.hostname:
            raise ImproperlyConfigured(f"LOCATION {shown!r} names no host")
        node_kwargs["host"] = parts.hostname
        node_kwargs["port"] = port or 6379
        if scheme in ("rediss", "valkeys"):
            node_kwargs["tls"] = TLSOptions(**_tls_options(values, f"LOCATION {shown!r}"))
    return Node(**node_kwargs)


def split_location(location: Any) -> list[str]:
    """LOCATION as a list of URLs: a list, or a comma/semicolon-separated string."""
    if isinstance(location, str):
        urls = [part for part in location.replace(";", ",").split(",") if part.strip()]
    elif isinstance(location, (list, tuple)):
        urls = list(location)
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a URL or a list of URLs, not {type(location).__name__}"
        )
    if not urls:
        raise ImproperlyConfigured("LOCATION is empty: give at least one redis:// URL")
    return urls


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
