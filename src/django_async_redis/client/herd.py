"""HerdClient: django-redis's thundering-herd protection, for every serializer and client.

The herd is not a kind of topology but a way of reading and writing values,
so it lives beside the codec rather than in a client: :func:`value_ops` picks
the operations RedisCache uses for its plain values, the stock ``ops`` or a
:class:`HerdOps`. ``HerdClient`` is DefaultClient asking for the herd (the
django-redis spelling); OPTIONS ``HERD: True`` asks for it on any client
(Sentinel, Cluster, shards). OPTIONS ``STAMPEDE_LOCK: True`` makes get_or_set
compute once per key across callers, with or without the herd.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from .. import ops
from ..config import flag_setting, seconds_setting
from ..ops import Decode, Encoded, Expiry, Step
from ..ops import herd as herd_ops
from .default import DefaultClient

DEFAULT_HERD_TIMEOUT = 60
DEFAULT_STAMPEDE_LOCK_TIMEOUT = 10.0


@dataclass(frozen=True)
class HerdOptions:
    """The herd window and the get_or_set lock, in milliseconds (0 / None: off)."""

    herd: bool = False
    window_ms: int = DEFAULT_HERD_TIMEOUT * 1000
    lock_ms: int | None = None


def parse_herd_options(options: Mapping[str, Any]) -> HerdOptions:
    """HERD, HERD_TIMEOUT (else django-redis's CACHE_HERD_TIMEOUT setting), STAMPEDE_LOCK*."""
    window = options.get("HERD_TIMEOUT", getattr(settings, "CACHE_HERD_TIMEOUT", None))
    window_s = DEFAULT_HERD_TIMEOUT if window is None else seconds_setting("HERD_TIMEOUT", window)
    lock_timeout = seconds_setting(
        "STAMPEDE_LOCK_TIMEOUT",
        options.get("STAMPEDE_LOCK_TIMEOUT", DEFAULT_STAMPEDE_LOCK_TIMEOUT),
    )
    locked = flag_setting("STAMPEDE_LOCK", options.get("STAMPEDE_LOCK", False))
    return HerdOptions(
        herd=flag_setting("HERD", options.get("HERD", False)),
        window_ms=round((window_s or DEFAULT_HERD_TIMEOUT) * 1000),
        lock_ms=max(1, round((lock_timeout or DEFAULT_STAMPEDE_LOCK_TIMEOUT) * 1000))
        if locked
        else None,
    )


class HerdClient(DefaultClient):
    """DefaultClient with the herd on (CACHE_HERD_TIMEOUT, default 60 s)."""

    herd = True


class ValueOps(Protocol):
    """The operations RedisCache builds for plain values; ``ops`` is one."""

    def get(self, key: bytes, default: Any, decode: Decode) -> Step[Any]: ...

    def get_many(self, keys: dict[bytes, Any], decode: Decode) -> Step[dict[Any, Any]]: ...

    def add(self, key: bytes, value: Encoded, expiry_ms: Expiry) -> Step[bool]: ...

    def set(
        self, key: bytes, value: Encoded, expiry_ms: Expiry, nx: bool = ..., xx: bool = ...
    ) -> Step[bool]: ...

    def set_many(
        self, items: list[tuple[bytes, Encoded]], expiry_ms: Expiry
    ) -> Step[list[Any]]: ...

    def touch(self, key: bytes, expiry_ms: Expiry) -> Step[bool]: ...

    def expire(self, key: bytes, amount: int, milliseconds: bool = ...) -> Step[bool]: ...

    def expire_at(self, key: bytes, when: int, milliseconds: bool = ...) -> Step[bool]: ...

    def incr(self, key: bytes, delta: int, key_name: str, check_key: bool = ...) -> Step[int]: ...

    def get_or_set(
        self,
        key: bytes,
        default: Any,
        expiry_ms: Expiry,
        encode: Callable[[Any], Encoded],
        decode: Decode,
    ) -> Step[Any]: ...


def _django_redis_unpacking(decode: Decode) -> Decode:
    """``decode``, which also unwraps what django-redis's HerdClient stored.

    It pickles (marker, value, soft expiry) tuples; read back here they give
    the value, so a cache switched from its HerdClient to ours stays warm
    (unpickling them needs django-redis importable until they have expired).
    """

    def decoded(data: bytes) -> Any:
        value = decode(data)
        if (
            type(value) is tuple
            and len(value) == 3
            and type(value[0]).__module__ == "django_redis.client.herd"
        ):
            return value[1]
        return value

    return decoded


class HerdOps:
    """Value operations with the herd window and/or the get_or_set lock."""

    def __init__(self, window_ms: int, lock_ms: int | None) -> None:
        self.window_ms = window_ms
        self.lock_ms = lock_ms
        self._unpacking: dict[Decode, Decode] = {}

    def _decode(self, decode: Decode) -> Decode:
        if not self.window_ms:
            return decode
        wrapped = self._unpacking.get(decode)
        if wrapped is None:
            wrapped = self._unpacking[decode] = _django_redis_unpacking(decode)
        return wrapped

    def _extend(self, expiry_ms: Expiry) -> Expiry:
        # Kept for the window beyond its timeout, so late readers still get it.
        if expiry_ms is None or expiry_ms <= 0:
            return expiry_ms
        return expiry_ms + self.window_ms

    def get(self, key: bytes, default: Any, decode: Decode) -> Step[Any]:
        if not self.window_ms:
            return ops.get(key, default, decode)
        return herd_ops.get(key, default, self._decode(decode), self.window_ms)

    def get_many(self, keys: dict[bytes, Any], decode: Decode) -> Step[dict[Any, Any]]:
        if not self.window_ms:
            return ops.get_many(keys, decode)
        return herd_ops.get_many(keys, self._decode(decode), self.window_ms)

    def add(self, key: bytes, value: Encoded, expiry_ms: Expiry) -> Step[bool]:
        return ops.add(key, value, self._extend(expiry_ms))

    def set(
        self, key: bytes, value: Encoded, expiry_ms: Expiry, nx: bool = False, xx: bool = False
    ) -> Step[bool]:
        return ops.set(key, value, self._extend(expiry_ms), nx=nx, xx=xx)

    def set_many(self, items: list[tuple[bytes, Encoded]], expiry_ms: Expiry) -> Step[list[Any]]:
        return ops.set_many(items, self._extend(expiry_ms))

    def touch(self, key: bytes, expiry_ms: Expiry) -> Step[bool]:
        return ops.touch(key, self._extend(expiry_ms))

    def expire(self, key: bytes, amount: int, milliseconds: bool = False) -> Step[bool]:
        # The new timeout is the value's, as touch's: the window comes after
        # it. Zero or less still deletes the key.
        if not self.window_ms or amount <= 0:
            return ops.expire(key, amount, milliseconds)
        amount_ms = amount if milliseconds else amount * 1000
        return ops.expire(key, amount_ms + self.window_ms, milliseconds=True)

    def expire_at(self, key: bytes, when: int, milliseconds: bool = False) -> Step[bool]:
        # The value's own deadline; the key lives on for the window after it.
        if not self.window_ms:
            return ops.expire_at(key, when, milliseconds)
        when_ms = when if milliseconds else when * 1000
        return ops.expire_at(key, when_ms + self.window_ms, milliseconds=True)

    def incr(self, key: bytes, delta: int, key_name: str, check_key: bool = True) -> Step[int]:
        if self.window_ms:
            # As in django-redis: a counter has no "recompute", so early
            # refresh makes no sense for it; keep counters in another cache.
            raise NotImplementedError(
                "incr() and decr() are not supported with the herd (HerdClient or "
                "OPTIONS HERD): use a cache without it for counters"
            )
        return ops.incr(key, delta, key_name, check_key)

    def get_or_set(
        self,
        key: bytes,
        default: Any,
        expiry_ms: Expiry,
        encode: Callable[[Any], Encoded],
        decode: Decode,
    ) -> Step[Any]:
        return herd_ops.get_or_set(
            key,
            default,
            self._extend(expiry_ms),
            encode,
            self._decode(decode),
            self.window_ms,
            self.lock_ms,
        )


def value_ops(options: HerdOptions, client: Any) -> ValueOps:
    """The plain ``ops``, or HerdOps when the herd or the get_or_set lock is asked for."""
    herd = options.herd or bool(getattr(client, "herd", False))
    if not herd and options.lock_ms is None:
        return ops
    return HerdOps(options.window_ms if herd else 0, options.lock_ms)


__all__ = ["HerdClient", "HerdOps", "value_ops"]
