"""The key browser: one page is one bounded SCAN batch per node, never KEYS.

A page's cursor is the list of every node's SCAN cursor, in the order of the
client's parts of the key space (``-`` for a node whose walk is over), so the
next page continues each node where it stopped. One page sends each node that
is not done exactly one ``SCAN cursor MATCH glob COUNT n [TYPE t]`` and then
one round trip with each found key's TYPE, PTTL and ``MEMORY USAGE ... SAMPLES s``:
the server's work per page is bounded by COUNT, however big the database,
whatever the pattern matches (a page may find no key at all, and say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..cache import RedisCache
from ..client.base import BaseClient
from ..management import inspect
from .nodes import Target, parts

DONE = "-"
TYPES = ("string", "hash", "list", "set", "zset", "stream")


class BadCursor(ValueError):
    """A cursor that does not fit this alias (edited, or the topology changed)."""


@dataclass
class KeyRow:
    key: bytes
    node: str
    type: str
    ttl_ms: int  # -1: no expiry; -2: gone since the scan
    size: int | None  # bytes (MEMORY USAGE), None when the server would not say

    @property
    def text(self) -> str:
        return self.key.decode(errors="backslashreplace")


@dataclass
class Page:
    rows: list[KeyRow]
    cursor: str  # the next page's cursor; "" when every node is done
    nodes: list[str]
    scans: int  # SCAN commands this page sent (at most one per node)
    errors: list[str] = field(default_factory=list)


def start_cursor(count: int) -> str:
    return ".".join("0" * count)


def parse_cursor(text: str, nodes: int) -> list[int | None]:
    """Each node's cursor (None: done), from the page's ``cursor`` parameter."""
    pieces = text.split(".") if text else ["0"] * nodes
    if len(pieces) != nodes:
        raise BadCursor(
            f"the cursor {text!r} has {len(pieces)} parts, but this cache has {nodes} "
            "(its servers changed?): start the search again"
        )
    cursors: list[int | None] = []
    for piece in pieces:
        if piece == DONE:
            cursors.append(None)
        elif piece.isdigit():
            cursors.append(int(piece))
        else:
            raise BadCursor(f"the cursor {text!r} is not a list of SCAN cursors: start again")
    return cursors


def key_glob(cache: RedisCache, pattern: str, raw: bool) -> bytes:
    """The Redis glob: ``pattern`` in the alias's KEY_PREFIX and VERSION, unless ``raw``."""
    return inspect.cache_glob(cache, pattern or "*", raw, None)


def scan_page(
    cache: RedisCache,
    glob: bytes,
    cursor: str,
    count: int,
    memory_samples: int,
    type_name: str = "",
) -> Page:
    if type_name and type_name not in TYPES:
        raise ValueError(f"unknown key type {type_name!r} (one of {', '.join(TYPES)})")
    client = cache.client
    where: list[Target] = parts(client)
    cursors = parse_cursor(cursor, len(where))
    rows: list[KeyRow] = []
    errors: list[str] = []
    scans = 0
    following: list[str] = []
    for target, position in zip(where, cursors, strict=True):
        if position is None:
            following.append(DONE)
            continue
        try:
            scans += 1
            after, found = inspect.scan_page(
                client, target.node, glob, position, count, type_name or None
            )
            rows += describe(client, target, found, memory_samples)
        except inspect.FAILURES as error:
            errors.append(f"{target.address}: {error}")
            following.append(str(position))  # the same batch again next time
            continue
        following.append(str(after) if after else DONE)
    more = any(piece != DONE for piece in following)
    return Page(
        rows=rows,
        cursor=".".join(following) if more else "",
        nodes=[inspect.address_of(client, target.node) for target in where],
        scans=scans,
        errors=errors,
    )


def describe(client: BaseClient, target: Target, keys: list[bytes], samples: int) -> list[KeyRow]:
    """TYPE, PTTL and MEMORY USAGE of ``keys``, in one round trip to the node that holds them."""
    if not keys:
        return []
    commands: list[tuple[Any, ...]] = []
    for key in keys:
        commands += [
            (b"TYPE", key),
            (b"PTTL", key),
            (b"MEMORY", b"USAGE", key, b"SAMPLES", samples),
        ]
    replies = inspect.run(client, commands, target.node)
    address = inspect.address_of(client, target.node)
    rows = []
    for index, key in enumerate(keys):
        kind, ttl, size = replies[3 * index : 3 * index + 3]
        rows.append(
            KeyRow(
                key=key,
                node=address,
                type=_text(kind),
                ttl_ms=ttl if isinstance(ttl, int) else -2,
                size=size if isinstance(size, int) else None,
            )
        )
    return rows


def _text(reply: object) -> str:
    if isinstance(reply, bytes):
        return reply.decode(errors="replace")
    return "?" if isinstance(reply, Exception) else str(reply)
