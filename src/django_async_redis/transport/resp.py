"""RESP2 on the wire: encoding commands, parsing replies with hiredis.

Both transports share this file, so what goes on the wire and how error
replies become exceptions is decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import hiredis
from redis import exceptions as redis_errors

Command = Sequence[Any]


def _as_bytes(arg: Any) -> bytes:
    # bytes first: keys and encoded values are bytes on the hot path.
    if type(arg) is bytes:
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, bool):
        # redis-py refuses bools too: True would silently become b"True".
        raise redis_errors.DataError(f"Invalid argument {arg!r}: a bool is not a Redis value")
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode()
    raise redis_errors.DataError(
        f"Invalid argument {arg!r} of type {type(arg).__name__}: "
        "Redis takes bytes, str, int or float"
    )


def _encode_in_python(command: Command) -> bytes:
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = _as_bytes(arg)  # raises DataError naming a bad argument
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


# Older hiredis lack pack_command; its stub leaves the answer unannotated.
pack_in_c: Callable[[tuple[Any, ...]], bytes] | None = getattr(hiredis, "pack_command", None)


def encode_command(command: Command) -> bytes:
    """One command as a RESP array of bulk strings."""
    if pack_in_c is not None:
        try:
            # hiredis encodes in C, twice as fast; it refuses what we refuse too.
            return pack_in_c(command if type(command) is tuple else tuple(command))
        except TypeError:
            pass  # fall through for a DataError that names the bad argument
    return _encode_in_python(command)


def encode_commands(commands: Iterable[Command]) -> bytes:
    """Several commands as one buffer, so they go out in one write."""
    return b"".join(map(encode_command, commands))


class ReplyError(redis_errors.ResponseError):
    """An error reply as the parser hands it over, before classification.

    hiredis instantiates this for every ``-ERR ...`` line; :func:`raise_error`
    turns it into the redis-py class a caller would expect.
    """


_ERROR_CLASSES: dict[str, type[redis_errors.RedisError]] = {
    "WRONGPASS": redis_errors.AuthenticationError,
    "NOAUTH": redis_errors.AuthenticationError,
    "NOPERM": redis_errors.NoPermissionError,
    "NOSCRIPT": redis_errors.NoScriptError,
    "READONLY": redis_errors.ReadOnlyError,
    "LOADING": redis_errors.BusyLoadingError,
    "EXECABORT": redis_errors.ExecAbortError,
}


# A server at maxclients answers the new connection's first command with this and
# hangs up: a connection failure (as redis-py classes it), not a reply error.
_CONNECTION_REFUSALS = ("ERR max number of clients reached",)


def classify_error(reply: ReplyError) -> redis_errors.RedisError:
    """The redis-py exception matching an error reply, by its leading code."""
    message = str(reply)
    if message.startswith(_CONNECTION_REFUSALS):
        return redis_errors.ConnectionError(message)
    code = message.split(" ", 1)[0]
    error_class = _ERROR_CLASSES.get(code, redis_errors.ResponseError)
    return error_class(message)


# How much of a read goes into the parser at a time. hiredis compacts its buffer
# (a memmove of everything not yet parsed) after each reply once 1 KiB has been
# consumed, so parsing n pipelined replies from one feed moves O(n^2) bytes: one
# 256 KiB read (asyncio's largest) of 1 KiB replies moves about 32 MB. Feeding
# slices keeps each move under one slice. Measured per 1 KiB reply: 1.89 us from
# one feed of 200 replies, 0.32 us in 16 KiB slices (60 replies: 0.80 vs 0.51).
FEED_SLICE = 16384


def new_reader() -> hiredis.Reader:
    """A reply parser: bulk strings stay bytes, error replies become ReplyError."""
    return hiredis.Reader(replyError=ReplyError)


# BlockingIOError is what a blocking socket raises when its kernel timeout
# (SO_RCVTIMEO/SO_SNDTIMEO, see transport/sync.py) runs out.
_TIMEOUTS = (TimeoutError, BlockingIOError)


class Unreachable(Exception):
    """Marks a failure to connect: nothing was sent, so the call may go elsewhere."""


class NodeUnreachable(Unreachable, redis_errors.ConnectionError):
    """The connection was refused or could not be made."""


class ConnectTimeout(Unreachable, redis_errors.TimeoutError):
    """Connecting took longer than SOCKET_CONNECT_TIMEOUT."""


def as_redis_error(
    error: Exception, doing: str, connecting: bool = False
) -> redis_errors.RedisError:
    """A socket failure as the redis-py class callers' except-clauses expect."""
    if isinstance(error, _TIMEOUTS):
        return (ConnectTimeout if connecting else redis_errors.TimeoutError)(f"Timeout {doing}")
    detail = getattr(error, "strerror", None) or error
    error_class = NodeUnreachable if connecting else redis_errors.ConnectionError
    return error_class(f"Error {doing}: {detail}")


def resp2_shape(reply: Any) -> Any:
    """A RESP3 reply in the shape RESP2 gives it, so every operation reads both alike.

    Maps become flat [key, value, ...] lists, as RESP2 sends them; everything
    else stays (doubles arrive as floats, which the operations read with
    float() as they do RESP2's bulk strings).
    """
    kind = type(reply)
    if kind is dict:
        return [part for key, value in reply.items() for part in (key, resp2_shape(value))]
    if kind is list:
        return [resp2_shape(item) for item in reply]
    return reply


def first_error(replies: list[Any]) -> ReplyError | None:
    """The first error among a round trip's replies (nested EXEC replies included)."""
    for reply in replies:
        if type(reply) is ReplyError:
            return reply
        if type(reply) is list:
            nested = first_error(reply)
            if nested is not None:
                return nested
    return None
