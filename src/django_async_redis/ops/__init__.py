"""Cache operations, written once and free of I/O.

An operation is a :class:`Step`: the commands to send in one round trip and a
function that turns their replies into the operation's result. A multi-step
operation returns another ``Step`` from ``then``; the runner sends that one
next. The sync and the async runner (``client``) both drive the same steps, so
the semantics below exist exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

from ..exceptions import DecodeError

Command = tuple[Any, ...]

# What an operation finally answers. Covariant: a Step[bool] is a fine
# Step[bool | None], as it only ever produces its result.
T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


class Step(Generic[T_co]):
    """One round trip: ``commands`` are pipelined, ``then(replies)`` gives the result.

    ``write`` routes the step to the primary; reads may go to a replica.
    Error replies never reach ``then`` unless ``errors_as_values`` is set: the
    runner raises the first one as redis-py's exception class.

    ``then`` may instead hand on the next round trip (or a pause) that leads to
    the same result; the type parameter is that final result, so
    ``client.execute(Step[int])`` is an ``int``. Steps are built unsubscripted
    (``Step(...)``, the parameter inferred): no per-call typing machinery.
    The hottest operations pass ``write`` by position (``READ``/``WRITE``):
    a keyword argument costs a constructor call about 150 ns on CPython 3.12.
    """

    __slots__ = ("commands", "errors_as_values", "then", "write")

    commands: Sequence[Command]
    then: Callable[[list[Any]], T_co | Step[T_co] | Wait[T_co]]
    write: bool
    errors_as_values: bool

    def __init__(
        self,
        commands: Sequence[Command],
        then: Callable[[list[Any]], T_co | Step[T_co] | Wait[T_co]],
        write: bool,
        *,
        errors_as_values: bool = False,
    ) -> None:
        self.commands = commands
        self.then = then
        self.write = write
        self.errors_as_values = errors_as_values


class Wait(Generic[T_co]):
    """A pause between round trips: the runner sleeps ``seconds``, then takes ``then()``.

    For operations that poll (waiting for another caller's value, say). The
    sync runner sleeps the thread; the async runner awaits ``asyncio.sleep``,
    so a waiting task never blocks its loop.
    """

    __slots__ = ("seconds", "then")

    seconds: float
    then: Callable[[], T_co | Step[T_co] | Wait[T_co]]

    def __init__(self, seconds: float, then: Callable[[], T_co | Step[T_co] | Wait[T_co]]) -> None:
        self.seconds = seconds
        self.then = then


class Everywhere(Generic[T_co]):
    """An operation over the whole key space, however many servers hold it.

    The runner builds one chain from ``make()`` per part of the key space (the
    one server; each shard; each cluster primary), drives each to its result
    on its own server, and hands the list of results to ``combine``. The
    operation never learns how many parts there were.
    """

    __slots__ = ("combine", "make")

    make: Callable[[], Step[Any]]
    combine: Callable[[list[Any]], T_co]

    def __init__(self, make: Callable[[], Step[Any]], combine: Callable[[list[Any]], T_co]) -> None:
        self.make = make
        self.combine = combine


# What a runner drives: a round trip, a pause, or a walk over the key space,
# each to a result of type T (``Operation[int]`` answers an int).
Operation: TypeAlias = Step[T] | Wait[T] | Everywhere[T]

# ``write`` for the hot paths' positional Step(commands, then, READ).
READ = False
WRITE = True

Decode = Callable[[bytes], Any]
Encoded = bytes | int

# Expiry travels as milliseconds: None keeps the key forever, zero or less means
# "already expired" (the value is not stored), as Django defines timeouts.
Expiry = int | None


def _with_expiry(command: tuple[Any, ...], expiry_ms: Expiry) -> tuple[Any, ...]:
    return command if expiry_ms is None else (*command, b"PX", expiry_ms)


def _is_one(replies: list[Any]) -> bool:
    one: bool = replies[0] == 1  # an integer reply: == is a bool
    return one


def _is_ok(replies: list[Any]) -> bool:
    return replies[0] is not None


# reads --------------------------------------------------------------------


def get(key: bytes, default: Any, decode: Decode) -> Step[Any]:
    def then(replies: list[Any]) -> Any:
        data = replies[0]
        return default if data is None else decode(data)

    return Step(((b"GET", key),), then, READ)


def get_many(keys: dict[bytes, Any], decode: Decode) -> Step[dict[Any, Any]]:
    """``keys`` maps each Redis key to the caller's key; misses are left out."""
    callers = list(keys.values())

    def then(replies: list[Any]) -> dict[Any, Any]:
        return decode_found(zip(keys, callers, replies[0], strict=False), decode)

    return Step(((b"MGET", *keys),), then, READ)


def decode_found(found: Iterable[tuple[bytes, Any, Any]], decode: Decode) -> dict[Any, Any]:
    """``{caller's key: value}`` from (Redis key, caller's key, data or None) triples.

    Undecodable values are all named in one DecodeError, which also carries
    the values that did decode (a logged miss for the bad keys answers those).
    """
    values: dict[Any, Any] = {}
    failed: DecodeError | None = None
    for key, caller, data in found:
        if data is None:
            continue
        try:
            values[caller] = decode(data)
        except DecodeError as error:
            failed = failed or error
            failed.keys.append(key)
    if failed is not None:
        failed.partial = values
        raise failed
    return values


def has_key(key: bytes) -> Step[bool]:
    return Step(((b"EXISTS", key),), _is_one, write=False)


# writes -------------------------------------------------------------------


def add(key: bytes, value: Encoded, expiry_ms: Expiry) -> Step[bool]:
    """Store only if absent; True when stored (or, for an expired timeout, when it would be)."""
    if expiry_ms is not None and expiry_ms <= 0:
        # Nothing is kept, but the answer must be what a real add would have said.
        return Step(((b"EXISTS", key),), lambda replies: replies[0] == 0, write=False)
    return Step((_with_expiry((b"SET", key, value, b"NX"), expiry_ms),), _is_ok, WRITE)


def set(
    key: bytes, value: Encoded, expiry_ms: Expiry, nx: bool = False, xx: bool = False
) -> Step[bool]:
    """Store (with NX/XX conditions); True when the value was stored."""
    if nx and xx:
        raise ValueError("set() takes nx=True or xx=True, not both")
    if expiry_ms is not None and expiry_ms <= 0:
        if nx:
            return add(key, value, expiry_ms)
        # An expired timeout removes the key, as Django's backends do.
        return Step(((b"DEL", key),), lambda replies: False, write=True)
    command: tuple[Any, ...] = (b"SET", key, value)
    if nx:
        command += (b"NX",)
    elif xx:
        command += (b"XX",)
    return Step((_with_expiry(command, expiry_ms),), _is_ok, WRITE)


def set_many(items: list[tuple[bytes, Encoded]], expiry_ms: Expiry) -> Step[list[Any]]:
    """Store all pairs in one round trip; the result is the list of failed keys (always [])."""
    if expiry_ms is None:
        flat: list[Any] = [part for pair in items for part in pair]
        return Step(((b"MSET", *flat),), lambda replies: [], write=True)
    if expiry_ms <= 0:
        return Step(((b"DEL", *(key for key, _ in items)),), lambda replies: [], write=True)
    # SET ... PX per key rather than MSET then EXPIRE: no moment where a key
    # exists without its expiry.
    commands = [(b"SET", key, value, b"PX", expiry_ms) for key, value in items]
    return Step(commands, lambda replies: [], write=True)


def touch(key: bytes, expiry_ms: Expiry) -> Step[bool]:
    """Give an existing key a new expiry; True when the key exists."""
    if expiry_ms is None:
        # PERSIST answers 0 for a key that had no expiry: ask EXISTS instead.
        return Step(
            ((b"PERSIST", key), (b"EXISTS", key)), lambda replies: replies[1] == 1, write=True
        )
    return Step(((b"PEXPIRE", key, expiry_ms),), _is_one, write=True)


def delete(key: bytes) -> Step[bool]:
    return Step(((b"DEL", key),), _is_one, WRITE)


def delete_many(keys: list[bytes]) -> Step[int]:
    """Delete ``keys``; the result is how many existed."""
    return Step(((b"DEL", *keys),), lambda replies: int(replies[0]), write=True)


def clear() -> Everywhere[bool]:
    # ASYNC: the keys vanish at once; the server frees the memory in the background.
    return Everywhere(
        lambda: Step(((b"FLUSHDB", b"ASYNC"),), lambda replies: True, write=True),
        lambda results: all(results),
    )


# Increment only a key that exists, atomically, in one round trip. The sum is
# read back with GET: Lua holds INCRBY's answer as a double, exact only up to
# 2**53, so returning it would corrupt large counters (2**63 - 1 came back
# as -2**63).
_INCR_EXISTING = (
    b"if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], ARGV[1]) "
    b"return redis.call('GET', KEYS[1]) end return nil"
)


def incr(key: bytes, delta: int, key_name: str, check_key: bool = True) -> Step[int]:
    """Add ``delta`` to an integer value; a missing key raises ValueError unless unchecked.

    Past 64 bits (either number) Redis refuses; the step then continues with
    ``counters.big_incr``, one more round trip that is just as atomic.
    """

    def then(replies: list[Any]) -> Any:
        reply = replies[0]
        if isinstance(reply, Exception):
            from .counters import big_incr, out_of_range

            if out_of_range(reply):
                return big_incr(key, delta, key_name, check_key)
            raise reply
        if reply is None:
            raise ValueError(f"Key '{key_name}' not found.")
        return int(reply)

    command = (b"EVAL", _INCR_EXISTING, 1, key, delta) if check_key else (b"INCRBY", key, delta)
    return Step((command,), then, write=True, errors_as_values=True)


def get_or_set(
    key: bytes,
    default: Any,
    expiry_ms: Expiry,
    encode: Callable[[Any], Encoded],
    decode: Decode,
) -> Step[Any]:
    """GET; on a miss compute the default, then SET NX and read back in one more round trip."""

    def on_first_read(replies: list[Any]) -> Any:
        if replies[0] is not None:
            return decode(replies[0])
        value = default() if callable(default) else default
        # Read back after the conditional write: if another caller stored a value
        # in between, theirs wins, as with Django's get_or_set.
        store = add(key, encode(value), expiry_ms)
        commands = [*store.commands, (b"GET", key)]

        def on_second_read(replies: list[Any]) -> Any:
            data = replies[-1]
            return value if data is None else decode(data)

        return Step(commands, on_second_read, write=store.write)

    return Step(((b"GET", key),), on_first_read, write=False)


def rename_version(old_key: bytes, new_key: bytes, key_name: str, new_version: int) -> Step[int]:
    """Move a value to another version's key, keeping its expiry; ValueError when missing.

    One atomic RENAME where both keys live on one server. Where they do not (a
    cluster slot or a shard apart) the server or the router answers CROSSSLOT,
    and the value is copied instead: DUMP + PTTL, then RESTORE + DEL.
    """

    def missing() -> ValueError:
        return ValueError(f"Key '{key_name}' not found.")

    def on_copied(replies: list[Any]) -> int:
        return new_version

    def on_dumped(replies: list[Any]) -> Any:
        data, remaining = replies
        if data is None:
            raise missing()
        # RESTORE takes 0 for "no expiry"; PTTL says -1 for it.
        ttl = max(int(remaining), 0) if remaining != -1 else 0
        commands = [(b"RESTORE", new_key, ttl, data, b"REPLACE"), (b"DEL", old_key)]
        return Step(commands, on_copied, write=True)

    def then(replies: list[Any]) -> Any:
        if isinstance(replies[0], Exception):
            message = str(replies[0])
            if "no such key" in message.lower():
                raise missing()
            if message.startswith("CROSSSLOT"):
                return Step(((b"DUMP", old_key), (b"PTTL", old_key)), on_dumped, write=True)
            raise replies[0]
        return new_version

    return Step(((b"RENAME", old_key, new_key),), then, write=True, errors_as_values=True)


# expiry extras ------------------------------------------------------------


def ttl(key: bytes, milliseconds: bool = False) -> Step[int | None]:
    """Remaining life: None when the key never expires, 0 when it does not exist."""

    def then(replies: list[Any]) -> int | None:
        remaining = replies[0]
        if remaining == -1:
            return None
        if remaining == -2:
            return 0
        return int(remaining)

    return Step(((b"PTTL" if milliseconds else b"TTL", key),), then, write=False)


def expire(key: bytes, amount: int, milliseconds: bool = False) -> Step[bool]:
    return Step(((b"PEXPIRE" if milliseconds else b"EXPIRE", key, amount),), _is_one, write=True)


def expire_at(key: bytes, when: int, milliseconds: bool = False) -> Step[bool]:
    command = b"PEXPIREAT" if milliseconds else b"EXPIREAT"
    return Step(((command, key, when),), _is_one, write=True)


def persist(key: bytes) -> Step[bool]:
    return Step(((b"PERSIST", key),), _is_one, write=True)


# key space ----------------------------------------------------------------


# Listing the key space goes to the primary (write=True): a SCAN cursor means
# something only on the server that issued it, and replicas may lag.


def keys(pattern: bytes, reverse: Callable[[bytes], str]) -> Everywhere[list[str]]:
    def make() -> Step[list[bytes]]:
        return Step(((b"KEYS", pattern),), lambda replies: replies[0], write=True)

    def combine(results: list[list[bytes]]) -> list[str]:
        return [reverse(key) for found in results for key in found]

    return Everywhere(make, combine)


def scan_page(pattern: bytes, cursor: int, count: int) -> Step[tuple[int, list[bytes]]]:
    """One SCAN page: the result is (next cursor, keys); a cursor of 0 means done."""

    def then(replies: list[Any]) -> tuple[int, list[bytes]]:
        next_cursor, found = replies[0]
        return int(next_cursor), found

    return Step(((b"SCAN", cursor, b"MATCH", pattern, b"COUNT", count),), then, write=True)


def delete_pattern(pattern: bytes, count: int) -> Everywhere[int]:
    """SCAN each server's key space and UNLINK each page's matches; the result is how many."""
    return Everywhere(lambda: _delete_pattern_here(pattern, count), sum)


def _delete_pattern_here(pattern: bytes, count: int) -> Step[int]:
    deleted = 0

    def on_page(replies: list[Any]) -> Any:
        nonlocal deleted
        if len(replies) == 2:  # the UNLINK of the previous page rode along
            deleted += replies[0]
        next_cursor, found = replies[-1]
        commands: list[tuple[Any, ...]] = []
        if found:
            commands.append((b"UNLINK", *found))
        if int(next_cursor):
            commands.append((b"SCAN", int(next_cursor), b"MATCH", pattern, b"COUNT", count))
            return Step(commands, on_page, write=True)
        if commands:
            return Step(commands, lambda replies: deleted + replies[0], write=True)
        return deleted

    # Written to the primary: the deletions must see what the primary holds.
    return Step(((b"SCAN", 0, b"MATCH", pattern, b"COUNT", count),), on_page, write=True)
