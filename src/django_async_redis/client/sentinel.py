"""Redis Sentinel: the primary (and replicas) of a service, found by asking sentinels.

``LOCATION = "redis://SERVICE_NAME/DB"`` (``rediss://`` for TLS to the data
nodes) and ``OPTIONS["SENTINELS"] = [(host, port), ...]``. The service's
primary is asked for once and kept per process (shared by the sync and async
paths and by every backend instance); a call then costs what it costs on
DefaultClient. When the primary fails (a connection refused or lost, a
timeout, a READONLY reply to a write from a demoted primary) the sentinels
are asked again; a round trip that cannot have been applied (the connection
was never made, or the server refused the write) is sent again, once, to
the new primary. Anything else fails that call only, and the next call goes
to whichever primary the sentinels name then: failover needs no restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import Awaitable, Hashable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from redis import exceptions as redis_errors

from ..config import CacheConfig, Node, redacted
from ..ops import Step
from ..transport.registry import close_async_pools, loop_resources
from ..transport.resp import Unreachable
from .base import BaseClient, Procedure, arun_procedure, run_procedure
from .default import DefaultClient, redis_py_kwargs, shared_raw_client

if TYPE_CHECKING:
    import redis
    import redis.asyncio

# Failures after which a round trip is known not to have been applied.
_NOT_APPLIED = (Unreachable, redis_errors.ReadOnlyError)

# How old the sentinels' answer may get before they are asked again. After a
# failover the sentinels name the new primary within about a second, but the
# old one may go on accepting writes (which the resync then throws away) for
# ten seconds or more before it is demoted and refuses them (measured on
# Redis 7 with SENTINEL FAILOVER: promoted after 1.1 s, demoted after 11.2 s).
# Asking again every second bounds that window; a failed re-check keeps the
# primary we know.
RECHECK_INTERVAL = 1.0


def service_name(url: str) -> str:
    """The service in ``redis://SERVICE/DB``, with its case kept (hostnames are lowercased)."""
    host = urlsplit(url.strip()).netloc.rpartition("@")[2]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


