"""A topology client with the local tier in front of its transport.

``with_client_cache(cls)`` is ``cls`` with reads answered from the process
when the tier holds every key, and every round trip that may change a key
dropping it from the tier. Only a cache whose OPTIONS ask for CLIENT_CACHE is
built with it: without, none of this code runs.

What a round trip is, for the tier, is read from its commands alone (sans
I/O, the same for the sync and the async driver):

* only GET, MGET, PTTL and EXISTS (a value read, the herd's read, has_key,
  a session load): answered locally when every key is here; else sent with a
  PTTL per key read appended, and what comes back is kept (tier.py says when
  it may not be);
* commands that change nothing (READ_ONLY): passed through;
* anything else: its keys are dropped before it is sent and again when it is
  answered; FLUSHDB, FLUSHALL and SWAPDB drop everything.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from ..client.base import mixed_into
from ..client.routing import command_keys, command_name
from ..ops import Step
from .options import ClientCacheOptions
from .tier import LocalTier

if TYPE_CHECKING:
    from ..client.base import BaseClient
    from ..config import Node


# What the tier can answer: every argument after the name is a key.
CACHED_READS = frozenset({b"GET", b"MGET", b"PTTL", b"EXISTS"})
# Commands that change no key: nothing of ours to drop.
READ_ONLY = frozenset(
    {
        b"GET", b"MGET", b"PTTL", b"TTL", b"EXISTS", b"STRLEN", b"TYPE", b"GETRANGE",
        b"SCAN", b"SSCAN", b"HSCAN", b"ZSCAN", b"KEYS", b"RANDOMKEY", b"DBSIZE",
        b"HGET", b"HMGET", b"HGETALL", b"HEXISTS", b"HLEN", b"HKEYS", b"HVALS", b"HSTRLEN",
        b"SMEMBERS", b"SISMEMBER", b"SMISMEMBER", b"SCARD", b"SRANDMEMBER", b"SDIFF",
        b"SINTER", b"SUNION", b"SINTERCARD",
        b"ZRANGE", b"ZRANGEBYSCORE", b"ZREVRANGE", b"ZREVRANGEBYSCORE", b"ZSCORE",
        b"ZMSCORE", b"ZCARD", b"ZRANK", b"ZREVRANK", b"ZCOUNT", b"ZLEXCOUNT",
        b"LRANGE", b"LLEN", b"LINDEX", b"LPOS",
        b"PING", b"ECHO", b"INFO", b"TIME", b"MEMORY", b"OBJECT", b"CLIENT", b"CLUSTER",
        b"CONFIG", b"ROLE", b"SLOWLOG", b"LATENCY", b"SCRIPT", b"READONLY", b"ASKING",
        b"SELECT", b"HELLO", b"AUTH", b"SENTINEL", b"DUMP", b"PFCOUNT",
    }
)  # fmt: skip
FLUSHES = frozenset({b"FLUSHDB", b"FLUSHALL", b"SWAPDB"})
# Writes whose only key is the first argument: the usual writes, without a look-up.
ONE_KEY_WRITES = frozenset(
    {b"SET", b"INCRBY", b"DECRBY", b"PEXPIRE", b"EXPIRE", b"PERSIST", b"GETDEL", b"PSETEX"}
)


class _Reading:
    """A read the tier could not answer, on its way: keeps what it brings back."""

    __slots__ = ("keys", "sent", "sent_at", "ticket", "tier")

    def __init__(self, tier: LocalTier, keys: list[bytes], ticket: int, sent: int) -> None:
        self.tier = tier
        self.keys = keys
        self.ticket = ticket
        self.sent = sent  # the caller's commands; the PTTLs we added follow
        self.sent_at = time.monotonic()

    def finish(self, commands: Sequence[Sequence[Any]], replies: list[Any]) -> list[Any]:
        sent = self.sent
        ttls = iter(replies[sent:])
        found: dict[bytes, tuple[bytes, int]] = {}
        for command, reply in zip(commands, replies[:sent], strict=False):
            name = command[0]
            if name == b"GET":
                values = [reply]
            elif name == b"MGET" and type(reply) is list:
                values = reply
            else:
                continue
            for key, value in zip(command[1:], values, strict=False):
                ttl = next(ttls, None)
                if type(value) is bytes and type(ttl) is int:
                    found[key] = (value, ttl)
        self.tier.end_read(self.keys, self.ticket, found, self.sent_at)
        return replies[:sent]

    def abandon(self) -> None:
        self.tier.end_read(self.keys, self.ticket, {}, self.sent_at)


class _Writing:
    """A round trip that may change keys, on its way."""

    __slots__ = ("flush", "keys", "tier")

    def __init__(self, tier: LocalTier, keys: list[bytes], flush: bool) -> None:
        self.tier = tier
        self.keys = keys
        self.flush = flush
        tier.begin_write(keys, flush)

    def finish(self, commands: Sequence[Sequence[Any]], replies: list[Any]) -> list[Any]:
        self.abandon()
        return replies

    def abandon(self) -> None:
        self.tier.end_write(self.keys, self.flush)


def _read_keys(commands: Sequence[Sequence[Any]]) -> list[bytes]:
    """The keys whose values a round trip of cached reads brings back (GET, MGET)."""
    keys: list[bytes] = []
    for command in commands:
        if command[0] == b"GET" or command[0] == b"MGET":
            keys.extend(command[1:])
    return keys


def _changed_keys(commands: Sequence[Sequence[Any]]) -> tuple[list[bytes], bool]:
    """The keys a round trip may change, and whether it flushes everything."""
    keys: list[bytes] = []
    flush = False
    if len(commands) == 1:  # the usual write: one command on one key, named as ops name it
        command = commands[0]
        if command[0] in ONE_KEY_WRITES:
            return [command[1]], False
    for command in commands:
        name = command_name(command)
        if name in FLUSHES:
            flush = True
        elif name not in READ_ONLY:
            keys.extend(command_keys(command))
    return keys, flush


class ClientCacheMixin:
    """Put in front of a topology client's ``_round_trip`` / ``_submit`` (see module doc)."""

    tier: LocalTier

    def _plan(
        self, step: Step[Any], node: Node | None, looked_up: bool = False
    ) -> list[Any] | tuple[Step[Any], _Reading | _Writing | None]:
        """Replies from the tier, or what to send and what to do with its replies.

        ``looked_up``: the tier was just asked and does not hold the answer.
        """
        commands = step.commands
        if all(command[0] in CACHED_READS for command in commands):
            if node is not None:  # pinned (a walk, the admin's node pages): not kept
                return step, None
            tier = self.tier
            answer = None if looked_up else tier.answer(commands)
            if answer is not None:
                return answer
            keys = _read_keys(commands)
            if not keys:
                return step, None
            ticket = tier.begin_read(keys, self.serving_nodes())  # type: ignore[attr-defined]
            if ticket is None:
                return step, None
            sent = Step(
                [*commands, *((b"PTTL", key) for key in keys)],
                step.then,
                step.write,
                errors_as_values=step.errors_as_values,
            )
            return sent, _Reading(tier, keys, ticket, len(commands))
        keys, flush = _changed_keys(commands)
        if not keys and not flush:
            return step, None
        return step, _Writing(self.tier, keys, flush)

    def _round_trip(self, step: Step[Any], node: Node | None) -> list[Any]:
        commands = step.commands
        looked_up = False
        if node is None and len(commands) == 1:  # the usual get: one look-up
            command = commands[0]
            if command[0] == b"GET" and len(command) == 2:
                entry = self.tier.hit(command[1])
                if entry is not None:
                    return [entry[0]]
                looked_up = True
        plan = self._plan(step, node, looked_up)
        if type(plan) is list:
            return plan
        sent, work = plan
        round_trip = super()._round_trip  # type: ignore[misc]
        if work is None:
            return round_trip(sent, node)  # type: ignore[no-any-return]
        try:
            replies = round_trip(sent, node)
        except BaseException:
            work.abandon()
            raise
        return work.finish(sent.commands, replies)

    def _submit(self, step: Step[Any], node: Node | None) -> Awaitable[list[Any]]:
        commands = step.commands
        looked_up = False
        key = None
        if node is None and len(commands) == 1:
            command = commands[0]
            if command[0] == b"GET" and len(command) == 2:
                key = command[1]
                tier = self.tier
                entry = tier.hit(key)
                if entry is not None:
                    return _answered([entry[0]])
                # Another task of this loop is reading the key already: share its
                # reply rather than send the same GET again (a hot key just
                # invalidated is read by every task at once).
                found = tier.flights.get(key)
                if found is not None:
                    flight, ticket = found
                    if (
                        not flight.done()
                        and flight.get_loop() is asyncio.get_running_loop()
                        and not tier.answered_since(key, ticket)
                    ):
                        tier.misses += 1
                        return self._join(flight, step)
                looked_up = True
        plan = self._plan(step, node, looked_up)
        if type(plan) is list:
            return _answered(plan)
        sent, work = plan
        submit = super()._submit  # type: ignore[misc]
        if work is None:
            return submit(sent, node)  # type: ignore[no-any-return]
        try:
            pending = submit(sent, node)
        except BaseException:
            work.abandon()
            raise
        if key is None or type(work) is not _Reading:
            return _finish(pending, sent.commands, work, None)
        flight = asyncio.get_running_loop().create_future()
        self.tier.flights[key] = (flight, work.ticket)
        return _finish(pending, sent.commands, work, (self.tier.flights, key, flight))

    async def _join(self, flight: asyncio.Future[list[Any] | None], step: Step[Any]) -> list[Any]:
        """The reply another task's read of the same key brings (or our own, if it fails)."""
        replies = await asyncio.shield(flight)
        if replies is None:  # that read failed or was cancelled: read again (or join anew)
            return await self._submit(step, None)
        return list(replies)

    def close_client_cache(self) -> None:
        """Forget the local entries and close the tracking connections."""
        self.tier.close()


