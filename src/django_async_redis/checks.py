"""System checks (``manage.py check``) for settings that start fine but hurt.

Registered by :class:`~django_async_redis.apps.DjangoAsyncRedisConfig` when
``"django_async_redis"`` is in INSTALLED_APPS. Hard mistakes (a malformed
LOCATION, an unknown OPTIONS key, a missing codec package) are not repeated
here: they raise ImproperlyConfigured when the cache is built, and Django's own
cache checks build every cache, so ``manage.py check`` shows them anyway.

Every check reads settings only: none builds a client or opens a connection,
so ``check`` runs the same on a laptop with no server as in production.
See docs/checks.md for each id.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .config import CacheConfig, parse_config

OUR_SESSION_ENGINE = "django_async_redis.sessions"
DJANGO_CACHE_SESSION_ENGINE = "django.contrib.sessions.backends.cache"
DOCS = "see docs/checks.md"


def _our_caches() -> Iterator[tuple[str, CacheConfig]]:
    """(alias, validated config) of every CACHES entry that is one of ours.

    An entry whose settings do not validate is left to the cache itself: it
    raises ImproperlyConfigured, with its message, when Django's checks build it.
    """
    for alias, params in getattr(settings, "CACHES", {}).items():
        if not _is_ours(params.get("BACKEND")):
            continue
        try:
            yield alias, parse_config(params.get("LOCATION", ""), params)
        except ImproperlyConfigured:
            continue


def _is_ours(backend: Any) -> bool:
    if not isinstance(backend, str):
        return False
    from .cache import RedisCache

    try:
        cls = import_string(backend)
    except ImportError:
        return False
    return isinstance(cls, type) and issubclass(cls, RedisCache)


def check_caches(
    app_configs: Iterable[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for alias, config in _our_caches():
        messages += _culling(alias, config.options)
        messages += _herd(alias, config)
        messages += _pickle_in_the_clear(alias, config)
    return messages


def _culling(alias: str, options: Mapping[str, Any]) -> list[CheckMessage]:
    given = [name for name in ("MAX_ENTRIES", "CULL_FREQUENCY") if name in options]
    if not given:
        return []
    return [
        CheckWarning(
            f"CACHES[{alias!r}] sets {' and '.join(given)}, which "
            f"{'has' if len(given) == 1 else 'have'} no effect: Redis never culls by count.",
            hint="Remove them, and bound memory on the server instead: maxmemory plus a "
            f"maxmemory-policy such as allkeys-lru ({DOCS}).",
            obj=alias,
            id="django_async_redis.W001",
        )
    ]


def _herd(alias: str, config: CacheConfig) -> list[CheckMessage]:
    try:  # importing the class is no connection; a bad path is the cache's own error
        herd_client = bool(getattr(import_string(config.client_class), "herd", False))
    except ImportError:
        herd_client = False
    if not (herd_client or config.options.get("HERD") is True):
        return []
    return [
        CheckWarning(
            f"CACHES[{alias!r}] uses the herd, so incr()/decr() on it raise: a herd value "
            "is not a bare integer Redis can increment.",
            hint="Keep counters (rate limits, statistics) on another alias without the herd, "
            f"or use OPTIONS STAMPEDE_LOCK instead of the herd ({DOCS}).",
            obj=alias,
            id="django_async_redis.W002",
        )
    ]


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _pickle_in_the_clear(alias: str, config: CacheConfig) -> list[CheckMessage]:
    serializer = str(config.options.get("SERIALIZER", "pickle"))
    if "pickle" not in serializer.lower() or config.options.get("SIGNING") not in (None, False):
        return []
    # Sentinel: the data servers are found at run time; the sentinels' hosts
    # tell where they live. TLS for the data servers comes from LOCATION's scheme.
    hosts = [node.host for node in config.sentinels] or [
        node.host for node in config.nodes if node.unix_path is None
    ]
    remote = sorted({host for host in hosts if not _is_loopback(host)})
    if not remote or all(node.tls is not None for node in config.nodes):
        return []
    return [
        CheckWarning(
            f"CACHES[{alias!r}] unpickles what it reads from {', '.join(remote)} over plain "
            "TCP, unsigned: whoever can write to that server or the network can run code "
            "in this process.",
            hint="Sign the values (OPTIONS SIGNING) and use TLS (rediss://), or pick the "
            "JSON or msgpack serializer (see docs/security.md and docs/checks.md).",
            obj=alias,
            id="django_async_redis.W003",
        )
    ]


def check_sessions(
    app_configs: Iterable[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    engine = getattr(settings, "SESSION_ENGINE", "")
    alias = getattr(settings, "SESSION_CACHE_ALIAS", "default")
    params = getattr(settings, "CACHES", {}).get(alias)
    if engine == OUR_SESSION_ENGINE:
        if params is None or not _is_ours(params.get("BACKEND")):
            backend = "missing" if params is None else f"a {params.get('BACKEND')}"
            return [
                Error(
                    f"SESSION_ENGINE is {OUR_SESSION_ENGINE!r} but SESSION_CACHE_ALIAS "
                    f"{alias!r} is {backend}: every request with a session would fail.",
                    hint="Point SESSION_CACHE_ALIAS at a django_async_redis.cache.RedisCache "
                    f"alias ({DOCS}).",
                    id="django_async_redis.E001",
                )
            ]
        if getattr(settings, "DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS", False):
            return [_lost_logins("DJANGO_ASYNC_REDIS_SESSION_IGNORE_EXCEPTIONS is on")]
    elif (
        engine == DJANGO_CACHE_SESSION_ENGINE
        and params is not None
        and _is_ours(params.get("BACKEND"))
    ):
        try:
            config = parse_config(params.get("LOCATION", ""), params)
        except ImproperlyConfigured:
            return []
        if config.ignore_exceptions:
            return [_lost_logins(f"CACHES[{alias!r}] has IGNORE_EXCEPTIONS")]
    return []


def _lost_logins(cause: str) -> CheckMessage:
    return CheckWarning(
        f"Sessions are stored in Redis and {cause}: while the server is unreachable every "
        "user looks logged out, and logins and session changes are silently lost.",
        hint="Let session errors surface (a 500 says what happened), or use the cached_db "
        f"engine, which falls back to the database ({DOCS}).",
        id="django_async_redis.W004",
    )


def register_checks() -> None:
    """Called by the AppConfig: only an installed app adds checks."""
    register(check_caches, Tags.caches)
    register(check_sessions, Tags.caches)
