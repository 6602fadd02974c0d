"""List operations (LPUSH, LRANGE, LPOS, ...) as Steps.

django-redis has no list methods; these follow redis-py's names and answers,
with values encoded by the cache's codec like every other structure. The key
is always Redis's first argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import Decode, Encoded, Step


def _count(replies: list[Any]) -> int:
    return int(replies[0])


def _ok(replies: list[Any]) -> bool:
    return replies[0] is not None


def push(command: bytes, key: bytes, values: Sequence[Encoded]) -> Step[int]:
    """LPUSH or RPUSH; the list's length afterwards."""
    return Step(((command, key, *values),), _count, write=True)


def pop(command: bytes, key: bytes, count: int | None, decode: Decode) -> Step[Any]:
    """LPOP or RPOP: one value (None if empty) without ``count``, else a list."""
    if count is None:
        return Step(
            ((command, key),),
            lambda replies: None if replies[0] is None else decode(replies[0]),
            write=True,
        )
    # With a count Redis answers nil, not an empty list, for a missing key.
    return Step(
        ((command, key, count),),
        lambda replies: [decode(data) for data in replies[0] or ()],
        write=True,
    )


def llen(key: bytes) -> Step[int]:
    return Step(((b"LLEN", key),), _count, write=False)


def lrange(key: bytes, start: int, end: int, decode: Decode) -> Step[list[Any]]:
    return Step(
        ((b"LRANGE", key, start, end),),
        lambda replies: [decode(data) for data in replies[0]],
        write=False,
    )


def lindex(key: bytes, index: int, decode: Decode) -> Step[Any]:
    return Step(
        ((b"LINDEX", key, index),),
        lambda replies: None if replies[0] is None else decode(replies[0]),
        write=False,
    )


def lset(key: bytes, index: int, value: Encoded) -> Step[bool]:
    return Step(((b"LSET", key, index, value),), _ok, write=True)


def ltrim(key: bytes, start: int, end: int) -> Step[bool]:
    return Step(((b"LTRIM", key, start, end),), _ok, write=True)


def lrem(key: bytes, count: int, value: Encoded) -> Step[int]:
    return Step(((b"LREM", key, count, value),), _count, write=True)


def linsert(key: bytes, where: str, pivot: Encoded, value: Encoded) -> Step[int]:
    """Insert before or after ``pivot``: the new length, -1 without the pivot, 0 without the key."""
    place = where.upper()
    if place not in ("BEFORE", "AFTER"):
        raise ValueError(f"where must be 'BEFORE' or 'AFTER', not {where!r}")
    return Step(((b"LINSERT", key, place.encode(), pivot, value),), _count, write=True)


def lpos(
    key: bytes, value: Encoded, rank: int | None, count: int | None, maxlen: int | None
) -> Step[Any]:
    """The index of ``value`` (None if absent), or with ``count`` a list of indexes."""
    args: tuple[Any, ...] = (b"LPOS", key, value)
    if rank is not None:
        args += (b"RANK", rank)
    if count is not None:
        args += (b"COUNT", count)
    if maxlen is not None:
        args += (b"MAXLEN", maxlen)
    return Step((args,), lambda replies: replies[0], write=False)
