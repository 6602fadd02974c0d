"""A node's invalidation channel: one RESP3 connection in broadcast tracking mode.

``CLIENT TRACKING ON BCAST PREFIX p`` makes the server push, on this one
connection, the name of every key under the prefix that anyone changes (a
write, an expiry, an eviction, a migration away), and a nil for FLUSHDB or
FLUSHALL. Broadcasting rather than tracking what each connection read
(Redis's default mode) is what keeps the rest of the transport unchanged: the
promise does not live on the data connections, so pooling them, sharing them
between threads, multiplexing them between tasks, losing or recycling them
(CLOSE_CONNECTION, CLIENT KILL, a fork) opens no hole, and a read costs no
CLIENT CACHING or TRACKING command. The one connection that matters is this
one: when it is lost the tier forgets everything (tier.py).

It is read without blocking and without a thread: before a local entry is
handed out, the tier polls every tracking socket (one poll for all nodes) and
reads whatever arrived. So an invalidation that has reached this process is
always applied before the next local hit, on the sync and the async path alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ssl
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from redis import exceptions as redis_errors

from ..config import Node
from ..transport.resp import ReplyError, encode_command
from ..transport.sync import SyncConnection

_RECV_SIZE = 65536
# What a non-blocking socket raises when nothing more has arrived.
_NOTHING_YET = (BlockingIOError, ssl.SSLWantReadError)


class ClientCacheUnsupported(ImproperlyConfigured):
    """The server cannot track keys for us: no RESP3 (HELLO) or no CLIENT TRACKING."""


class TrackingLost(Exception):
    """The tracking connection closed or failed: what it promised is gone."""


# A flush of everything (FLUSHDB, FLUSHALL, or the server's own nil message).
FLUSH_ALL = None


class Tracker:
    """The open tracking connection to one node; a server that cannot track is refused."""

    __slots__ = ("_reader", "_sock", "node")

    def __init__(self, node: Node, prefix: bytes) -> None:
        self.node = node
        # The data connections may speak RESP2; pushes need RESP3 on this one.
        try:
            connection = SyncConnection(dataclasses.replace(node, protocol=3, readonly=False))
        except redis_errors.ResponseError as error:  # HELLO refused: no RESP3
            raise _unsupported(node, error) from error
        command: tuple[Any, ...] = (b"CLIENT", b"TRACKING", b"ON", b"BCAST")
        if prefix:
            command += (b"PREFIX", prefix)
        try:
            reply = connection.round_trip(encode_command(command), 1)[0]
            if isinstance(reply, ReplyError):
                raise redis_errors.ResponseError(str(reply))
        except redis_errors.ResponseError as error:
            connection.close()
            raise _unsupported(node, error) from error
        except BaseException:
            connection.close()
            raise
        self._sock, self._reader = connection.detach()

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[list[bytes] | None]:
        """Every invalidation that has arrived: lists of keys, or FLUSH_ALL.

        Raises TrackingLost when the server hung up or the socket failed.
        """
        reader = self._reader
        try:
            while True:
                data = self._sock.recv(_RECV_SIZE)
                if not data:
                    raise TrackingLost(f"tracking connection to {self.node.address} closed")
                reader.feed(data)
        except _NOTHING_YET:
            pass
        except OSError as error:
            raise TrackingLost(f"tracking connection to {self.node.address}: {error}") from error
        found: list[list[bytes] | None] = []
        while True:
            message = reader.gets()
            if message is False:
                return found
            # A push is ['invalidate', [key, ...]] or ['invalidate', None] (hiredis
            # gives it as a PushNotification, a list subclass).
            if isinstance(message, list) and len(message) == 2 and message[0] == b"invalidate":
                keys = message[1]
                found.append(FLUSH_ALL if keys is None else list(keys))
            elif isinstance(message, ReplyError):
                raise TrackingLost(f"tracking connection to {self.node.address}: {message}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def _unsupported(node: Node, error: Exception) -> ClientCacheUnsupported:
    return ClientCacheUnsupported(
        f"OPTIONS['CLIENT_CACHE'] needs a server that speaks RESP3 and tracks keys "
        f"(CLIENT TRACKING: Redis 6 or later, Valkey): {node.address} answered {error}"
    )
