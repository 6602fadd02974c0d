"""Hash operations (HSET, HGET, HGETALL, ...) as Steps.

Fields are plain strings, as in django-redis (so a hash written by either
reads back through the other); values arrive encoded and replies are decoded
with the given ``decode``. The key is always Redis's first argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import Decode, Encoded, Step

Field = str | bytes | int | float


def _field_name(field: bytes | str) -> str:
    return field.decode() if isinstance(field, bytes) else field


def hset(key: bytes, pairs: Sequence[tuple[Field, Encoded]]) -> Step[int]:
    """Store field/value pairs; the result is how many fields were new."""
    flat = [part for pair in pairs for part in pair]
    return Step(((b"HSET", key, *flat),), lambda replies: int(replies[0]), write=True)


def hsetnx(key: bytes, field: Field, value: Encoded) -> Step[bool]:
    return Step(((b"HSETNX", key, field, value),), lambda replies: replies[0] == 1, write=True)


def hdel(key: bytes, fields: Sequence[Field]) -> Step[int]:
    return Step(((b"HDEL", key, *fields),), lambda replies: int(replies[0]), write=True)


def hlen(key: bytes) -> Step[int]:
    return Step(((b"HLEN", key),), lambda replies: int(replies[0]), write=False)


def hexists(key: bytes, field: Field) -> Step[bool]:
    return Step(((b"HEXISTS", key, field),), lambda replies: replies[0] == 1, write=False)


def hkeys(key: bytes) -> Step[list[str]]:
    return Step(
        ((b"HKEYS", key),), lambda replies: [_field_name(f) for f in replies[0]], write=False
    )


def hget(key: bytes, field: Field, default: Any, decode: Decode) -> Step[Any]:
    def then(replies: list[Any]) -> Any:
        return default if replies[0] is None else decode(replies[0])

    return Step(((b"HGET", key, field),), then, write=False)


def hmget(key: bytes, fields: Sequence[Field], decode: Decode) -> Step[list[Any]]:
    """The values of ``fields`` in order, None for a missing one."""

    def then(replies: list[Any]) -> list[Any]:
        return [None if data is None else decode(data) for data in replies[0]]

    return Step(((b"HMGET", key, *fields),), then, write=False)


def hgetall(key: bytes, decode: Decode) -> Step[dict[str, Any]]:
    def then(replies: list[Any]) -> dict[str, Any]:
        flat = replies[0]
        return {_field_name(flat[i]): decode(flat[i + 1]) for i in range(0, len(flat), 2)}

    return Step(((b"HGETALL", key),), then, write=False)


def hvals(key: bytes, decode: Decode) -> Step[list[Any]]:
    return Step(
        ((b"HVALS", key),), lambda replies: [decode(data) for data in replies[0]], write=False
    )


def hincrby(key: bytes, field: Field, amount: int) -> Step[int]:
    return Step(((b"HINCRBY", key, field, amount),), lambda replies: int(replies[0]), write=True)
