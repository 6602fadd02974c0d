"""Exceptions raised by django-async-redis.

Connection, timeout and reply errors are redis-py's own classes (re-exported
here), so ``except redis.exceptions.ConnectionError`` clauses written for
django-redis keep working unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ConnectionError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TimeoutError,
)

__all__ = [
    "AuthenticationError",
    "BusyLoadingError",
    "CompressorError",
    "ConnectionError",
    "ConnectionInterrupted",
    "DecodeError",
    "NoScriptError",
    "ReadOnlyError",
    "RedisError",
    "ResponseError",
    "SignatureError",
    "TimeoutError",
    "ValueTooLarge",
]


class ValueTooLarge(ValueError):
    """A value larger, as stored, than the server takes in one bulk string.

    Raised before anything is sent: the server would drop the connection
    (Redis, with the request half-written) or refuse the request as a protocol
    error. A caller's mistake, so IGNORE_EXCEPTIONS never answers it away.
    """


class CompressorError(Exception):
    """A compressor was handed bytes it did not produce."""


class DecodeError(ValueError):
    """Bytes stored under a key could not be read back as a value.

    Raised after the reply was read in full, so the connection is fine; the
    cause (the serializer's, compressor's or signer's own exception) is
    ``__cause__``. ``keys`` names the Redis keys whose values failed; it is
    filled in on the way up, by whichever layer knows them. A ValueError,
    because the bytes are of the right kind (a string) but no value of ours.
    """

    def __init__(self, reason: str, keys: Sequence[bytes] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys: list[bytes] = list(keys)
        # What the call would have answered without the undecodable keys
        # (get_many's other values), for OPTIONS["ON_DECODE_ERROR"] = "miss".
        self.partial: Any = None

    def __str__(self) -> str:
        if not self.keys:
            return f"Cannot decode a cached value: {self.reason}"
        shown = ", ".join(repr(key.decode(errors="backslashreplace")) for key in self.keys[:5])
        more = f" (and {len(self.keys) - 5} more)" if len(self.keys) > 5 else ""
        where = "value under Redis key" if len(self.keys) == 1 else "values under Redis keys"
        return f"Cannot decode the {where} {shown}{more}: {self.reason}"


class SignatureError(DecodeError):
    """A value failed its signature check (OPTIONS["SIGNING"]): tampered, or not ours."""


# django-redis raised ConnectionInterrupted; keep the name importable for
# except-clauses, as an alias of the class we actually raise.
ConnectionInterrupted = ConnectionError
