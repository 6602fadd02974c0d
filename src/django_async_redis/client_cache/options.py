"""OPTIONS["CLIENT_CACHE"]: validated once, when the cache is built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# The longest an entry lives locally. Invalidations keep entries exact while
# the tracking connection is up; this bounds what a tracking connection that
# died without a word (a network partition, no FIN) could leave stale.
DEFAULT_TTL = 60.0
KNOWN_KEYS = frozenset({"MAX_ENTRIES", "MAX_BYTES", "TTL"})


@dataclass(frozen=True)
class ClientCacheOptions:
    """How big the local tier may grow, how long an entry lives, what it tracks."""

    max_entries: int = DEFAULT_MAX_ENTRIES
    max_bytes: int = DEFAULT_MAX_BYTES
    ttl: float = DEFAULT_TTL
    # The key prefix the servers broadcast invalidations for (b"": every key).
    # Only keys under it are kept: of any other, no invalidation would come.
    prefix: bytes = b""


def parse_client_cache(
    value: Any, key_prefix: Any, custom_key_function: bool
) -> ClientCacheOptions | None:
    """``CLIENT_CACHE`` as options, or None when it is off.

    ``True`` takes the defaults; a dict may set MAX_ENTRIES, MAX_BYTES and TTL.
    The tracked prefix is the cache's KEY_PREFIX when Django's own key
    function puts it first in every key; with a KEY_FUNCTION of its own, or
    no prefix, every key is tracked.
    """
    if value is None or value is False:
        return None
    if value is True:
        settings: Mapping[str, Any] = {}
    elif isinstance(value, Mapping):
        settings = value
    else:
        raise ImproperlyConfigured(
            f"OPTIONS 'CLIENT_CACHE' must be True, False or a dict, not {value!r}"
        )
    for key in settings:
        if key not in KNOWN_KEYS:
            raise ImproperlyConfigured(
                f"OPTIONS['CLIENT_CACHE'] has no {key!r}; it takes {sorted(KNOWN_KEYS)}"
            )
    max_entries = settings.get("MAX_ENTRIES", DEFAULT_MAX_ENTRIES)
    max_bytes = settings.get("MAX_BYTES", DEFAULT_MAX_BYTES)
    ttl = settings.get("TTL", DEFAULT_TTL)
    for name, number in (("MAX_ENTRIES", max_entries), ("MAX_BYTES", max_bytes)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ImproperlyConfigured(
                f"OPTIONS['CLIENT_CACHE']['{name}'] must be a positive integer, not {number!r}"
            )
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0:
        raise ImproperlyConfigured(
            f"OPTIONS['CLIENT_CACHE']['TTL'] must be a positive number of seconds, not {ttl!r}"
        )
    prefix = b""
    if key_prefix and not custom_key_function:
        prefix = f"{key_prefix}:".encode()
    return ClientCacheOptions(
        max_entries=max_entries, max_bytes=max_bytes, ttl=float(ttl), prefix=prefix
    )
