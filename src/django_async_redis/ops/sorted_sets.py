"""Sorted-set operations (ZADD, ZRANGE, ZPOPMAX, ...) as Steps.

Members arrive encoded, scores as numbers (or Redis's score strings such as
``"(1"`` and ``"-inf"``); replies come back as django-redis gives them:
members decoded, scores through ``score_cast_func`` (float by default).
The key is always Redis's first argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import Decode, Encoded, Step

Score = float | int | str
ScoreCast = Callable[[Any], Any]


def _count(replies: list[Any]) -> int:
    return int(replies[0])


def _pairs(flat: list[Any], decode: Decode, cast: ScoreCast) -> list[tuple[Any, Any]]:
    if flat and type(flat[0]) is list:  # RESP3 (PROTOCOL 3) answers [[member, score], ...]
        return [(decode(member), cast(score)) for member, score in flat]
    return [(decode(flat[i]), cast(flat[i + 1])) for i in range(0, len(flat), 2)]


def _optional_score(data: Any) -> float | None:
    return None if data is None else float(data)


def zadd(
    key: bytes,
    pairs: Sequence[tuple[Encoded, Score]],
    *,
    nx: bool = False,
    xx: bool = False,
    ch: bool = False,
    incr: bool = False,
    gt: bool = False,
    lt: bool = False,
) -> Step[int | float | None]:
    """Add or update members; the count added (changed with ``ch``), or with ``incr`` the score."""
    if nx and xx:
        raise ValueError("zadd() takes nx=True or xx=True, not both")
    if incr and len(pairs) != 1:
        raise ValueError("zadd(incr=True) takes exactly one member")
    flags = [
        name
        for name, wanted in (
            (b"NX", nx),
            (b"XX", xx),
            (b"GT", gt),
            (b"LT", lt),
            (b"CH", ch),
            (b"INCR", incr),
        )
        if wanted
    ]
    # ZADD takes score before member.
    flat = [part for member, score in pairs for part in (score, member)]
    then = (lambda replies: _optional_score(replies[0])) if incr else _count
    return Step(((b"ZADD", key, *flags, *flat),), then, write=True)


def zcard(key: bytes) -> Step[int]:
    return Step(((b"ZCARD", key),), _count, write=False)


def zcount(key: bytes, low: Score, high: Score) -> Step[int]:
    return Step(((b"ZCOUNT", key, low, high),), _count, write=False)


def zincrby(key: bytes, amount: float, member: Encoded) -> Step[float]:
    return Step(((b"ZINCRBY", key, amount, member),), lambda replies: float(replies[0]), write=True)


def zpop(command: bytes, key: bytes, count: int | None, decode: Decode) -> Step[Any]:
    """ZPOPMAX/ZPOPMIN: one (member, score) or None without ``count``, else a list."""

    def then(replies: list[Any]) -> Any:
        pairs = _pairs(replies[0], decode, float)
        if count is None:
            return pairs[0] if pairs else None
        return pairs

    command_args: tuple[Any, ...] = (command, key) if count is None else (command, key, count)
    return Step((command_args,), then, write=True)


def _range_then(withscores: bool, decode: Decode, cast: ScoreCast) -> Callable[[list[Any]], Any]:
    if withscores:
        return lambda replies: _pairs(replies[0], decode, cast)
    return lambda replies: [decode(member) for member in replies[0]]


def zrange(
    command: bytes,
    key: bytes,
    start: int,
    end: int,
    withscores: bool,
    cast: ScoreCast,
    decode: Decode,
) -> Step[list[Any]]:
    """ZRANGE or ZREVRANGE by index."""
    args: tuple[Any, ...] = (command, key, start, end)
    if withscores:
        args += (b"WITHSCORES",)
    return Step((args,), _range_then(withscores, decode, cast), write=False)


def zrange_by_score(
    command: bytes,
    key: bytes,
    first: Score,
    second: Score,
    start: int | None,
    num: int | None,
    withscores: bool,
    cast: ScoreCast,
    decode: Decode,
) -> Step[list[Any]]:
    """ZRANGEBYSCORE (min, max) or ZREVRANGEBYSCORE (max, min), with an optional LIMIT."""
    if (start is None) != (num is None):
        raise ValueError("start and num must be given together")
    args: tuple[Any, ...] = (command, key, first, second)
    if withscores:
        args += (b"WITHSCORES",)
    if start is not None:
        args += (b"LIMIT", start, num)
    return Step((args,), _range_then(withscores, decode, cast), write=False)


def zrank(command: bytes, key: bytes, member: Encoded, withscore: bool) -> Step[Any]:
    """ZRANK/ZREVRANK: the rank, [rank, score] with ``withscore``, None for a non-member."""

    def then(replies: list[Any]) -> Any:
        reply = replies[0]
        if reply is None or not withscore:
            return reply
        return [reply[0], float(reply[1])]

    args: tuple[Any, ...] = (command, key, member)
    if withscore:
        args += (b"WITHSCORE",)
    return Step((args,), then, write=False)


def zrem(key: bytes, members: Sequence[Encoded]) -> Step[int]:
    return Step(((b"ZREM", key, *members),), _count, write=True)


def zremrangebyscore(key: bytes, low: Score, high: Score) -> Step[int]:
    return Step(((b"ZREMRANGEBYSCORE", key, low, high),), _count, write=True)


def zscore(key: bytes, member: Encoded) -> Step[float | None]:
    return Step(
        ((b"ZSCORE", key, member),), lambda replies: _optional_score(replies[0]), write=False
    )


def zmscore(key: bytes, members: Sequence[Encoded]) -> Step[list[float | None]]:
    return Step(
        ((b"ZMSCORE", key, *members),),
        lambda replies: [_optional_score(score) for score in replies[0]],
        write=False,
    )
