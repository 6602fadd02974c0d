"""Exceptions raised by django-async-redis.

Connection, timeout and reply errors are redis-py's own classes (re-exported
here), so ``except redis.exceptions.ConnectionError`` clauses written for
django-redis keep working unchanged.
"""

from __future__ import annotations

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
    "NoScriptError",
    "ReadOnlyError",
    "RedisError",
    "ResponseError",
    "TimeoutError",
]


class CompressorError(Exception):
    """A compressor was handed bytes it did not produce."""


# django-redis raised ConnectionInterrupted; keep the name importable for
# except-clauses, as an alias of the class we actually raise.
ConnectionInterrupted = ConnectionError
