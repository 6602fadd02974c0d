"""The session engine's storage operations as Steps: written once, free of I/O.

``django_async_redis.sessions`` builds these with the keys it made (the
session's, its user's index) and runs them with the session cache's client,
sync or async. Every step goes to the primary (``ON_PRIMARY``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import Command, Step

# Sessions are always read from the primary: a replica lagging behind a login
# would show a just-created session as missing, log the user out and hand out
# a new key. Every step therefore says write=True.
ON_PRIMARY = True


def now_ms() -> int:
    return int(time.time() * 1000)


def followed_by(step: Step[Any], after: Callable[[Any], Any]) -> Step[Any]:
    """``step``, with its result handed to ``after``; ``after`` may return a further Step.

    This composes operations (create-then-delete in ``cycle_key``, a write plus
    the bookkeeping of its result) without writing a runner of our own: the
    cache client drives the chain, sync or async.
    """
    first = step.then

    def then(replies: list[Any]) -> Any:
        result = first(replies)
        if isinstance(result, Step):
            return followed_by(result, after)
        return after(result)

    return Step(step.commands, then, write=step.write, errors_as_values=step.errors_as_values)


# --------------------------------------------------------------------------
# Steps: the storage semantics, written once for the sync and the async API.


def write_step(
    *,
    key: str,
    session_key: str,
    payload: bytes,
    ttl_ms: int,
    must_create: bool,
    index: str | None,
    stale_index: str | None,
    owner_index: Callable[[bytes], str | None] | None = None,
) -> Step[Any]:
    """Store a session; the result is True when stored, False when the condition failed.

    ``must_create`` writes only a new key (SET NX), otherwise only an existing
    one (SET XX), so a session deleted elsewhere (a logout in another tab) is
    never brought back by a concurrent request. ``index`` is the user index the
    session belongs in, ``stale_index`` one it must leave (the user changed).
    ``owner_index`` is given instead when the stored session's user is unknown:
    the write then also returns the previous value, and the index
    ``owner_index(previous)`` names is left in a second round trip, if needed.
    """
    read_previous = owner_index is not None and not must_create
    if ttl_ms <= 0:
        return _expiredwrite_step(
            key=key,
            session_key=session_key,
            must_create=must_create,
            indexes=[i for i in (index, stale_index) if i is not None],
            owner_index=owner_index if read_previous else None,
        )
    now = now_ms()
    condition = b"NX" if must_create else b"XX"
    write: Command = (b"SET", key, payload, condition, b"PX", ttl_ms)
    commands: list[Command] = [(*write, b"GET") if read_previous else write]
    if index is not None:
        commands += [
            # Drop members whose session has expired, so the index never grows
            # past the user's live sessions plus those deleted behind its back.
            (b"ZREMRANGEBYSCORE", index, b"-inf", now),
            (b"ZADD", index, now + ttl_ms, session_key),
            # The index must outlive its longest-lived session: NX gives a new
            # index an expiry, GT only ever extends it (Redis >= 7.0, Valkey).
            (b"PEXPIRE", index, ttl_ms, b"NX"),
            (b"PEXPIRE", index, ttl_ms, b"GT"),
        ]
    if stale_index is not None:
        commands.append((b"ZREM", stale_index, session_key))

    def then(replies: list[Any]) -> Any:
        if replies[0] is not None:
            if owner_index is not None and read_previous:
                return leave_owner_index(replies[0], owner_index, index, session_key, True)
            return True
        if index is None:
            return False
        # The write did not happen, but ZADD in the same pipeline did. For a
        # failed update the session is gone, so its member must go. For a failed
        # create the key is someone else's: remove the member only if we added it.
        if must_create and replies[2] == 0:
            return False
        return Step([(b"ZREM", index, session_key)], lambda _: False, write=ON_PRIMARY)

    return Step(commands, then, write=ON_PRIMARY)


def leave_owner_index(
    previous: bytes,
    owner_index: Callable[[bytes], str | None],
    current_index: str | None,
    session_key: str,
    result: Any,
) -> Any:
    """``result``, after taking the session out of the index of its previous owner."""
    stale = owner_index(previous)
    if stale is None or stale == current_index:
        return result
    return Step([(b"ZREM", stale, session_key)], lambda _: result, write=ON_PRIMARY)


def _expiredwrite_step(
    *,
    key: str,
    session_key: str,
    must_create: bool,
    indexes: list[str],
    owner_index: Callable[[bytes], str | None] | None,
) -> Step[Any]:
    """Storing a session whose expiry is already past: Redis cannot keep it even briefly."""
    if must_create:
        # Nothing is stored; the answer is still the one SET NX would give.
        return Step([(b"EXISTS", key)], lambda replies: replies[0] == 0, write=ON_PRIMARY)
    # Saving an expired session ends it; a session already gone is still an
    # UpdateError, as for any save of a deleted session.
    commands: list[Command] = [(b"DEL", key) if owner_index is None else (b"GETDEL", key)]
    commands += [(b"ZREM", index, session_key) for index in indexes]

    def then(replies: list[Any]) -> Any:
        if owner_index is None:
            return replies[0] == 1
        if replies[0] is None:
            return False
        return leave_owner_index(replies[0], owner_index, None, session_key, True)

    return Step(commands, then, write=ON_PRIMARY)


def delete_step(key: str, session_key: str, index: str | None) -> Step[None]:
    commands: list[Command] = [(b"DEL", key)]
    if index is not None:
        commands.append((b"ZREM", index, session_key))
    return Step(commands, lambda replies: None, write=ON_PRIMARY)


def exists_step(key: str) -> Step[bool]:
    return Step([(b"EXISTS", key)], lambda replies: replies[0] == 1, write=ON_PRIMARY)


def get_step(key: str) -> Step[Any]:
    return Step([(b"GET", key)], lambda replies: replies[0], write=ON_PRIMARY)