class SentinelState:
    """What this process knows of one service: its primary and usable replicas."""

    def __init__(
        self, service: str, sentinels: tuple[Node, ...], template: Node, replicas: bool
    ) -> None:
        self.service = service
        self.sentinels = list(sentinels)
        self.template = template
        self.read_from_replicas = replicas
        self.primary: Node | None = None
        self.replicas: list[Node] = []
        self.checked_at = 0.0
        self.lock = threading.Lock()
        self.loading: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

    def _data_node(self, host: Any, port: Any) -> Node:
        host = host.decode() if isinstance(host, bytes) else str(host)
        return dataclasses.replace(self.template, host=host, port=int(port))

    def discovery(self) -> Procedure[tuple[Node, list[Node]]]:
        """Ask each sentinel in turn; the first that names a primary is asked first next time."""
        service = self.service.encode()
        failures = []
        for sentinel in list(self.sentinels):
            ask = Step(((b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME", service),), _first, write=True)
            try:
                address = yield ask, sentinel
            except redis_errors.RedisError as error:
                failures.append(f"{sentinel.address}: {error}")
                continue
            if not address:
                failures.append(f"{sentinel.address}: does not know {self.service!r}")
                continue
            replicas: list[Node] = []
            if self.read_from_replicas:
                listing = Step(((b"SENTINEL", b"REPLICAS", service),), _first, write=True)
                try:
                    entries = yield listing, sentinel
                except redis_errors.RedisError:
                    entries = []
                replicas = [self._data_node(*found) for found in _healthy_replicas(entries)]
            self.sentinels.remove(sentinel)
            self.sentinels.insert(0, sentinel)
            return self._data_node(*address), replicas
        raise redis_errors.ConnectionError(
            f"No sentinel named a primary for {self.service!r} (" + "; ".join(failures) + ")"
        )

    def needs_check(self) -> bool:
        return self.primary is None or time.monotonic() - self.checked_at >= RECHECK_INTERVAL

    def install(self, found: tuple[Node, list[Node]]) -> Node | None:
        """Take a discovery's answer; the previous primary if it changed."""
        previous = self.primary
        self.primary, self.replicas = found
        self.checked_at = time.monotonic()
        return previous if previous is not None and previous != self.primary else None


def _first(replies: list[Any]) -> Any:
    return replies[0]


def _healthy_replicas(entries: list[Any]) -> list[tuple[Any, Any]]:
    """(ip, port) of replicas the sentinel sees up and linked to their primary."""
    found = []
    for entry in entries or []:
        fields = dict(zip(entry[::2], entry[1::2], strict=False))
        flags = set(fields.get(b"flags", b"").split(b","))
        if flags & {b"s_down", b"o_down", b"disconnected"}:
            continue
        if fields.get(b"master-link-status", b"ok") != b"ok":
            continue
        found.append((fields[b"ip"], fields[b"port"]))
    return found


_states: dict[Hashable, SentinelState] = {}
_states_lock = threading.Lock()


def sentinel_state(
    service: str, sentinels: tuple[Node, ...], template: Node, replicas: bool
) -> SentinelState:
    key = (service, sentinels, template, replicas)
    state = _states.get(key)
    if state is None:
        with _states_lock:
            state = _states.setdefault(key, SentinelState(service, sentinels, template, replicas))
    return state


class SentinelClient(DefaultClient):
    """The primary the sentinels name; replicas for reads with READ_FROM_REPLICAS."""

    def __init__(self, config: CacheConfig) -> None:
        BaseClient.__init__(self, config)
        if not config.sentinels:
            raise ImproperlyConfigured(
                "SentinelClient needs OPTIONS['SENTINELS'], a list of (host, port) pairs; "
                f"LOCATION {redacted(config.locations[0])!r} names the service, not a server"
            )
        if len(config.nodes) != 1:
            raise ImproperlyConfigured(
                "With Sentinel, LOCATION is one URL naming the service, e.g. "
                f"'redis://mymaster/0', not {[redacted(url) for url in config.locations]!r}"
            )
        template = config.nodes[0]
        if template.unix_path:
            raise ImproperlyConfigured("With Sentinel, LOCATION is redis://SERVICE/DB, not unix://")
        self._service = service_name(config.locations[0])
        self._state = sentinel_state(
            self._service, config.sentinels, template, bool(config.read_from_replicas)
        )

    def node_for(self, write: bool) -> Node:
        state = self._state
        primary = state.primary
        if primary is None:
            raise redis_errors.ConnectionError(f"The primary of {self._service!r} is not known")
        if write or not state.replicas:
            return primary
        return random.choice(state.replicas)

    @property
    def nodes(self) -> list[Node]:
        state = self._state
        known = [state.primary] if state.primary is not None else []
        return [*known, *state.replicas, *state.sentinels]

    def serving_nodes(self) -> tuple[Node, ...]:
        state = self._state
        return () if state.primary is None else (state.primary, *state.replicas)

    # finding the primary --------------------------------------------------------

    def _round_trip(self, step: Step[Any], node: Node | None) -> list[Any]:
        if node is None and self._state.needs_check():
            self._discover()
        return super()._round_trip(step, node)

    def _submit(self, step: Step[Any], node: Node | None) -> Awaitable[list[Any]]:
        if node is None and self._state.needs_check():
            return self._discover_then_submit(step)
        return super()._submit(step, node)

    async def _discover_then_submit(self, step: Step[Any]) -> list[Any]:
        await self._adiscover()
        return await super()._submit(step, None)

    def _discover(self) -> None:
        """Ask the sentinels (one thread at a time); the others go on with the known primary."""
        state = self._state
        known = state.primary is not None
        if not state.lock.acquire(blocking=not known):
            return
        try:
            if not state.needs_check():  # another thread asked meanwhile
                return
            try:
                replaced = state.install(run_procedure(self, state.discovery()))
            except redis_errors.RedisError:
                if state.primary is None:
                    raise
                state.checked_at = time.monotonic()  # keep what we know; ask again later
                return
        finally:
            state.lock.release()
        if replaced is not None:
            self.sync_pool(replaced).disconnect()

    async def _adiscover(self) -> None:
        """Ask the sentinels once per loop, however many tasks need the answer."""
        state = self._state
        loop = asyncio.get_running_loop()
        pending = state.loading.get(loop)
        if pending is not None and not pending.done():
            if state.primary is None:
                await asyncio.shield(pending)
            return
        future = state.loading[loop] = loop.create_future()
        try:
            replaced = state.install(await arun_procedure(self, state.discovery()))
        except redis_errors.RedisError as error:
            if state.primary is None:
                future.set_exception(error)
                future.exception()
                raise
            state.checked_at = time.monotonic()
            return
        finally:
            if not future.done():
                future.set_result(None)
            state.loading.pop(loop, None)
        if replaced is not None:
            self.sync_pool(replaced).disconnect()
            await close_async_pools([replaced])

    def _forget_primary(self, error: Exception, attempt: int) -> bool:
        """Forget the failed primary; True when the round trip may be sent again."""
        self._state.primary = None
        return attempt == 1 and isinstance(error, _NOT_APPLIED)

    def _recover(self, error: Exception, attempt: int) -> bool:
        if not self._forget_primary(error, attempt):
            return False
        self._discover()
        return True

    async def _arecover(self, error: Exception, attempt: int) -> bool:
        if not self._forget_primary(error, attempt):
            return False
        await self._adiscover()
        return True

    # raw redis-py clients --------------------------------------------------------

    def _sentinel_args(self) -> tuple[list[tuple[str, int]], dict[str, Any], dict[str, Any]]:
        sentinels = self.config.sentinels
        data = redis_py_kwargs(self._state.template)
        for key in ("host", "port", "unix_socket_path"):
            data.pop(key, None)
        own = redis_py_kwargs(sentinels[0])
        for key in ("host", "port", "db", "unix_socket_path"):
            own.pop(key, None)
        return [(node.host, node.port) for node in sentinels], own, data

    def raw_client(self, write: bool = True, key: bytes | None = None) -> redis.Redis:
        """A redis-py client that follows the service's primary (or a replica) by itself."""
        import redis.sentinel

        def build() -> redis.Redis:
            addresses, own, data = self._sentinel_args()
            # redis-py leaves the sync Sentinel, master_for and slave_for unannotated.
            sentinel = redis.sentinel.Sentinel(addresses, sentinel_kwargs=own, **data)
            service = self._service
            client: redis.Redis = (
                sentinel.master_for(service) if write else sentinel.slave_for(service)
            )
            return client

        return shared_raw_client(("redis.sentinel", self._state, write), build)

    def async_raw_client(self, write: bool = True, key: bytes | None = None) -> redis.asyncio.Redis:
        """A redis-py asyncio client for the running loop that follows the primary by itself."""
        import redis.asyncio.sentinel

        resources = loop_resources()
        key_ = ("redis.asyncio.sentinel", id(self._state), write)
        client: redis.asyncio.Redis | None = resources.extras.get(key_)
        if client is None:
            addresses, own, data = self._sentinel_args()
            # redis-py leaves the asyncio Sentinel's __init__ unannotated too.
            sentinel = redis.asyncio.sentinel.Sentinel(addresses, sentinel_kwargs=own, **data)
            made = (
                sentinel.master_for(self._service) if write else sentinel.slave_for(self._service)
            )

            async def close() -> None:
                # The sentinels' own connections too, or they outlive the loop.
                await made.aclose()
                for asked in sentinel.sentinels:
                    await asked.aclose()

            client = resources.add_extra(key_, made, close)
        return client
