"""Set operations (SADD, SINTER, SSCAN, ...) as Steps.

Members arrive encoded (the facade runs them through the cache's codec) and
replies are decoded with the ``decode`` they are given, so these functions
know nothing of keys, versions or serializers. Every command keeps Redis's
own key positions, so a cluster client can route it by its keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from . import Decode, Encoded, Step, Wait

T = TypeVar("T")


def _count(replies: list[Any]) -> int:
    return int(replies[0])


def _flag(replies: list[Any]) -> bool:
    flag: bool = replies[0] == 1  # an integer reply: == is a bool
    return flag


def _members(decode: Decode) -> Callable[[list[Any]], set[Any]]:
    return lambda replies: {decode(member) for member in replies[0]}


def sadd(key: bytes, members: Sequence[Encoded]) -> Step[int]:
    return Step(((b"SADD", key, *members),), _count, write=True)


def srem(key: bytes, members: Sequence[Encoded]) -> Step[int]:
    return Step(((b"SREM", key, *members),), _count, write=True)


def scard(key: bytes) -> Step[int]:
    return Step(((b"SCARD", key),), _count, write=False)


def sismember(key: bytes, member: Encoded) -> Step[bool]:
    return Step(((b"SISMEMBER", key, member),), _flag, write=False)


def smismember(key: bytes, members: Sequence[Encoded]) -> Step[list[bool]]:
    return Step(
        ((b"SMISMEMBER", key, *members),),
        lambda replies: [found == 1 for found in replies[0]],
        write=False,
    )


def smembers(key: bytes, decode: Decode) -> Step[set[Any]]:
    return Step(((b"SMEMBERS", key),), _members(decode), write=False)


def smove(source: bytes, destination: bytes, member: Encoded) -> Step[bool]:
    return Step(((b"SMOVE", source, destination, member),), _flag, write=True)


def combine(command: bytes, keys: Sequence[bytes], decode: Decode) -> Step[set[Any]]:
    """SDIFF, SINTER or SUNION of ``keys``: a set of decoded members."""
    return Step(((command, *keys),), _members(decode), write=False)


def combine_store(command: bytes, destination: bytes, keys: Sequence[bytes]) -> Step[int]:
    """SDIFFSTORE, SINTERSTORE or SUNIONSTORE: the size of the stored set."""
    return Step(((command, destination, *keys),), _count, write=True)


def spop(key: bytes, count: int | None, decode: Decode) -> Step[Any]:
    """Without ``count`` one member (None if empty), with it a set of members."""
    if count is None:
        return Step(((b"SPOP", key),), _one(decode), write=True)
    return Step(((b"SPOP", key, count),), _members(decode), write=True)


def srandmember(key: bytes, count: int | None, decode: Decode) -> Step[Any]:
    """Without ``count`` one member (None if empty), with it a list (repeats if negative)."""
    if count is None:
        return Step(((b"SRANDMEMBER", key),), _one(decode), write=False)
    return Step(
        ((b"SRANDMEMBER", key, count),),
        lambda replies: [decode(member) for member in replies[0]],
        write=False,
    )


def _one(decode: Decode) -> Callable[[list[Any]], Any]:
    return lambda replies: None if replies[0] is None else decode(replies[0])


def sscan_page(
    key: bytes, cursor: int, match: bytes | None, count: int | None, decode: Decode
) -> Step[tuple[int, list[Any]]]:
    """One SSCAN page: (next cursor, decoded members); a cursor of 0 means done."""
    command: tuple[Any, ...] = (b"SSCAN", key, cursor)
    if match is not None:
        command += (b"MATCH", match)
    if count is not None:
        command += (b"COUNT", count)

    def then(replies: list[Any]) -> tuple[int, list[Any]]:
        next_cursor, found = replies[0]
        return int(next_cursor), [decode(member) for member in found]

    return Step((command,), then, write=False)


def sscan(key: bytes, match: bytes | None, count: int | None, decode: Decode) -> Step[set[Any]]:
    """Every member matching ``match``, as a set: SSCAN pages until the cursor is 0."""
    found: set[Any] = set()

    def on_page(page: tuple[int, list[Any]]) -> set[Any] | Step[set[Any]]:
        cursor, members = page
        found.update(members)
        if not cursor:
            return found
        return _chain(sscan_page(key, cursor, match, count, decode), on_page)

    return _chain(sscan_page(key, 0, match, count, decode), on_page)


def _chain(step: Step[Any], after: Callable[[Any], T | Step[T] | Wait[T]]) -> Step[T]:
    """``step``, whose result is handed on to ``after`` (which may return the next Step).

    ``step``'s ``then`` must answer directly (no further round trip), as a page does.
    """
    first = step.then
    return Step(step.commands, lambda replies: after(first(replies)), write=step.write)