async def _answered(replies: list[Any]) -> list[Any]:
    return replies


# A read others may join: the tier's flights, its key, the future they await.
Flight = tuple[
    dict[bytes, tuple["asyncio.Future[list[Any] | None]", int]],
    bytes,
    "asyncio.Future[list[Any] | None]",
]


async def _finish(
    pending: Awaitable[list[Any]],
    commands: Sequence[Sequence[Any]],
    work: _Reading | _Writing,
    flight: Flight | None,
) -> list[Any]:
    try:
        replies = await pending
    except BaseException:
        work.abandon()
        if flight is not None:
            _land(flight, None)
        raise
    answer = work.finish(commands, replies)
    if flight is not None:
        _land(flight, answer)
    return answer


def _land(flight: Flight, replies: list[Any] | None) -> None:
    """Hand the joiners their reply (None: send your own) and close the flight."""
    flights, key, future = flight
    found = flights.get(key)
    if found is not None and found[0] is future:
        del flights[key]
    if not future.done():
        future.set_result(replies)


_tiers: dict[Hashable, LocalTier] = {}
_aliases: dict[LocalTier, str] = {}
_lock = threading.Lock()


def with_client_cache(client_class: type[BaseClient]) -> type[BaseClient]:
    """``client_class`` with the local tier in front of its transport."""
    return mixed_into(ClientCacheMixin, client_class)


def tier_for(client: BaseClient, options: ClientCacheOptions, alias: str) -> LocalTier:
    """The process's tier for these servers and options.

    Shared by every client built for them: a backend built per request (ASGI)
    or per thread (WSGI) finds the same entries and tracking connections.
    What a tier holds mirrors the servers, so two aliases on the same servers
    with the same options may share one; any other difference keeps them apart.
    """
    config = client.config
    key = (type(client), config.nodes, config.sentinels, config.read_from_replicas, options)
    with _lock:
        tier = _tiers.get(key)
        if tier is None:
            tier = _tiers[key] = LocalTier(options)
        _aliases.setdefault(tier, alias)
    return tier


def all_tiers() -> list[tuple[str, LocalTier]]:
    """Every tier of the process, with the alias that first built it (for Prometheus)."""
    with _lock:
        return [(_aliases[tier], tier) for tier in _tiers.values()]
