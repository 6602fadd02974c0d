"""One key: what it is, and its value read through the alias's own codec.

Two round trips, both routed by the key like any cache call (so on Cluster and
shards they reach the node that holds it): TYPE, PTTL, MEMORY USAGE and OBJECT
ENCODING, then the value by its type. A string is fetched whole only up to
``MAX_VALUE_BYTES`` (STRLEN and GETRANGE in one round trip): a bigger one shows
its size and its first bytes, undecoded. Hashes, sets and sorted sets are paged
with HSCAN/SSCAN/ZSCAN and a cursor, lists with LRANGE and an offset, streams
show their first entries with XRANGE. Every value and member goes through the
codec (serializer, compressor, signing); one that does not decode says why.
Hash fields are stored as plain text, as the cache's ``hset`` writes them.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass, field
from typing import Any

from ..cache import RedisCache
from ..exceptions import DecodeError
from ..ops import Step
from .conf import AdminSettings

PREVIEW_BYTES = 256


@dataclass
class Shown:
    """A value as the page shows it: decoded text, or the reason it is not."""

    text: str = ""
    length: int = 0  # characters of the whole decoded text
    error: str = ""
    raw: str = ""  # the first bytes, escaped, when the value is not decoded
    stored_bytes: int = 0

    @property
    def truncated(self) -> bool:
        return len(self.text) < self.length


@dataclass
class Item:
    """One element of a collection: its field, index or score, and its value."""

    label: str
    value: Shown


@dataclass
class KeyDetail:
    key: bytes
    exists: bool
    type: str = ""
    ttl_ms: int = -2
    size: int | None = None
    encoding: str = ""
    length: int | None = None  # characters/bytes of a string, elements of a collection
    value: Shown | None = None
    items: list[Item] = field(default_factory=list)
    cursor: str = ""  # the next page of a collection; "" at the end
    errors: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.key.decode(errors="backslashreplace")


def _replies(replies: list[Any]) -> list[Any]:
    return replies


def _round_trip(
    cache: RedisCache, commands: list[tuple[Any, ...]], errors_as_values: bool = False
) -> list[Any]:
    # write=True: the primary, never a lagging replica. Error replies raise as
    # redis-py's classes (a key that changed type meanwhile: WRONGTYPE) unless
    # asked for as values (MEMORY USAGE may be refused where the rest is not).
    step = Step(commands, _replies, True, errors_as_values=errors_as_values)
    replies: list[Any] = cache.client.execute(step)
    return replies


def show(cache: RedisCache, data: bytes, limits: AdminSettings) -> Shown:
    """``data`` decoded with the alias's codec and pretty-printed, cut to the limit."""
    try:
        value = cache._decode(data)
        text = pprint.pformat(value, width=100)
    except DecodeError as error:
        return Shown(error=str(error), raw=preview(data), stored_bytes=len(data))
    except Exception as error:  # a custom serializer's or a value's __repr__'s own error
        reason = f"{type(error).__name__}: {error}"
        return Shown(error=reason, raw=preview(data), stored_bytes=len(data))
    cut = limits.max_shown_chars
    return Shown(text=text[:cut], length=len(text), stored_bytes=len(data))


def preview(data: bytes) -> str:
    """The first bytes as Python would write them (escaped, never interpreted)."""
    head = repr(data[:PREVIEW_BYTES])
    return head + (" …" if len(data) > PREVIEW_BYTES else "")


def key_detail(cache: RedisCache, key: bytes, cursor: str, limits: AdminSettings) -> KeyDetail:
    kind, ttl, size, encoding = _round_trip(
        cache,
        [
            (b"TYPE", key),
            (b"PTTL", key),
            (b"MEMORY", b"USAGE", key, b"SAMPLES", limits.memory_samples),
            (b"OBJECT", b"ENCODING", key),
        ],
        errors_as_values=True,
    )
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "none":
        return KeyDetail(key=key, exists=False)
    detail = KeyDetail(
        key=key,
        exists=True,
        type=kind,
        ttl_ms=ttl if isinstance(ttl, int) else -2,
        size=size if isinstance(size, int) else None,
        encoding=encoding.decode() if isinstance(encoding, bytes) else "",
    )
    reader = _READERS.get(kind)
    if reader is None:
        detail.errors.append(f"a {kind} key: its content is not shown here")
    else:
        reader(cache, detail, cursor, limits)
    return detail


def _string(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    limit = limits.max_value_bytes
    length, data = _round_trip(
        cache, [(b"STRLEN", detail.key), (b"GETRANGE", detail.key, 0, limit - 1)]
    )
    detail.length = length
    if length > limit:
        detail.value = Shown(
            error=f"{length} bytes, more than MAX_VALUE_BYTES ({limit}): not fetched whole, "
            "not decoded",
            raw=preview(data),
            stored_bytes=length,
        )
    else:
        detail.value = show(cache, data, limits)


def _scan_cursor(cursor: str) -> int:
    if cursor and not cursor.isdigit():
        raise ValueError(f"the cursor {cursor!r} is not a whole number")
    return int(cursor or 0)


def _scanned(
    cache: RedisCache,
    detail: KeyDetail,
    cursor: str,
    limits: AdminSettings,
    size: bytes,
    scan: bytes,
) -> list[Any]:
    length, (after, found) = _round_trip(
        cache,
        [
            (size, detail.key),
            (scan, detail.key, _scan_cursor(cursor), b"COUNT", limits.items_per_page),
        ],
    )
    detail.length = length
    detail.cursor = "" if int(after) == 0 else str(int(after))
    return list(found)


def _hash(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    found = _scanned(cache, detail, cursor, limits, b"HLEN", b"HSCAN")
    for name, value in zip(found[::2], found[1::2], strict=True):
        detail.items.append(
            Item(name.decode(errors="backslashreplace"), show(cache, value, limits))
        )


def _set(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    found = _scanned(cache, detail, cursor, limits, b"SCARD", b"SSCAN")
    detail.items = [Item("", show(cache, member, limits)) for member in found]


def _zset(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    found = _scanned(cache, detail, cursor, limits, b"ZCARD", b"ZSCAN")
    for member, score in zip(found[::2], found[1::2], strict=True):
        label = score.decode() if isinstance(score, bytes) else str(score)
        detail.items.append(Item(label, show(cache, member, limits)))


def _list(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    start = _scan_cursor(cursor)
    stop = start + limits.items_per_page - 1
    length, found = _round_trip(
        cache, [(b"LLEN", detail.key), (b"LRANGE", detail.key, start, stop)]
    )
    detail.length = length
    detail.cursor = str(stop + 1) if stop + 1 < length else ""
    detail.items = [
        Item(str(start + index), show(cache, element, limits))
        for index, element in enumerate(found)
    ]


def _stream(cache: RedisCache, detail: KeyDetail, cursor: str, limits: AdminSettings) -> None:
    length, entries = _round_trip(
        cache,
        [
            (b"XLEN", detail.key),
            (b"XRANGE", detail.key, b"-", b"+", b"COUNT", limits.items_per_page),
        ],
    )
    detail.length = length
    for entry_id, fields in entries:
        text = " ".join(preview(part) for part in fields)
        detail.items.append(Item(entry_id.decode(), Shown(text=text, length=len(text))))


_READERS = {
    "string": _string,
    "hash": _hash,
    "set": _set,
    "zset": _zset,
    "list": _list,
    "stream": _stream,
}
