"""What the client cache tests share: a cache with it on, waiting, the tracking connections."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django_async_redis.cache import RedisCache
from django_async_redis.client_cache.tier import LocalTier
from tests import servers

# How long an invalidation may take to arrive before a test gives up: a bound
# on a hang, never a measure of speed (the wait polls and ends at once).
DELIVERY_BOUND = 15.0


def cached(location: Any, prefix: str = "cc", **options: Any) -> RedisCache:
    """A backend with CLIENT_CACHE on (its dict from ``options``, else the defaults)."""
    client_cache = options.pop("CLIENT_CACHE", True)
    return RedisCache(
        location,
        {"KEY_PREFIX": prefix, "OPTIONS": {"CLIENT_CACHE": client_cache, **options}},
    )


def tier_of(cache: RedisCache) -> LocalTier:
    tier: LocalTier = cache.client.tier  # type: ignore[attr-defined]
    return tier


def wait_until(condition: Callable[[], Any], what: str, bound: float = DELIVERY_BOUND) -> Any:
    """Poll ``condition`` until it is true; fail naming ``what`` after ``bound`` seconds."""
    deadline = time.monotonic() + bound
    while True:
        outcome = condition()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound}s: {what}")
        time.sleep(0.001)


def tracking_clients(server: servers.Server, tier: LocalTier | None = None) -> list[dict[str, str]]:
    """The server's connections in broadcast tracking mode (flags t and B); ``tier``'s only."""
    ours = None
    if tier is not None:
        ours = {
            "%s:%s" % tracker._sock.getsockname()[:2]  # noqa: UP031
            for tracker in tier._trackers.values()
        }
    return [
        client
        for client in server.client_list()
        if "t" in client["flags"]
        and "B" in client["flags"]
        and (ours is None or client["addr"] in ours)
    ]
