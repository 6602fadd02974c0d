"""Reads that refresh early (the herd) and get_or_set under a lock (stampede-safe).

Herd: a value is stored for its timeout plus a window (HERD_TIMEOUT), and a
read inside that window, its last HERD_TIMEOUT seconds of life, is told "miss"
with a chance of (seconds past the timeout + 1) / HERD_TIMEOUT, as
django-redis's HerdClient decides: 1 in HERD_TIMEOUT right at the timeout,
certain in the window's last second; everyone else still gets the value. So a
key whose timeout `touch` or `expire` moved is refreshed from its new timeout
on, and with django-redis's test window (2 s) a read a second past it is a
miss. The window is read from the key's own TTL (PTTL beside the
GET), so the stored bytes are exactly the plain codec's: every serializer
works, and switching the herd on or off needs no flush.

Stampede-safe get_or_set: on a miss one caller takes a short lock (SET NX PX)
and computes; the others poll for its value (``Wait`` between reads) until the
lock's lifetime has passed, then compute themselves.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from . import Decode, Encoded, Expiry, Step, Wait, add, decode_found

_MISSING = object()

# Compare-and-delete: only the holder's token releases the lock.
RELEASE_SCRIPT = (
    b"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
LOCK_SUFFIX = b":get_or_set-lock"
FIRST_POLL = 0.005
LONGEST_POLL = 0.1


def refresh_now(remaining_ms: int | None, window_ms: int) -> bool:
    """Whether this reader should act as if the value had expired."""
    if not window_ms or remaining_ms is None or remaining_ms < 0:
        return False  # no herd, no key, or no expiry (-1/-2)
    late_by = window_ms - remaining_ms  # how far past the value's own timeout
    # django-redis draws whole seconds 1..HERD_TIMEOUT and refreshes when the
    # draw plus the seconds late reach HERD_TIMEOUT: chance (late + 1 s) / window.
    return late_by > 0 and random.random() * window_ms < late_by + 1000


def get(key: bytes, default: Any, decode: Decode, window_ms: int) -> Step[Any]:
    def then(replies: list[Any]) -> Any:
        data, remaining = replies
        if data is None or refresh_now(remaining, window_ms):
            return default
        return decode(data)

    return Step(((b"GET", key), (b"PTTL", key)), then, write=False)


def get_many(keys: dict[bytes, Any], decode: Decode, window_ms: int) -> Step[dict[Any, Any]]:
    """As ``ops.get_many``; a key this reader should refresh counts as missing."""
    callers = list(keys.values())

    def then(replies: list[Any]) -> dict[Any, Any]:
        values, remainders = replies[0], replies[1:]
        found = (
            (key, caller, None if refresh_now(remaining, window_ms) else data)
            for key, caller, data, remaining in zip(keys, callers, values, remainders, strict=False)
        )
        return decode_found(found, decode)

    return Step([(b"MGET", *keys), *((b"PTTL", key) for key in keys)], then, write=False)


def get_or_set(
    key: bytes,
    default: Any,
    expiry_ms: Expiry,
    encode: Callable[[Any], Encoded],
    decode: Decode,
    window_ms: int,
    lock_ms: int | None,
) -> Step[Any]:
    """get_or_set with the herd window and, when ``lock_ms`` is given, one computer per key."""
    lock_key = key + LOCK_SUFFIX
    token = b""  # made only when the lock is tried: hits should cost nothing extra

    def compute() -> Any:
        return default() if callable(default) else default

    def store(value: Any, stale: Any, holding: bool) -> Step[Any]:
        # A refresh overwrites the stale value; a first value is added only
        # if nobody stored one meanwhile, whose value then wins (as Django's).
        if stale is _MISSING:
            commands = [*add(key, encode(value), expiry_ms).commands, (b"GET", key)]
        else:
            commands = [_set(key, encode(value), expiry_ms)]
        if holding:
            commands.append(_release(lock_key, token))

        def then(replies: list[Any]) -> Any:
            if stale is _MISSING and replies[1] is not None:
                return decode(replies[1])
            return value

        return Step(commands, then, write=True)

    def compute_and_store(stale: Any, holding: bool) -> Step[Any]:
        try:
            value = compute()
        except BaseException as error:
            if not holding:
                raise
            return Step([_release(lock_key, token)], _raise(error), write=True)
        return store(value, stale, holding)

    def on_read(replies: list[Any]) -> Any:
        data = replies[0]
        stale: Any = _MISSING
        if data is not None:
            if not refresh_now(replies[1] if window_ms else None, window_ms):
                return decode(data)
            stale = decode(data)
        if lock_ms is None:
            return compute_and_store(stale, holding=False)
        nonlocal token
        token = os.urandom(16).hex().encode()
        lock = (b"SET", lock_key, token, b"NX", b"PX", lock_ms)
        return Step([lock, (b"GET", key)], lambda r: on_lock(r, stale), write=True)

    def on_lock(replies: list[Any], stale: Any) -> Any:
        holding = replies[0] is not None
        if stale is _MISSING and replies[1] is not None:
            # Stored by another caller between our two reads.
            if holding:
                return Step(
                    [_release(lock_key, token)],
                    lambda r: decode(replies[1]),
                    write=True,
                )
            return decode(replies[1])
        if holding:
            return compute_and_store(stale, holding=True)
        if stale is not _MISSING:
            return stale  # someone else is refreshing: serve what we have
        deadline = time.monotonic() + lock_ms / 1000  # type: ignore[operator]
        return Wait(FIRST_POLL, lambda: poll(FIRST_POLL, deadline))

    def poll(pause: float, deadline: float) -> Step[Any]:
        def then(replies: list[Any]) -> Any:
            if replies[0] is not None:
                return decode(replies[0])
            if time.monotonic() >= deadline:
                # The computing caller is gone or too slow: compute ourselves.
                return compute_and_store(_MISSING, holding=False)
            longer = min(pause * 2, LONGEST_POLL)
            return Wait(longer, lambda: poll(longer, deadline))

        return Step([(b"GET", key)], then, write=True)

    first_read = [(b"GET", key), (b"PTTL", key)] if window_ms else [(b"GET", key)]
    return Step(first_read, on_read, write=lock_ms is not None)


def _set(key: bytes, value: Encoded, expiry_ms: Expiry) -> tuple[Any, ...]:
    if expiry_ms is None:
        return (b"SET", key, value)
    if expiry_ms <= 0:
        return (b"DEL", key)
    return (b"SET", key, value, b"PX", expiry_ms)


def _release(lock_key: bytes, token: bytes) -> tuple[Any, ...]:
    return (b"EVAL", RELEASE_SCRIPT, 1, lock_key, token)


def _raise(error: BaseException) -> Callable[[list[Any]], Any]:
    def then(replies: list[Any]) -> Any:
        raise error

    return then
