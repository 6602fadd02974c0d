"""The local tier: values this process read, kept exact by the servers' invalidations.

An entry is the raw bytes Redis returned (decoded again on every hit, so no
caller ever holds an object another caller gets), the key's expiry on the
server and the entry's own local deadline. Exactness rests on four rules:

* An entry is stored only from a read sent while every node that may answer
  it had a live tracking connection (tracking.py), so any later change of the
  key is pushed to us.
* A read in flight is registered under its keys, with a sequence number,
  before it is sent. An invalidation of such a key, or a write of ours to it
  (begun or ended), gives the key a later number; a reply is not stored if its
  key changed after the read was sent (it may predate the change); one of our
  writes drops the key again when it ends. A change marks only the reads sent
  before it: under steady load a hot key is kept again by the next read. A
  flush (a lost tracking connection, FLUSHDB, a new topology, a fork) takes a
  number too, and no reply of a read sent before it is stored.
* Before an entry is handed out, every tracking socket is polled (one system
  call) and what arrived is applied: an invalidation that reached the process
  is never outrun by a hit.
* The key's remaining TTL, read beside the value and counted from before the
  read was sent, bounds the entry: it ends no later than the key on the server.

Thread-safe: state changes happen under one lock; a hit takes it only when
there is something to read from a tracking socket, or another thread is
reading one.
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from redis import exceptions as redis_errors

from ..config import Node
from .options import ClientCacheOptions
from .tracking import FLUSH_ALL, Tracker, TrackingLost

# (bytes as stored, expiry on the server in monotonic seconds or None for none,
# the entry's local deadline, the bytes it counts against MAX_BYTES)
Entry = tuple[bytes, float | None, float, int]

# After a tracking connection could not be opened, reads are not kept for this
# long before trying again: a down node costs one connection attempt a second,
# not one per read.
RETRY_SECONDS = 1.0
_POLLED = select.POLLIN | select.POLLERR | select.POLLHUP
# The fields of an in-flight record (see LocalTier._in_flight).
_USERS, _CHANGED, _ANSWERED = 0, 1, 2
_CONNECTING_FAILURES = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class LocalTier:
    """One process's local copy of what one cache's servers hold."""

    def __init__(self, options: ClientCacheOptions) -> None:
        self.options = options
        self._prefix = options.prefix
        self._ttl = options.ttl
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._bytes = 0
        # Every event that orders reads and changes takes the next number: a read
        # sent, a change seen (invalidation, our write begun or ended), a flush.
        self._sequence = 0
        self._flushed_at = 0
        # key -> [reads and writes in flight, the number of its last change, the
        # number taken when a read of it was last answered]; kept while anything
        # is in flight for it.
        self._in_flight: dict[bytes, list[int]] = {}
        self._lock = threading.Lock()
        # True while a thread has read, or may have read, from a tracking socket
        # and not yet applied it: a hit then waits for the lock instead of trusting
        # an empty socket.
        self._draining = False
        self._trackers: dict[Node, Tracker] = {}
        self._by_fd: dict[int, Tracker] = {}
        # Applying what arrived happens under the lock, with this poller; the
        # lock-free look on the hit path uses a poller per thread (a poll object
        # refuses two threads at once), rebuilt when the set of sockets changes.
        self._poller = select.poll()
        self._sockets_version = 0
        self._local = threading.local()
        self._nodes: tuple[Node, ...] = ()
        self._retry_at: dict[Node, float] = {}
        # Async reads in flight that other tasks of the same loop may join
        # (client.py): key -> (the future of its reply, the read's ticket).
        self.flights: dict[bytes, tuple[asyncio.Future[list[Any] | None], int]] = {}
        self.hits = self.misses = self.invalidations = self.evictions = self.flushes = 0
        _live_tiers.add(self)

    # hits ------------------------------------------------------------------------

    def hit(self, key: bytes) -> Entry | None:
        """The fresh entry for ``key``, or None; counts a hit."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._draining or self._arrived():
            with self._lock:
                self._drain()
            entry = self._entries.get(key)
            if entry is None:
                return None
        if time.monotonic() >= entry[2]:
            return None
        try:
            self._entries.move_to_end(key)
        except KeyError:
            return None  # invalidated by another thread this instant
        self.hits += 1
        return entry

    def answer(self, commands: Sequence[Sequence[Any]]) -> list[Any] | None:
        """Replies to a round trip of GET, MGET, PTTL and EXISTS, if every key is here."""
        entries = self._entries
        if not entries:
            return None
        if self._draining or self._arrived():
            with self._lock:
                self._drain()
        now = time.monotonic()
        replies: list[Any] = []
        served = 0
        for command in commands:
            name = command[0]
            keys = command[1:]
            found = [entries.get(key) for key in keys]
            if not keys or any(entry is None or now >= entry[2] for entry in found):
                return None
            if name == b"GET" and len(keys) == 1:
                replies.append(found[0][0])  # type: ignore[index]
                served += 1
            elif name == b"MGET":
                replies.append([entry[0] for entry in found])  # type: ignore[index]
                served += len(keys)
            elif name == b"EXISTS":
                replies.append(len(keys))
                served += len(keys)
            elif name == b"PTTL" and len(keys) == 1:
                replies.append(_remaining_ms(found[0], now))  # type: ignore[arg-type]
            else:
                return None
        self.hits += served
        return replies

    def _arrived(self) -> bool:
        """Whether anything waits on a tracking socket (this thread's poller, no lock)."""
        try:
            version, poller = self._local.poller
        except AttributeError:
            version = -1
        if version != self._sockets_version:
            version = self._sockets_version
            poller = select.poll()
            for fd in list(self._by_fd):
                poller.register(fd, _POLLED)
            self._local.poller = (version, poller)
        return bool(poller.poll(0))

    # reads and writes that go to the servers ------------------------------------------

    def begin_read(self, keys: list[bytes], nodes: tuple[Node, ...]) -> int | None:
        """Register a read of ``keys``; its ticket, or None when its reply cannot be kept."""
        self.misses += len(keys)
        with self._lock:
            if not self._tracking(nodes):
                return None
            self._sequence += 1
            self._register(keys, changed=False)
            return self._sequence

    def end_read(
        self, keys: list[bytes], ticket: int, found: dict[bytes, tuple[bytes, int]], sent_at: float
    ) -> None:
        """The read is over: keep what it ``found`` (data, PTTL) unless it may be stale.

        Kept only if, since the read was sent (``ticket``), nothing was flushed,
        its key did not change, and no other read of it was answered: that one
        may have seen a write whose invalidation is still on its way, and keeping
        an older reply after it would let a reader see a value go back. A reply
        that arrives while one of our writes of the key is on the way is kept: the
        write drops it when it ends, and a read concurrent with a write may answer
        either value.
        """
        with self._lock:
            self._drain()
            fresh = ticket > self._flushed_at
            in_flight = self._in_flight
            for key in keys:
                record = in_flight.get(key)
                if record is None:  # a fork started the bookkeeping afresh
                    continue
                if (
                    fresh
                    and record[_CHANGED] < ticket
                    and record[_ANSWERED] < ticket
                    and key in found
                ):
                    data, pttl = found[key]
                    self._store(key, data, pttl, sent_at)
                self._sequence += 1
                record[_ANSWERED] = self._sequence
                self._release(key, record)

    def answered_since(self, key: bytes, ticket: int) -> bool:
        """Whether a read of ``key`` was answered after the read numbered ``ticket`` was sent.

        A task may share another's read in flight only if not: else its reply
        could be older than a value a reader has already seen.
        """
        record = self._in_flight.get(key)
        return record is None or record[_ANSWERED] > ticket

    def begin_write(self, keys: list[bytes], flush: bool) -> None:
        """One of our round trips is about to change ``keys`` (or, with ``flush``, all)."""
        with self._lock:
            if flush:
                self._flush()
            self._drop(keys)
            self._sequence += 1
            self._register(keys, changed=True)

    def end_write(self, keys: list[bytes], flush: bool) -> None:
        """It is over (answered or failed): what a read meanwhile kept may predate it."""
        with self._lock:
            # The write's own invalidation has most likely arrived with its reply:
            # taken now, it marks only the reads that overlapped the write, not
            # the ones that start after it (which would then keep nothing).
            self._drain()
            if flush:
                self._flush()
            self._drop(keys)
            self._sequence += 1
            in_flight = self._in_flight
            for key in keys:
                record = in_flight.get(key)
                if record is not None:
                    record[_CHANGED] = self._sequence
                    self._release(key, record)

    # what it holds -----------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "invalidations": self.invalidations,
            "evictions": self.evictions,
            "flushes": self.flushes,
            "entries": len(self._entries),
            "bytes": self._bytes,
            "tracking_connections": len(self._trackers),
        }

    def clear(self) -> None:
        """Forget every entry (what a lost tracking connection does)."""
        with self._lock:
            self._flush()

    def close(self) -> None:
        """Forget everything and close the tracking connections."""
        with self._lock:
            self._flush()
            for tracker in list(self._trackers.values()):
                self._forget_tracker(tracker)
            self._nodes = ()

    # under the lock ----------------------------------------------------------------

    def _register(self, keys: Iterable[bytes], changed: bool) -> None:
        """One more read or write of ``keys`` in flight (``changed``: a write, numbered now)."""
        in_flight = self._in_flight
        number = self._sequence
        for key in keys:
            record = in_flight.get(key)
            if record is None:
                in_flight[key] = [1, number if changed else 0, 0]
            else:
                record[_USERS] += 1
                if changed:
                    record[_CHANGED] = number

    def _release(self, key: bytes, record: list[int]) -> None:
        record[_USERS] -= 1
        if record[_USERS] <= 0:
            del self._in_flight[key]

    def _store(self, key: bytes, data: bytes, pttl: int, sent_at: float) -> None:
        if type(key) is not bytes or not key.startswith(self._prefix) or pttl == -2:
            return  # not under the tracked prefix, or gone before PTTL ran
        size = len(key) + len(data)
        options = self.options
        if size > options.max_bytes:
            return
        # Counted from before the read was sent: the server's clock started later,
        # so the entry ends no later than the key does.
        expires = None if pttl < 0 else sent_at + pttl / 1000
        local = sent_at + self._ttl
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self._bytes -= old[3]
        entries[key] = (data, expires, local if expires is None else min(local, expires), size)
        self._bytes += size
        while len(entries) > options.max_entries or self._bytes > options.max_bytes:
            _, evicted = entries.popitem(last=False)
            self._bytes -= evicted[3]
            self.evictions += 1

    def _drop(self, keys: Iterable[bytes]) -> None:
        entries = self._entries
        for key in keys:
            old = entries.pop(key, None)
            if old is not None:
                self._bytes -= old[3]

    def _flush(self) -> None:
        self._entries.clear()
        self._bytes = 0
        self._sequence += 1
        self._flushed_at = self._sequence
        self.flushes += 1

    def _drain(self) -> None:
        """Apply every invalidation that has arrived on the tracking connections."""
        self._draining = True  # before anything is read: see __init__
        try:
            self._apply_arrived()
        finally:
            self._draining = False

    def _apply_arrived(self) -> None:
        for fd, _events in self._poller.poll(0):
            tracker = self._by_fd.get(fd)
            if tracker is None:
                continue
            try:
                messages = tracker.drain()
            except TrackingLost:
                # Whatever it would have told us from now on is lost: start afresh.
                self._forget_tracker(tracker)
                self._flush()
                continue
            in_flight = self._in_flight
            for keys in messages:
                if keys is FLUSH_ALL:
                    self._flush()
                    continue
                self.invalidations += len(keys)
                self._drop(keys)
                self._sequence += 1
                for key in keys:
                    record = in_flight.get(key)
                    if record is not None:
                        record[_CHANGED] = self._sequence

    def _tracking(self, nodes: tuple[Node, ...]) -> bool:
        """Whether every node in ``nodes`` has a live tracking connection (opened if need be)."""
        if not nodes:
            return False
        if nodes != self._nodes:
            # Another topology (a failover, a new slot map): what the old nodes
            # told us says nothing about the new ones.
            if self._nodes:
                self._flush()
            for node, tracker in list(self._trackers.items()):
                if node not in nodes:
                    self._forget_tracker(tracker)
            self._nodes = nodes
        # A tracker lost since the last drain is noticed by end_read's drain: the
        # flush then keeps this read's reply out.
        for node in nodes:
            if node in self._trackers:
                continue
            now = time.monotonic()
            if self._retry_at.get(node, 0.0) > now:
                return False
            try:
                tracker = Tracker(node, self._prefix)
            except _CONNECTING_FAILURES:
                self._retry_at[node] = now + RETRY_SECONDS
                return False
            self._trackers[node] = tracker
            self._by_fd[tracker.fileno()] = tracker
            self._poller.register(tracker.fileno(), _POLLED)
            self._sockets_version += 1
        return True

    def _forget_tracker(self, tracker: Tracker) -> None:
        fd = tracker.fileno()
        if self._by_fd.pop(fd, None) is not None:
            self._poller.unregister(fd)
            self._sockets_version += 1
        self._trackers.pop(tracker.node, None)
        tracker.close()

    def _after_fork(self) -> None:
        # The child starts empty: the parent's tracking sockets are the parent's
        # (closing our copies of their descriptors leaves them open there).
        self._lock = threading.Lock()
        for tracker in self._trackers.values():
            tracker.close()
        self._trackers = {}
        self._by_fd = {}
        self._poller = select.poll()
        self._local = threading.local()
        self._sockets_version += 1
        self._nodes = ()
        self._retry_at = {}
        self._in_flight = {}
        self.flights = {}
        self._entries = OrderedDict()
        self._bytes = 0
        self._sequence += 1
        self._flushed_at = self._sequence

    def __del__(self) -> None:
        for tracker in list(getattr(self, "_trackers", {}).values()):
            tracker.close()


def _remaining_ms(entry: Entry, now: float) -> int:
    """PTTL as the server would answer it: -1 for a key without expiry."""
    expires = entry[1]
    return -1 if expires is None else max(int((expires - now) * 1000), 1)


_live_tiers: weakref.WeakSet[LocalTier] = weakref.WeakSet()


def _reset_tiers_after_fork() -> None:
    for tier in list(_live_tiers):
        tier._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_tiers_after_fork)
