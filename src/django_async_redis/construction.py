"""Building a backend for an alias built before costs a dictionary copy.

Under ASGI, Django's ``caches`` is an asgiref ``Local``: every request runs in
a task of its own, so Django builds a new backend object per request and
closes it when the request ends. Everything ``RedisCache.__init__`` derives
is a function of its arguments (LOCATION and the alias's parameters) and of
the settings it reads (``DJANGO_REDIS_*``, ``DJANGO_ASYNC_REDIS_*``,
``CACHE_HERD_TIMEOUT``, CACHES for the metrics alias): the parsed
configuration, the codec, the topology client, the value operations, the
logger, and BaseCache's own attributes. So the first backend built from given
arguments keeps a snapshot of its attributes here, and the next one with equal
arguments starts as a copy of it.

Exact by construction:
- The snapshot is keyed by the backend's class and a frozen copy of its
  arguments: two aliases with different settings never share anything, and a
  class, callable or object in the parameters (KEY_FUNCTION, a SERIALIZER
  class) is compared by identity. Arguments that cannot be frozen (an
  unhashable object somewhere) are never remembered: that backend is built in
  full every time.
- Any ``setting_changed`` signal (``override_settings``, pytest-django's
  ``settings`` fixture) forgets every snapshot, whatever the setting: a
  backend built after it reads the new settings.

What is shared is either immutable (the frozen config, the codec) or built to
be shared (the client routes to the process-wide connection pools of
``transport/registry.py``; the herd's decoder memo). Nothing a backend mutates
per instance is in a snapshot: the copy is of the attribute dictionary, so an
attribute set later on one backend is that backend's alone.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

from django.core.signals import setting_changed

# A bound on the snapshots kept: an alias is one entry, so this is only reached
# by code that builds backends from ever-new parameters; then the oldest half
# is dropped rather than growing without end.
MAX_SNAPSHOTS = 256

_snapshots: dict[Hashable, dict[str, Any]] = {}
_lock = threading.Lock()


class _Unfreezable(Exception):
    pass


# Settings values are mostly these: frozen without the ABC checks below (an
# isinstance against Mapping goes through abc's __instancecheck__, slow).
_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


def _frozen(value: Any) -> Hashable:
    kind = type(value)
    if kind in _ATOMS:
        return (kind, value)
    if kind is dict or isinstance(value, Mapping):
        # A frozenset of the pairs: equal whatever the order, and no sorting
        # (keys need not even compare).
        return ("mapping", frozenset((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(item) for item in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_frozen(item) for item in value))
    try:
        hash(value)
    except TypeError:
        raise _Unfreezable from None
    # Equal but distinct kinds (1, 1.0 and True) must not meet.
    return (type(value), value)


def snapshot_key(cls: type, server: Any, params: Mapping[str, Any]) -> Hashable | None:
    """What a backend's construction depends on, frozen; None if it cannot be."""
    try:
        return (cls, _frozen(server), _frozen(params))
    except _Unfreezable:
        return None


def snapshot(key: Hashable | None) -> dict[str, Any] | None:
    """The attributes of the backend last built under ``key``, if any."""
    return None if key is None else _snapshots.get(key)


def remember(key: Hashable | None, attributes: dict[str, Any]) -> None:
    """Keep ``attributes`` (a backend's, just built) for the next backend under ``key``."""
    if key is None:
        return
    with _lock:
        if len(_snapshots) >= MAX_SNAPSHOTS:
            for old in list(_snapshots)[: MAX_SNAPSHOTS // 2]:
                del _snapshots[old]
        _snapshots[key] = dict(attributes)


def forget_all(**kwargs: Any) -> None:
    """Drop every snapshot (connected to Django's ``setting_changed``)."""
    with _lock:
        _snapshots.clear()


setting_changed.connect(forget_all, dispatch_uid="django_async_redis.construction")
